"""The flow API walked headless to each action, carried out by a real Celery worker.

What the merchant sees afterwards (Stripe, webhooks, ``GET /api/v1/sessions/<id>``) must
not tell a headless session from one walked on the hosted page.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from rest_framework.test import APIClient
from standardwebhooks import Webhook

from offers.selectors import flow_config_get
from offers.services import offer_update
from sessions_app.models import Session
from tests.webhooks.reference import reference_verify

from .conftest import seed, stripe_subscription, walk_to_confirm

pytestmark = pytest.mark.django_db(transaction=True)

RETURN_URL = "https://app.example.com/account"


def _subscriber(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def _post(client: APIClient, path: str, data: dict[str, Any]):  # type: ignore[no-untyped-def]
    return client.post(path, data, format="json")


def _walk(shop, *, reason: str, action: str, seeded=None, **choice: Any) -> tuple[str, APIClient]:  # type: ignore[no-untyped-def]
    """Create a session and take it headless through survey and execute, as a merchant's
    own cancel screen would (three calls: well inside the limit)."""
    seeded = seeded or shop.seeded
    created = shop.client.post(
        "/api/v1/sessions",
        {
            "customer_id": seeded.customer_id,
            "subscription_id": seeded.subscription_id,
            "return_url": RETURN_URL,
        },
    ).json()
    client = _subscriber(created["token"])
    assert client.get("/api/v1/flow").json()["status"] == "viewed"
    shown = _post(client, "/api/v1/flow/survey", {"reason": reason})
    assert shown.status_code == 200, shown.content
    offer = next((o for o in shown.json()["offers"] if o["action"] == action), None)
    body = {"action": action, **({"offer_id": offer["id"]} if offer else {}), **choice}
    executing = _post(client, "/api/v1/flow/execute", body)
    assert executing.status_code == 202, executing.content
    assert executing.json()["status"] == "executing"
    return created["id"], client


def _finished(worker, session_id: str) -> Session:  # type: ignore[no-untyped-def]
    return worker.wait_until(
        lambda: (s := Session.objects.get(pk=session_id)).status in ("completed", "failed") and s,
        timeout=30,
    )


def _subscription_writes(emulator) -> list[dict]:  # type: ignore[no-untyped-def]
    return [
        r
        for r in emulator.requests(method="POST")
        if r["path"].startswith("/v1/subscriptions/") and not r.get("replayed")
    ]


def _downgrade_to_basic(shop) -> None:  # type: ignore[no-untyped-def]
    config = flow_config_get(tenant=shop.tenant, livemode=False)
    target = {
        "price_id": shop.seeded.basic_price_id,
        "amount": 1900,
        "currency": "usd",
        "interval": "month",
        "product_name": "Basic",
        "from_amount": 2900,
    }
    for offer in config.offers.filter(action="downgrade"):
        offer_update(offer=offer, params={"targets": {shop.seeded.pro_price_id: target}})


@pytest.mark.parametrize(
    "shop_fixture, reason, action, choice, expected_event, result_text",
    [
        (
            "shop",
            "not_using_enough",
            "pause",
            {"pause_duration_days": 60},
            "subscription.paused",
            "Your subscription is paused until ",
        ),
        (
            "shop",
            "too_expensive",
            "discount",
            {},
            "subscription.discount_applied",
            "Your discount is applied to your next invoices.",
        ),
        (
            "shop",
            "too_expensive",
            "downgrade",
            {},
            "subscription.downgraded",
            "You are now on the new plan at $19.00.",
        ),
        (
            "trial_shop",
            "missing_features",
            "extend_trial",
            {},
            "subscription.trial_extended",
            "Your trial now ends on ",
        ),
        (
            "shop",
            "too_expensive",
            "cancel",
            {"feedback": "Too pricey for us"},
            "subscription.canceled",
            "Your subscription is canceled. You keep access until ",
        ),
    ],
)
def test_a_headless_walk_acts_once_on_stripe_and_the_merchant_hears_of_it(
    request, celery_worker_process, emulator, receiver, make_endpoint,
    shop_fixture, reason, action, choice, expected_event, result_text,
):  # fmt: skip
    shop = request.getfixturevalue(shop_fixture)
    if action == "downgrade":
        _downgrade_to_basic(shop)
    _, secret = make_endpoint(shop.tenant)
    subscription_id = shop.seeded.subscription_id
    before = stripe_subscription(emulator, subscription_id)
    emulator.http.delete("/_emulator/requests")

    session_id, client = _walk(shop, reason=reason, action=action, **choice)
    # A retried execute is refused while the first one runs: one action, whatever is sent.
    retried = _post(client, "/api/v1/flow/execute", {"action": action, **choice})
    assert retried.status_code == 409
    assert retried.json()["error"]["code"] == "session_already_completed"
    session = _finished(celery_worker_process, session_id)

    assert session.status == "completed", session.failure
    assert len(_subscription_writes(emulator)) == 1
    after = stripe_subscription(emulator, subscription_id)
    details = session.outcome_details
    if action == "pause":
        assert after["pause_collection"]["behavior"] == "void"
        assert details["pause_duration_days"] == 60
    elif action == "discount":
        assert len(after["discounts"]) == 1 and not before["discounts"]
        assert details["discount_type"] == "percent" and details["discount_amount"] == 25
    elif action == "downgrade":
        item = after["items"]["data"][0]
        assert item["price"]["id"] == shop.seeded.basic_price_id
        assert item["id"] == shop.seeded.item_id
        assert details["new_amount"] == 1900
    elif action == "extend_trial":
        assert after["trial_end"] == before["trial_end"] + 14 * 86400
        assert after["status"] == "trialing" and details["extension_days"] == 14
    else:
        assert after["cancel_at_period_end"] is True
        assert after["cancellation_details"]["feedback"] == "too_expensive"
        assert after["cancellation_details"]["comment"] == "Too pricey for us"

    shown = client.get("/api/v1/flow").json()
    assert shown["status"] == "completed"
    assert shown["outcome"]["action"] == action
    assert shown["outcome"]["details"] == details
    assert shown["outcome"]["text"].startswith(result_text)
    assert shown["return_url"].startswith(f"{RETURN_URL}?session_id={session_id}&outcome={action}")

    celery_worker_process.wait_until(lambda: len(receiver.to("/hook")) >= 3, timeout=30)
    received = receiver.to("/hook")
    types = [r.headers["x-mrrx-event-type"] for r in received]
    assert {"session.created", "session.completed", expected_event} <= set(types)
    for delivery in received:
        body = delivery.body.decode()
        assert reference_verify(body, delivery.headers["x-mrrx-signature"], secret)
        Webhook(secret).verify(body, delivery.headers)
    event = next(
        json.loads(r.body) for r in received if r.headers["x-mrrx-event-type"] == expected_event
    )
    assert event["data"]["session_id"] == session_id
    assert event["data"]["outcome"]["details"] == details
    assert event["data"]["survey_response"]["reason"] == reason


def _shape(value: Any) -> Any:
    """The keys and value types of a JSON document, without its values."""
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shape(item) for item in value]
    return type(value).__name__


STEP_TIMES = (
    "viewed_at",
    "offer_shown_at",
    "action_selected_at",
    "survey_completed_at",
    "executing_at",
    "completed_at",
)


def test_a_headless_session_looks_like_a_hosted_one(
    celery_worker_process, shop, emulator, receiver, make_endpoint
):
    make_endpoint(shop.tenant)
    hosted_id, path, browser = walk_to_confirm(
        shop, reason="too_expensive", action="discount", feedback="Too pricey"
    )
    assert browser.post(path, {"step": "confirm"}).status_code == 302
    second = seed(emulator, email="headless@example.com")
    headless_id, _ = _walk(
        shop, seeded=second, reason="too_expensive", action="discount", feedback="Too pricey"
    )
    hosted_row = _finished(celery_worker_process, hosted_id)
    headless_row = _finished(celery_worker_process, headless_id)

    hosted = shop.client.get(f"/api/v1/sessions/{hosted_id}").json()
    headless = shop.client.get(f"/api/v1/sessions/{headless_id}").json()
    assert _shape(headless) == _shape(hosted)
    for field in ("status", "survey_response", "metadata", "return_url", "livemode"):
        assert headless[field] == hosted[field], field
    assert headless["outcome"]["action"] == hosted["outcome"]["action"] == "discount"
    assert headless["outcome"]["details"] == hosted["outcome"]["details"]

    # What analytics reads: the same source, reason, outcome and steps, each with its time.
    for row in (hosted_row, headless_row):
        assert row.source == "flow" and row.survey_reason == "too_expensive"
        assert all(getattr(row, name) is not None for name in STEP_TIMES), row.id
        assert row.offers_considered == hosted_row.offers_considered

    celery_worker_process.wait_until(lambda: len(receiver.to("/hook")) >= 6, timeout=30)
    events: dict[str, list[dict]] = {hosted_id: [], headless_id: []}
    for delivery in receiver.to("/hook"):
        event = json.loads(delivery.body)
        events[event["data"]["session_id"]].append(event)
    assert Counter(e["type"] for e in events[headless_id]) == Counter(
        e["type"] for e in events[hosted_id]
    )
    by_type = {e["type"]: e for e in events[hosted_id]}
    for event in events[headless_id]:
        assert _shape(event) == _shape(by_type[event["type"]])
