"""Segment flows in admin: added, refused with the rule's problems spelled out, offers
assigned to them; and the page telling which flow a subscription would get."""

from __future__ import annotations

import json
import re

import pytest
from django.contrib.admin.utils import quote
from django.test import Client
from django.urls import reverse

from audit.models import AuditEntry
from offers.models import Flow
from offers.selectors import flow_config_get
from offers.services import flow_create
from sessions_app.models import Session
from tests.billing.conftest import SEED_KEY, emulator, seed  # noqa: F401
from tests.factories import MembershipFactory, UserFactory
from tests.sessions.conftest import connect
from tests.stripe_emulator_fixture import stripe_emulator  # noqa: F401

from .test_admin import _form

pytestmark = pytest.mark.django_db


def _member(tenant, role: str = "admin") -> Client:  # type: ignore[no-untyped-def]
    user = UserFactory()
    MembershipFactory(user=user, tenant=tenant, role=role)
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def admin_member(tenant) -> Client:  # type: ignore[no-untyped-def]
    return _member(tenant)


def _page(client, config):  # type: ignore[no-untyped-def]
    url = reverse("admin:offers_flowconfig_change", args=[quote(config.pk)])
    response = client.get(url)
    assert response.status_code == 200
    return url, _form(response.content)


def _add_flow(fields: dict[str, str], **flow: str) -> dict[str, str]:
    """Fill a new segment flow form, as "Add another segment flow" gives one."""
    index = int(fields["flows-TOTAL_FORMS"])
    fields["flows-TOTAL_FORMS"] = str(index + 1)
    for name, value in flow.items():
        fields[f"flows-{index}-{name}"] = value
    return fields


def test_a_workspace_admin_adds_a_segment_flow(admin_member, tenant):
    config = flow_config_get(tenant=tenant, livemode=False)
    url, fields = _page(admin_member, config)
    page = admin_member.get(url).content.decode()
    assert "Segment flows (tried by priority" in page and "tenure_days" in page
    _add_flow(
        fields,
        name="Annual, over a year",
        priority="0",
        rule=json.dumps({"interval": "year", "tenure_days": {"min": 366}}),
        reasons=json.dumps(["too_expensive", "other"]),
        enabled="on",
    )
    response = admin_member.post(url, fields)
    assert response.status_code == 302, response.content.decode()[:3000]
    flow = Flow.objects.get(config=config)
    assert flow.rule == {"interval": ["year"], "tenure_days": {"min": 366}}
    assert flow.reasons == ["too_expensive", "other"]
    entry = AuditEntry.objects.get(action="flow.added", object_id=flow.id)
    assert entry.tenant_id == tenant.pk


def test_a_bad_rule_is_refused_with_its_problems_and_nothing_saved(admin_member, tenant):
    config = flow_config_get(tenant=tenant, livemode=False)
    url, fields = _page(admin_member, config)
    _add_flow(
        fields,
        name="Broken",
        priority="0",
        rule=json.dumps({"interval": "fortnight", "tenure_days": {"min": 30, "max": 10}}),
        reasons=json.dumps(["other"]),
        enabled="on",
    )
    response = admin_member.post(url, fields)
    assert response.status_code == 200
    page = response.content.decode()
    assert "interval must be one of day, week, month, year, or a list of them" in page
    assert "tenure_days: min (30) is more than max (10)." in page
    assert not Flow.objects.exists()


def test_a_rule_that_is_not_json_or_not_an_object_is_refused(admin_member, tenant):
    config = flow_config_get(tenant=tenant, livemode=False)
    url, fields = _page(admin_member, config)
    _add_flow(fields, name="List", priority="0", rule="[1]", reasons='["other"]', enabled="on")
    page = admin_member.post(url, fields).content.decode()
    assert "A segment rule must be a JSON object of conditions" in page
    assert not Flow.objects.exists()


def test_an_offer_is_assigned_to_a_flow_of_its_own_configuration(
    admin_member, tenant, other_tenant
):
    config = flow_config_get(tenant=tenant, livemode=False)
    flow = flow_create(config=config, name="Annual", rule={"interval": "year"})
    theirs = flow_create(config=flow_config_get(tenant=other_tenant, livemode=False), name="X")
    url, fields = _page(admin_member, config)
    page = admin_member.get(url).content.decode()
    assert f'value="{flow.id}"' in page and theirs.id not in page
    assert "Default flow" in page

    index = int(fields["offers-TOTAL_FORMS"]) - 1
    fields.update(
        {
            f"offers-{index}-reason": "too_expensive",
            f"offers-{index}-position": "0",
            f"offers-{index}-action": "discount",
            f"offers-{index}-params": json.dumps({"percent_off": 20, "duration_months": 12}),
            f"offers-{index}-enabled": "on",
            f"offers-{index}-flow": flow.id,
        }
    )
    response = admin_member.post(url, fields)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert list(flow.offers.values_list("action", "params")) == [
        ("discount", {"percent_off": 20, "duration_months": 12})
    ]

    # Another workspace's flow, posted by hand, is not a choice.
    url, fields = _page(admin_member, config)
    fields[f"offers-{index}-flow"] = theirs.id
    response = admin_member.post(url, fields)
    assert response.status_code == 200
    assert "Select a valid choice." in response.content.decode()
    assert not theirs.offers.exists()


# --- which flow would this subscription get? ----------------------------------------------


@pytest.fixture
def shop(emulator, tenant):  # type: ignore[no-untyped-def]  # noqa: F811
    connect(tenant)
    return seed(emulator)


def test_the_admin_previews_which_flow_a_subscription_gets(admin_member, tenant, shop):
    config = flow_config_get(tenant=tenant, livemode=False)
    yearly = flow_create(config=config, name="Yearly", rule={"interval": "year"}, priority=0)
    big = flow_create(
        config=config, name="Big teams", rule={"context": {"seats": {"min": 10}}}, priority=1
    )
    pro = flow_create(
        config=config, name="Pro monthly", rule={"price_ids": [shop.pro_price_id]}, priority=2
    )
    url = reverse("dashboard_flow_match", args=[config.pk])
    change = admin_member.get(reverse("admin:offers_flowconfig_change", args=[quote(config.pk)]))
    assert f'href="{url}"' in change.content.decode()

    response = admin_member.get(url, {"subscription_id": shop.subscription_id})
    assert response.status_code == 200
    page = response.content.decode()
    assert f"{shop.subscription_id} gets: Pro monthly" in page
    assert "Yearly: no, interval is &quot;month&quot; (the rule wants [&quot;year&quot;])." in page
    assert "Big teams: no, context.seats is unknown" in page
    assert "Pro monthly: matched." in page
    assert f"/admin/flow-preview/{config.pk}/?flow={pro.id}" in page

    # With the context the session would be created with, the earlier flow wins.
    response = admin_member.get(
        url, {"subscription_id": shop.subscription_id, "context": '{"seats": 12}'}
    )
    assert f"{shop.subscription_id} gets: Big teams" in response.content.decode()
    # Nothing is written: no session, no flow changed.
    assert not Session.objects.exists()
    assert [f.updated_at for f in Flow.objects.order_by("priority")] == [
        yearly.updated_at,
        big.updated_at,
        pro.updated_at,
    ]


def test_the_flow_preview_shows_the_flows_own_reasons(admin_member, tenant):
    config = flow_config_get(tenant=tenant, livemode=False)
    flow = flow_create(config=config, name="Annual", reasons=["business_closing", "other"])
    page = admin_member.get(f"/admin/flow-preview/{config.pk}/?flow={flow.id}").content.decode()
    assert "Preview of Annual (test mode)" in page
    assert re.findall(r'name="reason" value="([a-z_]+)"', page) == ["business_closing", "other"]


def test_the_match_page_says_what_is_wrong(admin_member, tenant, shop):
    config = flow_config_get(tenant=tenant, livemode=False)
    url = reverse("dashboard_flow_match", args=[config.pk])
    page = admin_member.get(url, {"subscription_id": "cus_123"}).content.decode()
    assert "A Stripe subscription id, such as sub_1PqR2s..." in page
    page = admin_member.get(
        url, {"subscription_id": shop.subscription_id, "context": "[1]"}
    ).content.decode()
    assert "Context must be a JSON object" in page
    page = admin_member.get(url, {"subscription_id": "sub_missing"}).content.decode()
    assert 'id="flow-match-error"' in page and "gets:" not in page


def test_the_match_page_is_scoped_and_role_checked(tenant, other_tenant):
    theirs = flow_config_get(tenant=other_tenant, livemode=False)
    mine = flow_config_get(tenant=tenant, livemode=False)
    admin = _member(tenant, "admin")
    assert admin.get(reverse("dashboard_flow_match", args=[theirs.pk])).status_code == 404
    viewer = _member(tenant, "viewer")
    assert viewer.get(reverse("dashboard_flow_match", args=[mine.pk])).status_code == 403
