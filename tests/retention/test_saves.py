"""Which outcomes make a save (custom sessions and deflections too), how admin shows
saves in their workspace only, and a customer's export listing them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from retention.models import Save, SaveCheckpoint
from retention.selectors import save_retention, save_retention_grouped
from retention.services import saves_record_missing
from sessions_app.models import CustomSession, Session, SessionStatus
from tenants.models import SCOPE_PRIVACY_WRITE
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

REPORT = {
    "external_id": "flow-1",
    "customer_id": "cus_ABC123",
    "subscription_id": "sub_XYZ789",
    "started_at": "2026-11-20T14:00:00Z",
    "reason": "too_expensive",
    "outcome": {"action": "pause", "details": {"resume_date": "2027-01-20T00:00:00Z"}},
    "mrr": {"amount": 2900, "currency": "USD"},
}


def completed(tenant, action: str, *, livemode: bool = False, **fields) -> Session:  # type: ignore[no-untyped-def]
    now = timezone.now()
    return Session.objects.create(
        tenant=tenant,
        livemode=livemode,
        status=SessionStatus.COMPLETED,
        customer_id=fields.pop("customer_id", "cus_1"),
        subscription_id=fields.pop("subscription_id", "sub_1"),
        price_amount=12000,
        price_currency="usd",
        price_interval="year",
        selected_action=action,
        outcome_action=action,
        executed_at=now,
        completed_at=now,
        expires_at=now + timedelta(hours=1),
        **fields,
    )


def test_a_reported_custom_session_with_a_kept_outcome_makes_a_save(
    api, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/api/v1/custom_sessions", REPORT)
    assert response.status_code == 201, response.json()

    save = Save.objects.get(custom_session_id=response.json()["id"])
    assert (save.tenant, save.outcome_action, save.subscription_id) == (
        api.tenant,
        "pause",
        "sub_XYZ789",
    )
    started = datetime(2026, 11, 20, 14, tzinfo=UTC)
    assert (save.saved_at, save.mrr_amount, save.currency) == (started, 2900, "usd")
    assert save.paused_until == datetime(2027, 1, 20, tzinfo=UTC)
    assert list(save.checkpoints.values_list("day", "due_at")) == [
        (day, started + timedelta(days=day)) for day in (30, 60, 90)
    ]

    # A later report that the subscriber canceled after all: it was never a save.
    with django_capture_on_commit_callbacks(execute=True):
        again = api.post("/api/v1/custom_sessions", {**REPORT, "outcome": {"action": "cancel"}})
    assert again.status_code == 200
    assert not Save.objects.exists()
    assert not SaveCheckpoint.objects.exists()


def test_a_custom_session_without_a_subscription_or_saved_outcome_makes_no_save(
    api, django_capture_on_commit_callbacks
):
    without_subscription = {k: v for k, v in REPORT.items() if k != "subscription_id"}
    with django_capture_on_commit_callbacks(execute=True):
        first = api.post("/api/v1/custom_sessions", without_subscription)
        second = api.post(
            "/api/v1/custom_sessions",
            {**REPORT, "external_id": "flow-2", "outcome": {"action": "cancel"}},
        )
    assert (first.status_code, second.status_code) == (201, 201), first.json()
    assert CustomSession.objects.count() == 2
    assert not Save.objects.exists()


def test_a_contact_deflection_makes_a_save_when_it_commits(
    tenant, django_capture_on_commit_callbacks
):
    from sessions_app.deflections import session_deflect

    session = Session.objects.create(
        tenant=tenant,
        livemode=False,
        status=SessionStatus.OFFER_SHOWN,
        customer_id="cus_1",
        subscription_id="sub_1",
        price_amount=2900,
        price_currency="usd",
        price_interval="month",
        expires_at=timezone.now() + timedelta(hours=1),
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert session_deflect(session=session, action="contact", params={"message": "Call us"})

    save = Save.objects.get(session=session)
    assert (save.outcome_action, save.saved_at, save.mrr_amount) == (
        "contact",
        session.executed_at,
        2900,
    )
    assert save.checkpoints.count() == 3


def test_the_periodic_pass_writes_saves_for_deflections_and_not_for_cancellations(
    tenant, other_tenant
):
    contact = completed(tenant, "contact")
    redirect = completed(other_tenant, "redirect", livemode=True)
    completed(tenant, "cancel", subscription_id="sub_2")
    Session.objects.create(
        tenant=tenant,
        livemode=False,
        status=SessionStatus.OFFER_SHOWN,
        customer_id="cus_3",
        subscription_id="sub_3",
        expires_at=timezone.now() + timedelta(hours=1),
    )

    assert saves_record_missing() == 2
    assert saves_record_missing() == 0  # safe to run again

    contact_save = Save.objects.get(session=contact)
    assert (contact_save.tenant, contact_save.livemode) == (tenant, False)
    assert (contact_save.mrr_amount, contact_save.currency) == (1000, "usd")  # 12000 a year
    redirect_save = Save.objects.get(session=redirect)
    assert (redirect_save.tenant, redirect_save.livemode) == (other_tenant, True)
    assert SaveCheckpoint.objects.count() == 6


def test_selectors_count_retained_churned_and_pending_per_session_set(tenant, other_tenant):
    # The third a direct cancellation's session (source api), the others the flow's.
    sources = ("flow", "flow", "api")
    sessions = [
        completed(tenant, "discount", subscription_id=f"sub_{i}", source=source)
        for i, source in enumerate(sources)
    ]
    completed(other_tenant, "discount")
    saves_record_missing()
    rows = {s.session_id: s for s in Save.objects.filter(tenant=tenant)}
    plan = {
        sessions[0].pk: ("retained", "retained", "retained"),
        sessions[1].pk: ("retained", "churned", "churned"),
        sessions[2].pk: ("pending", "pending", "pending"),
    }
    for session_id, statuses in plan.items():
        for day, status in zip((30, 60, 90), statuses, strict=True):
            rows[session_id].checkpoints.filter(day=day).update(
                status=status, revenue_amount=1500 if status == "retained" else 0
            )
    SaveCheckpoint.objects.filter(save_record__tenant=other_tenant).update(status="retained")

    result = save_retention(tenant=tenant, livemode=False)
    assert result.saves == 3
    assert [(d, c.retained, c.churned, c.pending) for d, c in result.days.items()] == [
        (30, 2, 0, 1),
        (60, 1, 1, 1),
        (90, 1, 1, 1),
    ]
    assert result.mrr_retained_90 == {"usd": 1000}
    assert result.revenue_retained_90 == {"usd": 1500}
    assert result.days[60].retained_rate == 0.5

    grouped = save_retention_grouped(
        tenant=tenant,
        livemode=False,
        source="flow",
        group="session_id",
    )
    assert grouped[sessions[0].pk].days[90].retained == 1
    assert grouped[sessions[1].pk].days[90].churned == 1
    assert sessions[2].pk not in grouped


def _member(tenant, role: str = "viewer") -> Client:  # type: ignore[no-untyped-def]
    user = UserFactory()
    MembershipFactory(user=user, tenant=tenant, role=role)
    client = Client()
    client.force_login(user)
    return client


def test_saves_are_read_in_admin_in_their_workspace_only(tenant, other_tenant):
    mine = completed(tenant, "discount", subscription_id="sub_mine")
    theirs = completed(other_tenant, "discount", subscription_id="sub_theirs")
    saves_record_missing()
    my_save, their_save = Save.objects.get(session=mine), Save.objects.get(session=theirs)
    my_save.checkpoints.filter(day=30).update(status="retained", settled_by="event")
    viewer = _member(tenant)

    listing = viewer.get("/admin/retention/save/")
    assert listing.status_code == 200
    page = listing.content.decode()
    assert my_save.pk in page and "sub_mine" in page
    assert their_save.pk not in page and "sub_theirs" not in page

    detail = viewer.get(f"/admin/retention/save/{my_save.pk}/change/")
    assert detail.status_code == 200
    body = detail.content.decode()
    assert "retained" in body and "No Stripe events received" in body
    assert 'name="_save"' not in body  # read-only
    assert viewer.get(f"/admin/retention/save/{their_save.pk}/change/").status_code == 404
    assert viewer.get("/admin/retention/save/add/").status_code == 403
    assert viewer.post(f"/admin/retention/save/{my_save.pk}/delete/").status_code == 403
    assert Save.objects.filter(pk=my_save.pk).exists()


def test_a_customers_export_lists_their_saves_with_checkpoints(make_client, tenant, other_tenant):
    completed(tenant, "discount", customer_id="cus_ABC123")
    completed(other_tenant, "discount", customer_id="cus_ABC123")
    saves_record_missing()
    client = make_client(tenant, scopes=[SCOPE_PRIVACY_WRITE])

    response = client.post("/api/v1/customers/cus_ABC123/export")

    assert response.status_code == 200, response.content
    document = response.json()
    assert document["counts"]["saves"] == 1
    [save] = document["saves"]
    assert save["id"] == Save.objects.get(tenant=tenant).pk
    assert [c["day"] for c in save["checkpoints"]] == [30, 60, 90]
    assert document["invoice_payments"] == []
