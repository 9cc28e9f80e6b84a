"""A contact or redirect offer taken: the merchant hears of it by a signed webhook that a
real worker delivers, and Stripe hears nothing."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest
from rest_framework.test import APIClient
from standardwebhooks import Webhook

from offers.selectors import flow_config_get
from offers.services import flow_config_update, offer_create, offer_delete
from sessions_app.models import Receipt, Session
from tests.webhooks.reference import reference_verify

from .conftest import FlowClient, stripe_subscription

pytestmark = pytest.mark.django_db(transaction=True)

REASON = "missing_features"


def _offer_deflections(shop) -> None:  # type: ignore[no-untyped-def]
    config = flow_config_get(tenant=shop.tenant, livemode=False)
    flow_config_update(config=config, trial_extension_first=False)
    for offer in config.offers.filter(reason=REASON):
        offer_delete(offer=offer)
    offer_create(
        config=config,
        reason=REASON,
        action="contact",
        params={"message": "Write to us first.", "link": "https://acme.example/support"},
    )
    offer_create(
        config=config,
        reason=REASON,
        action="redirect",
        params={"url": "https://app.example.com/roadmap"},
    )


def _take_on_the_hosted_page(shop, action: str) -> str:  # type: ignore[no-untyped-def]
    body = shop.create(return_url="https://app.example.com/account").json()
    path = urlsplit(body["url"]).path
    browser = FlowClient()
    browser.get(path)
    browser.post(path, {"step": "reason", "reason": REASON})
    assert browser.post(path, {"step": "offer", "action": action}).status_code == 302
    return body["id"]


def _take_through_the_flow_api(shop, action: str) -> str:  # type: ignore[no-untyped-def]
    body = shop.create().json()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {body['token']}")
    client.post("/api/v1/flow/survey", {"reason": REASON}, format="json")
    done = client.post("/api/v1/flow/execute", {"action": action}, format="json")
    assert done.status_code == 200, done.content
    return body["id"]


@pytest.mark.parametrize(
    ("action", "take"),
    [("contact", _take_on_the_hosted_page), ("redirect", _take_through_the_flow_api)],
)
def test_the_merchant_gets_a_signed_session_completed_and_stripe_is_untouched(
    celery_worker_process, shop, emulator, receiver, make_endpoint, action, take
):
    _offer_deflections(shop)
    _, secret = make_endpoint(shop.tenant)
    before = stripe_subscription(emulator, shop.seeded.subscription_id)
    emulator.http.delete("/_emulator/requests")

    session_id = take(shop, action)

    celery_worker_process.wait_until(lambda: len(receiver.to("/hook")) >= 2, timeout=30)
    received = receiver.to("/hook")
    assert sorted(r.headers["x-mrrx-event-type"] for r in received) == [
        "session.completed",
        "session.created",
    ]
    for delivery in received:
        body = delivery.body.decode()
        assert reference_verify(body, delivery.headers["x-mrrx-signature"], secret)
        Webhook(secret).verify(body, delivery.headers)
    completed = next(
        json.loads(r.body)
        for r in received
        if r.headers["x-mrrx-event-type"] == "session.completed"
    )
    session = Session.objects.get(pk=session_id)
    data = completed["data"]
    assert (data["session_id"], data["action"], data["status"]) == (session_id, action, "completed")
    assert data["outcome"]["action"] == action
    assert data["outcome"]["details"] == session.outcome_details
    if action == "redirect":
        assert data["outcome"]["details"]["url"] == (
            f"https://app.example.com/roadmap?session_id={session_id}"
        )
    else:
        assert data["outcome"]["details"]["link"] == "https://acme.example/support"

    assert [r for r in emulator.requests(method="POST") if r["path"].startswith("/v1/")] == []
    assert stripe_subscription(emulator, shop.seeded.subscription_id) == before
    assert not Receipt.objects.filter(session_id=session_id).exists()
