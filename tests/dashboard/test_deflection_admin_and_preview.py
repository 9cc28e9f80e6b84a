"""Contact and redirect offers set up in admin, and walked in the flow preview."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from audit.models import AuditEntry
from offers.selectors import flow_config_get
from offers.services import offer_create, offer_delete
from sessions_app.models import Session
from tests.offers.test_admin import _add_offer, change_page, operator  # noqa: F401

pytestmark = pytest.mark.django_db

MESSAGE = "Tell us what is missing: we often add it within a week."


def test_an_operator_adds_a_redirect_only_to_a_page_on_the_allowlist(operator, change_page):  # noqa: F811
    config, url, fields = change_page
    before = config.offers.count()
    _add_offer(
        fields,
        reason="too_expensive",
        position="7",
        action="redirect",
        params=json.dumps({"url": "https://evil.example/deal"}),
        enabled="on",
    )
    refused = operator.post(url, fields)
    assert refused.status_code == 200
    assert "is not on this workspace&#x27;s return URL allowlist" in refused.content.decode()
    assert config.offers.count() == before

    fields[f"offers-{int(fields['offers-TOTAL_FORMS']) - 1}-params"] = json.dumps(
        {"url": "https://app.example.com/plans/starter", "label": "See Starter"}
    )
    saved = operator.post(url, fields)
    assert saved.status_code == 302, saved.content.decode()[:3000]
    added = config.offers.get(action="redirect")
    assert added.params == {"url": "https://app.example.com/plans/starter", "label": "See Starter"}
    assert AuditEntry.objects.filter(action="offer.added", object_id=added.pk).exists()


def _preview(tenant, merchant_client) -> tuple[Client, str]:  # type: ignore[no-untyped-def]
    config = flow_config_get(tenant=tenant, livemode=False)
    for offer in config.offers.filter(reason="missing_features"):
        offer_delete(offer=offer)
    offer_create(
        config=config,
        reason="missing_features",
        action="contact",
        params={"message": MESSAGE, "link": "https://acme.example/support"},
    )
    offer_create(
        config=config,
        reason="missing_features",
        action="redirect",
        params={"url": "https://app.example.com/roadmap", "label": "See the roadmap"},
    )
    browser = Client(enforce_csrf_checks=True)
    browser.cookies = merchant_client(tenant, "admin").cookies
    return browser, f"/admin/flow-preview/{config.pk}/"


@pytest.mark.parametrize(
    ("action", "shown"),
    [
        ("contact", ['id="contact-link" href="https://acme.example/support"', MESSAGE]),
        ("redirect", ['id="redirect-link" href="https://app.example.com/roadmap?session_id=']),
    ],
)
def test_the_preview_takes_a_deflection_straight_to_its_result(
    merchant_client, tenant, action, shown
):
    browser, url = _preview(tenant, merchant_client)
    step = browser.post(url, {"step": "reason", "reason": "missing_features"})
    offers = browser.get(step["Location"]).content.decode()
    assert 'value="contact"' in offers and 'value="redirect"' in offers
    assert "Talk to us first" in offers and "See the roadmap" in offers

    step = browser.post(step["Location"], {"step": "offer", "action": action})
    assert "step=result" in step["Location"]
    result = browser.get(step["Location"]).content.decode()
    for text in shown:
        assert text in result
    assert 'http-equiv="refresh"' not in result
    assert Session.objects.count() == 0


def test_the_preview_of_another_workspace_is_not_found(merchant_client, tenant, other_tenant):
    browser, _ = _preview(tenant, merchant_client)
    theirs = flow_config_get(tenant=other_tenant, livemode=False)
    assert (
        browser.get(f"/admin/flow-preview/{theirs.pk}/?step=result&action=contact").status_code
        == 404
    )
