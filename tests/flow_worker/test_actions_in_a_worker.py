"""Each action from the confirmation to Stripe and back, run by a real Celery worker."""

from __future__ import annotations

import json
import re

import pytest
from standardwebhooks import Webhook

from sessions_app.models import Session
from tests.webhooks.reference import reference_verify

from .conftest import SEED_KEY, stripe_subscription, walk_to_confirm

pytestmark = pytest.mark.django_db(transaction=True)

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def _confirm_and_wait(worker, browser, path: str, session_id: str, *, timeout: float = 30):  # type: ignore[no-untyped-def]
    assert browser.post(path, {"step": "confirm"}).status_code == 302
    return worker.wait_until(
        lambda: (s := Session.objects.get(pk=session_id)).status in ("completed", "failed") and s,
        timeout=timeout,
    )


def _events_received(receiver, count: int, worker) -> list[dict]:  # type: ignore[no-untyped-def]
    worker.wait_until(lambda: len(receiver.to("/hook")) >= count, timeout=30)
    return receiver.to("/hook")


@pytest.mark.parametrize(
    "reason, action, extra, expected_event, details_keys",
    [
        (
            "not_using_enough",
            "pause",
            {"pause_months": "1"},
            "subscription.paused",
            {"pause_duration_days", "resume_date", "pause_method", "pause_behavior"},
        ),
        (
            "too_expensive",
            "discount",
            {},
            "subscription.discount_applied",
            {
                "discount_type",
                "discount_amount",
                "duration_months",
                "coupon_id",
                "discount_policy",
                "other_coupon_ids",
                "replaced_coupon_ids",
            },
        ),
        (
            "too_expensive",
            "cancel",
            {},
            "subscription.canceled",
            {"canceled_at", "cancel_at_period_end"},
        ),
    ],
)
def test_action_runs_once_in_the_worker_and_the_merchant_hears_of_it(
    celery_worker_process, shop, emulator, receiver, make_endpoint,
    reason, action, extra, expected_event, details_keys,
):  # fmt: skip
    endpoint, secret = make_endpoint(shop.tenant)
    session_id, path, browser = walk_to_confirm(shop, reason=reason, action=action, **extra)
    session = _confirm_and_wait(celery_worker_process, browser, path, session_id)
    assert session.status == "completed", session.failure
    assert set(session.outcome_details) == details_keys

    api = shop.client.get(f"/api/v1/sessions/{session_id}").json()
    assert api["status"] == "completed" and api["outcome"]["action"] == action
    assert ISO_MS.match(api["outcome"]["executed_at"])

    stripe = stripe_subscription(emulator, shop.seeded.subscription_id)
    if action == "pause":
        assert stripe["pause_collection"]["behavior"] == "void"
        assert session.outcome_details["pause_duration_days"] == 30
    elif action == "discount":
        assert len(stripe["discounts"]) == 1
        assert session.outcome_details["discount_type"] == "percent"
        assert session.outcome_details["discount_amount"] == 25
    else:
        assert stripe["cancel_at_period_end"] is True

    received = _events_received(receiver, 3, celery_worker_process)
    types = [r.headers["x-mrrx-event-type"] for r in received]
    assert {"session.created", "session.completed", expected_event} <= set(types)
    for request in received:
        body = request.body.decode()
        assert reference_verify(body, request.headers["x-mrrx-signature"], secret)
        Webhook(secret).verify(body, request.headers)
    completed = next(
        json.loads(r.body) for r in received if r.headers["x-mrrx-event-type"] == expected_event
    )
    assert completed["data"]["session_id"] == session_id
    assert completed["data"]["outcome"]["details"] == session.outcome_details


def test_downgrade_swaps_the_price(celery_worker_process, shop, emulator):
    from offers.selectors import flow_config_get
    from offers.services import offer_update

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
    session_id, path, browser = walk_to_confirm(shop, reason="too_expensive", action="downgrade")
    session = _confirm_and_wait(celery_worker_process, browser, path, session_id)
    assert session.status == "completed", session.failure
    assert session.outcome_details == {
        "previous_price_id": shop.seeded.pro_price_id,
        "new_price_id": shop.seeded.basic_price_id,
        "new_amount": 1900,
    }
    stripe = stripe_subscription(emulator, shop.seeded.subscription_id)
    item = stripe["items"]["data"][0]
    assert item["price"]["id"] == shop.seeded.basic_price_id and item["id"] == shop.seeded.item_id


def test_trial_extension(celery_worker_process, trial_shop, emulator):
    before = stripe_subscription(emulator, trial_shop.seeded.subscription_id)["trial_end"]
    session_id, path, browser = walk_to_confirm(
        trial_shop, reason="missing_features", action="extend_trial"
    )
    session = _confirm_and_wait(celery_worker_process, browser, path, session_id)
    assert session.status == "completed", session.failure
    after = stripe_subscription(emulator, trial_shop.seeded.subscription_id)
    assert after["trial_end"] == before + 14 * 86400 and after["status"] == "trialing"
    assert session.outcome_details["extension_days"] == 14
    assert ISO_MS.match(session.outcome_details["new_trial_end"])


def test_stripe_500_twice_then_success_completes_once(celery_worker_process, shop, emulator):
    session_id, path, browser = walk_to_confirm(shop, reason="too_expensive", action="cancel")
    emulator.http.delete("/_emulator/requests")
    emulator.fail_next(2, status=500, path_prefix="/v1/subscriptions")
    session = _confirm_and_wait(celery_worker_process, browser, path, session_id, timeout=60)
    assert session.status == "completed", session.failure
    writes = [
        r
        for r in emulator.requests(method="POST")
        if r["path"] == f"/v1/subscriptions/{shop.seeded.subscription_id}" and r["status"] == 200
        and not r.get("replayed")
    ]  # fmt: skip
    assert len(writes) == 1, writes
    assert stripe_subscription(emulator, shop.seeded.subscription_id)["cancel_at_period_end"]


def test_permanent_stripe_error_fails_the_session_and_says_so(
    celery_worker_process, shop, emulator, receiver, make_endpoint
):
    make_endpoint(shop.tenant, event_types=["session.failed"])
    session_id, path, browser = walk_to_confirm(shop, reason="too_expensive", action="cancel")
    # The subscription disappears from Stripe before the worker gets to it.
    emulator.client(SEED_KEY).v1.subscriptions.cancel(shop.seeded.subscription_id)
    emulator.fail_next(
        1, status=404, path_prefix=f"/v1/subscriptions/{shop.seeded.subscription_id}"
    )
    session = _confirm_and_wait(celery_worker_process, browser, path, session_id)
    assert session.status == "failed"
    assert session.failure["code"] in ("subscription_not_found", "stripe_error")
    assert session.failure["transient"] is False
    received = _events_received(receiver, 1, celery_worker_process)
    assert received[0].headers["x-mrrx-event-type"] == "session.failed"
    page = browser.get(path)
    assert b"could not complete" in page.content
    assert shop.client.get(f"/api/v1/sessions/{session_id}").json()["status"] == "failed"


def test_double_submit_runs_one_action(celery_worker_process, shop, emulator):
    session_id, path, browser = walk_to_confirm(shop, reason="too_expensive", action="discount")
    emulator.http.delete("/_emulator/requests")
    for _ in range(3):
        browser.post(path, {"step": "confirm"})
    celery_worker_process.wait_until(
        lambda: Session.objects.get(pk=session_id).status == "completed", timeout=30
    )
    writes = [
        r
        for r in emulator.requests(method="POST")
        if r["path"].startswith("/v1/subscriptions/") and not r.get("replayed")
    ]
    assert len(writes) == 1, writes
    assert len(stripe_subscription(emulator, shop.seeded.subscription_id)["discounts"]) == 1
