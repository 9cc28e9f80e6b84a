"""A worker killed in the middle of a Stripe write: the action still happens exactly once."""

from __future__ import annotations

import os
import signal
from datetime import timedelta

import pytest
from django.utils import timezone

from sessions_app.execution import sessions_requeue_stuck
from sessions_app.models import Session
from tests.flow_worker.conftest import walk_to_confirm
from tests.sessions.conftest import stripe_subscription
from tests.worker_fixture import start_worker

pytestmark = pytest.mark.django_db(transaction=True)


def test_killed_worker_then_requeue_acts_once(shop, emulator, celery_broker, celery_worker_env):
    session_id, path, browser = walk_to_confirm(shop, reason="too_expensive", action="discount")
    emulator.http.delete("/_emulator/requests")
    # Stripe answers the first write slowly: the worker is killed while it waits.
    emulator.fail_next(
        1, status=None, delay_ms=3000, path_prefix="/v1/subscriptions/", method="POST"
    )
    with start_worker(broker=celery_broker, env=celery_worker_env) as worker:
        assert browser.post(path, {"step": "confirm"}).status_code == 302
        # The fault is used up the moment the worker's write reaches Stripe.
        worker.wait_until(
            lambda: not emulator.http.get("/_emulator/faults").json()["data"],
            timeout=30,
            message="the worker never reached Stripe",
        )
        os.kill(worker.pid, signal.SIGKILL)
        worker.process.wait(timeout=10)
    assert Session.objects.get(pk=session_id).status == "executing"

    # The periodic re-pick hands the session to a fresh worker once it counts as stuck.
    with start_worker(broker=celery_broker, env=celery_worker_env) as worker:
        later = timezone.now() + timedelta(minutes=5)
        assert sessions_requeue_stuck(now=later) == 1
        session = worker.wait_until(
            lambda: (s := Session.objects.get(pk=session_id)).status == "completed" and s,
            timeout=30,
        )
    assert session.outcome_action == "discount"
    assert len(stripe_subscription(emulator, shop.seeded.subscription_id)["discounts"]) == 1
    writes = [
        r
        for r in emulator.requests(method="POST")
        if r["path"] == f"/v1/subscriptions/{shop.seeded.subscription_id}" and not r.get("replayed")
    ]
    assert len(writes) == 1, writes
