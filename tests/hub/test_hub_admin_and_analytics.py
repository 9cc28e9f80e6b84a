"""The hub in admin (visits readable in their workspace, allowed plan changes checked
against Stripe) and in analytics (visits, cancellations started, resumes, reactivations)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from dashboard.analytics import Period, hub_counts
from hub.models import HubAction, HubSession, PlanChange
from sessions_app.models import Session
from tests.factories import MembershipFactory, UserFactory

from .conftest import SEED_KEY

pytestmark = pytest.mark.django_db


def _member(tenant, role: str) -> Client:  # type: ignore[no-untyped-def]
    user = UserFactory()
    MembershipFactory(user=user, tenant=tenant, role=role)
    client = Client()
    client.force_login(user)
    return client


def _hub(tenant, *, livemode: bool = False, viewed_at=None, customer: str = "cus_1"):  # type: ignore[no-untyped-def]
    return HubSession.objects.create(
        tenant=tenant,
        livemode=livemode,
        customer_id=customer,
        expires_at=timezone.now() + timedelta(hours=1),
        viewed_at=viewed_at,
    )


def _done(hub, kind: str, completed_at, sub: str = "sub_1", status: str = "completed"):  # type: ignore[no-untyped-def]
    return HubAction.objects.create(
        hub_session=hub,
        tenant=hub.tenant,
        livemode=hub.livemode,
        kind=kind,
        subscription_id=sub,
        price_id="price_2" if kind == "change_plan" else "",
        status=status,
        completed_at=completed_at,
    )


# --- admin ----------------------------------------------------------------------------------


def test_hub_sessions_are_listed_and_read_in_their_workspace_only(tenant, other_tenant):
    mine = _hub(tenant, customer="cus_mine")
    _done(mine, "resume", timezone.now())
    opened = Session.objects.create(
        tenant=tenant,
        livemode=False,
        customer_id="cus_mine",
        subscription_id="sub_2",
        hub_session_id=mine.id,
        expires_at=timezone.now() + timedelta(hours=24),
    )
    theirs = _hub(other_tenant, customer="cus_theirs")
    viewer = _member(tenant, "viewer")
    listing = viewer.get("/admin/hub/hubsession/").content.decode()
    assert "cus_mine" in listing and "cus_theirs" not in listing
    page = viewer.get(f"/admin/hub/hubsession/{mine.pk}/change/")
    assert page.status_code == 200
    assert "Resume" in page.content.decode() and 'name="_save"' not in page.content.decode()
    # The cancellation sessions it opened, linked to their own pages.
    link = f'href="/admin/sessions_app/session/{opened.pk}/change/"'
    assert link in page.content.decode()
    assert viewer.get(f"/admin/sessions_app/session/{opened.pk}/change/").status_code == 200
    assert viewer.get(f"/admin/hub/hubsession/{theirs.pk}/change/").status_code == 404


def test_owners_and_admins_set_the_allowed_plan_changes_checked_against_stripe(hub_shop, emulator):
    seeded = hub_shop.customer.seeded
    admin = _member(hub_shop.tenant, "admin")
    form = {
        "tenant": hub_shop.tenant.pk,
        "livemode": "",
        "from_price_id": seeded.pro_price_id,
        "to_price_id": seeded.basic_price_id,
        "proration_behavior": "always_invoice",
        "position": "0",
    }
    response = admin.post("/admin/hub/planchange/add/", form)
    assert response.status_code == 302, response.content.decode()[-3000:]
    change = PlanChange.objects.get()
    assert (change.from_price_id, change.to_price_id, change.proration_behavior) == (
        seeded.pro_price_id,
        seeded.basic_price_id,
        "always_invoice",
    )
    viewer = _member(hub_shop.tenant, "viewer")
    assert viewer.get("/admin/hub/planchange/").status_code == 403
    assert viewer.post("/admin/hub/planchange/add/", form).status_code == 403


@pytest.mark.parametrize(
    "to_price, error",
    [
        ("price_doesnotexist", "No price price_doesnotexist"),
        ("euro", "same currency"),
        ("same", "other than the one moved from"),
    ],
)
def test_a_plan_change_stripe_cannot_make_is_refused(hub_shop, emulator, to_price, error):
    seeded = hub_shop.customer.seeded
    if to_price == "euro":
        to_price = (
            emulator.client(SEED_KEY)
            .v1.prices.create(
                {
                    "product": seeded.product_id,
                    "unit_amount": 2500,
                    "currency": "eur",
                    "recurring": {"interval": "month"},
                }
            )
            .id
        )
    elif to_price == "same":
        to_price = seeded.pro_price_id
    owner = _member(hub_shop.tenant, "owner")
    response = owner.post(
        "/admin/hub/planchange/add/",
        {
            "tenant": hub_shop.tenant.pk,
            "from_price_id": seeded.pro_price_id,
            "to_price_id": to_price,
            "proration_behavior": "create_prorations",
            "position": "0",
        },
    )
    assert response.status_code == 200
    assert error in response.content.decode()
    assert PlanChange.objects.count() == 0


# --- analytics ------------------------------------------------------------------------------


def at(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 1, day, hour, tzinfo=UTC)


PERIOD = Period(start=date(2026, 1, 10), end=date(2026, 1, 12))


def test_hub_counts_in_the_range_mode_and_workspace(tenant, other_tenant):
    visited = _hub(tenant, viewed_at=at(10))
    _hub(tenant, viewed_at=at(12, 23))
    _hub(tenant, viewed_at=None)  # never opened
    _hub(tenant, viewed_at=at(13))  # after the range
    _hub(tenant, livemode=True, viewed_at=at(11))  # the other mode
    _hub(other_tenant, viewed_at=at(11))  # another workspace
    _done(visited, "resume", at(10))
    _done(visited, "resume", at(11), sub="sub_2")
    _done(visited, "resume", at(11), sub="sub_3", status="failed")
    _done(visited, "reactivate", at(12))
    _done(visited, "change_plan", at(11))
    _done(visited, "reactivate", at(9), sub="sub_4")  # before the range
    for hub_session_id, created in ((visited.id, at(11)), ("", at(11)), (visited.id, at(14))):
        Session.objects.create(
            tenant=tenant,
            livemode=False,
            customer_id="cus_1",
            subscription_id=f"sub_{created.day}_{hub_session_id or 'merchant'}",
            hub_session_id=hub_session_id,
            created_at=created,
            expires_at=created + timedelta(hours=24),
        )
    assert hub_counts(tenant=tenant, livemode=False, period=PERIOD) == {
        "visits": 2,
        "cancellations_started": 1,
        "resumes": 2,
        "reactivations": 1,
        "plan_changes": 1,
    }


def test_the_analytics_page_and_csv_show_the_hub(tenant):
    visited = _hub(tenant, viewed_at=at(11))
    _done(visited, "resume", at(11))
    viewer = _member(tenant, "viewer")
    query = {"start": "2026-01-10", "end": "2026-01-12", "mode": "test"}
    page = viewer.get("/admin/analytics/", query).content.decode()
    assert "Subscription hub" in page and "Hub visits" in page
    exported = viewer.get("/admin/analytics/", {**query, "format": "csv"}).content.decode()
    rows = list(csv.reader(io.StringIO(exported)))
    assert ["Subscription hub", "Hub visits", "1"] in rows
    assert ["Subscription hub", "Resumes", "1"] in rows
    assert ["Subscription hub", "Reactivations", "0"] in rows
