"""Resume, reactivate and change plan from the hub page to Stripe and back, run by a real
Celery worker: Stripe changes once however often the customer clicks, and the merchant
hears of it in a signed webhook."""

from __future__ import annotations

import json
import re
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from standardwebhooks import Webhook

from audit.models import AuditEntry
from hub.execution import hub_actions_requeue_stuck
from hub.models import HubAction
from tests.webhooks.reference import reference_verify

from .conftest import HubClient, page_path, pause, schedule_cancel, stripe_subscription

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _loopback(settings, celery_broker):  # noqa: F811
    settings.WEBHOOK_ALLOW_LOOPBACK = True


def _wait_done(worker, **filters) -> HubAction:  # type: ignore[no-untyped-def]
    return worker.wait_until(
        lambda: (
            (a := HubAction.objects.filter(**filters).first())
            and a.status in ("completed", "failed")
            and a
        ),
        timeout=30,
    )


def _stripe_writes(emulator, key: str) -> list[dict]:  # type: ignore[no-untyped-def]
    """The writes Stripe carried out for an idempotency key (replays excluded)."""
    return [
        r
        for r in emulator.requests(method="POST", idempotency_key=key)
        if r["status"] == 200 and not r["replayed"]
    ]


def _webhook(receiver, worker, event_type: str, secret: str) -> dict:  # type: ignore[no-untyped-def]
    worker.wait_until(
        lambda: any(r.headers["x-mrrx-event-type"] == event_type for r in receiver.to("/hook")),
        timeout=30,
    )
    [request] = [r for r in receiver.to("/hook") if r.headers["x-mrrx-event-type"] == event_type]
    body = request.body.decode()
    assert reference_verify(body, request.headers["x-mrrx-signature"], secret)
    Webhook(secret).verify(body, request.headers)
    return json.loads(body)


def test_resume_clears_the_pause_once_and_tells_the_merchant(
    celery_worker_process, hub_shop, emulator, receiver, make_endpoint
):
    _, secret = make_endpoint(hub_shop.tenant)
    sub = hub_shop.customer.addon_subscription_id
    pause(emulator, sub)
    created = hub_shop.open(metadata={"user_id": "u1"})
    path = page_path(created["url"])
    browser = HubClient()
    browser.get(path)
    # A double submit: the second finds the action taken.
    for _ in range(2):
        assert browser.post(path, {"action": "resume", "subscription": sub}).status_code == 302
    action = _wait_done(celery_worker_process, kind="resume")
    assert action.status == "completed", action.failure
    assert stripe_subscription(emulator, sub)["pause_collection"] is None
    key = f"{created['id']}:resume:{sub}"
    assert len(_stripe_writes(emulator, f"{key}:update")) == 1
    assert HubAction.objects.count() == 1
    # The audit log: the customer's request (once, for the double submit), then the change.
    entries = list(AuditEntry.objects.filter(object_id=action.pk).order_by("created_at", "id"))
    assert [(e.action, e.actor_kind, e.actor_id) for e in entries] == [
        ("hub_action.requested", "subscriber", hub_shop.customer.customer_id),
        ("hub_action.completed", "system", ""),
    ]
    assert entries[0].changes == {"kind": "resume", "subscription_id": sub, "price_id": "",
                                  "hub_session_id": created["id"]}  # fmt: skip
    assert entries[0].tenant_id == hub_shop.tenant.pk and entries[0].livemode is False
    assert entries[1].changes["outcome"] == action.outcome

    payload = _webhook(receiver, celery_worker_process, "subscription.resumed", secret)
    data = payload["data"]
    assert data["session_id"] == created["id"] and data["subscription_id"] == sub
    assert (data["action"], data["source"], data["status"]) == ("resume", "hub", "completed")
    assert data["customer_id"] == hub_shop.customer.customer_id
    assert data["metadata"] == {"user_id": "u1"}
    assert data["outcome"]["details"] == action.outcome

    page = browser.get(path).content.decode()
    assert "Your subscription is active again." in page
    assert 'http-equiv="refresh"' not in page
    api = hub_shop.client.get(f"/api/v1/hub_sessions/{created['id']}").json()
    [listed] = api["actions"]
    assert (listed["type"], listed["status"]) == ("resume", "completed")
    assert listed["completed_at"] and listed["outcome"] == action.outcome


def test_reactivate_keeps_the_subscription_and_tells_the_merchant(
    celery_worker_process, hub_shop, emulator, receiver, make_endpoint
):
    _, secret = make_endpoint(hub_shop.tenant)
    sub = hub_shop.customer.pro_subscription_id
    schedule_cancel(emulator, sub)
    created = hub_shop.open()
    path = page_path(created["url"])
    browser = HubClient()
    assert browser.post(path, {"action": "reactivate", "subscription": sub}).status_code == 302
    action = _wait_done(celery_worker_process, kind="reactivate")
    assert action.status == "completed", action.failure
    stripe = stripe_subscription(emulator, sub)
    assert stripe["cancel_at_period_end"] is False and stripe["cancel_at"] is None
    assert len(_stripe_writes(emulator, f"{created['id']}:reactivate:{sub}:update")) == 1
    payload = _webhook(receiver, celery_worker_process, "subscription.reactivated", secret)
    assert payload["data"]["action"] == "reactivate"
    assert payload["data"]["outcome"]["details"]["cancel_at_period_end"] is False
    assert "Your subscription will continue." in browser.get(path).content.decode()


def test_a_plan_change_is_made_once_as_previewed(
    celery_worker_process, hub_shop, emulator, receiver, make_endpoint
):
    _, secret = make_endpoint(hub_shop.tenant)
    seeded = hub_shop.customer.seeded
    hub_shop.allow_plan_change(seeded.pro_price_id, seeded.basic_price_id)
    created = hub_shop.open()
    path = page_path(created["url"])
    browser = HubClient()
    preview = browser.get(f"{path}/plan/{seeded.subscription_id}?price={seeded.basic_price_id}")
    proration_date = re.search(r'name="proration_date" value="(\d+)"', preview.content.decode())
    assert proration_date
    form = {
        "action": "change_plan",
        "subscription": seeded.subscription_id,
        "price": seeded.basic_price_id,
        "proration_date": proration_date.group(1),
    }
    for _ in range(2):
        assert browser.post(path, form).status_code == 302
    action = _wait_done(celery_worker_process, kind="change_plan")
    assert action.status == "completed", action.failure
    stripe = stripe_subscription(emulator, seeded.subscription_id)
    item = stripe["items"]["data"][0]
    assert item["price"]["id"] == seeded.basic_price_id and item["id"] == seeded.item_id
    key = f"{created['id']}:change_plan:{seeded.subscription_id}:{seeded.basic_price_id}"
    [write] = _stripe_writes(emulator, f"{key}:update")
    assert write["params"]["proration_date"] == proration_date.group(1)
    assert write["params"]["proration_behavior"] == "create_prorations"
    payload = _webhook(receiver, celery_worker_process, "subscription.plan_changed", secret)
    assert payload["data"]["action"] == "change_plan"
    details = payload["data"]["outcome"]["details"]
    assert (details["previous_price_id"], details["new_price_id"], details["new_amount"]) == (
        seeded.pro_price_id,
        seeded.basic_price_id,
        1900,
    )
    assert "You are now on the new plan at $19.00 / month." in browser.get(path).content.decode()


def test_two_tabs_at_once_resume_once(celery_worker_process, hub_shop, emulator):
    sub = hub_shop.customer.addon_subscription_id
    pause(emulator, sub)
    created = hub_shop.open()
    path = page_path(created["url"])
    statuses: list[int] = []
    start = threading.Barrier(4)

    def tab() -> None:
        try:
            browser = HubClient()
            start.wait()
            statuses.append(
                browser.post(path, {"action": "resume", "subscription": sub}).status_code
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=tab) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Each tab was answered (taken, or told another change of it is under way / done).
    assert len(statuses) == 4 and set(statuses) <= {302, 400}
    action = _wait_done(celery_worker_process, kind="resume")
    assert action.status == "completed" and HubAction.objects.count() == 1
    assert len(_stripe_writes(emulator, f"{created['id']}:resume:{sub}:update")) == 1


def test_a_stuck_action_is_picked_up_again_and_still_done_once(
    celery_worker_process, hub_shop, emulator
):
    sub = hub_shop.customer.addon_subscription_id
    pause(emulator, sub)
    created = hub_shop.open()
    path = page_path(created["url"])
    assert HubClient().post(path, {"action": "resume", "subscription": sub}).status_code == 302
    action = _wait_done(celery_worker_process, kind="resume")
    # As if the worker had died after Stripe's write, before recording it: the sweep hands
    # it back, and the second run finds the write done (same key) rather than doing it again.
    HubAction.objects.filter(pk=action.pk).update(
        status="executing", executing_at=timezone.now() - timedelta(minutes=10)
    )
    assert hub_actions_requeue_stuck() == 1
    again = celery_worker_process.wait_until(
        lambda: (a := HubAction.objects.get(pk=action.pk)).status == "completed" and a,
        timeout=30,
    )
    assert again.attempts == 2
    assert len(_stripe_writes(emulator, f"{created['id']}:resume:{sub}:update")) == 1


def test_stripe_trouble_is_retried_and_the_change_still_made_once(
    celery_worker_process, hub_shop, emulator
):
    sub = hub_shop.customer.addon_subscription_id
    pause(emulator, sub)
    created = hub_shop.open()
    emulator.fail_next(2, status=500, path_prefix=f"/v1/subscriptions/{sub}", method="POST")
    assert (
        HubClient()
        .post(page_path(created["url"]), {"action": "resume", "subscription": sub})
        .status_code
        == 302
    )
    action = _wait_done(celery_worker_process, kind="resume")
    assert action.status == "completed", action.failure
    assert stripe_subscription(emulator, sub)["pause_collection"] is None
    assert len(_stripe_writes(emulator, f"{created['id']}:resume:{sub}:update")) == 1


def test_a_refusal_from_stripe_fails_the_action_and_the_page_says_so(
    celery_worker_process, hub_shop, emulator, receiver, make_endpoint
):
    make_endpoint(hub_shop.tenant)
    sub = hub_shop.customer.pro_subscription_id
    schedule_cancel(emulator, sub)
    created = hub_shop.open()
    path = page_path(created["url"])
    browser = HubClient()
    emulator.fail_next(1, status=400, path_prefix=f"/v1/subscriptions/{sub}", method="POST")
    assert browser.post(path, {"action": "reactivate", "subscription": sub}).status_code == 302
    action = _wait_done(celery_worker_process, kind="reactivate")
    assert action.status == "failed" and action.failure["transient"] is False
    assert [
        (e.action, e.changes.get("failure", {}).get("code"))
        for e in AuditEntry.objects.filter(object_id=action.pk).order_by("created_at", "id")
    ] == [("hub_action.requested", None), ("hub_action.failed", "stripe_error")]
    assert stripe_subscription(emulator, sub)["cancel_at_period_end"] is True
    page = browser.get(path).content.decode()
    assert "We could not do that. Nothing was changed on your subscription." in page
    # Its key has been used: another try is for another visit.
    assert 'value="reactivate"' not in page
    api = hub_shop.client.get(f"/api/v1/hub_sessions/{created['id']}").json()
    [listed] = api["actions"]
    assert listed["status"] == "failed" and listed["error"]["code"] == "stripe_error"
    # Nothing happened, so the merchant is told nothing.
    assert not [
        r for r in receiver.to("/hook") if r.headers["x-mrrx-event-type"].startswith("subscription")
    ]
