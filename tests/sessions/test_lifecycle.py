"""Expiry, abandonment and cancellation outside MRRX."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from billing.services import stripe_connection_set_webhook_secret
from sessions_app.models import Session
from sessions_app.services import sessions_expire_due
from webhooks.models import Event

from .conftest import SEED_KEY

pytestmark = pytest.mark.django_db


def _age(session_id: str, *, status: str) -> None:
    Session.objects.filter(pk=session_id).update(
        status=status, expires_at=timezone.now() - timedelta(seconds=1)
    )


def test_sweep_expires_unopened_and_abandons_opened_sessions(shop, emulator):
    unopened = shop.create().json()["id"]
    second = seed_second_subscription(shop, emulator)
    opened = shop.create(subscription_id=second).json()["id"]
    _age(unopened, status="created")
    _age(opened, status="offer_shown")

    assert sessions_expire_due() == {"expired": 1, "abandoned": 1}

    assert Session.objects.get(pk=unopened).status == "expired"
    assert Session.objects.get(pk=opened).status == "abandoned"
    events = {
        e.payload["data"]["session_id"]: e.payload["data"]
        for e in Event.objects.filter(type="session.expired")
    }
    assert events[unopened]["status"] == "expired"
    assert events[opened]["status"] == "abandoned"
    assert events[opened]["end_reason"] == "timed_out"
    # A second sweep finds nothing left to do.
    assert sessions_expire_due() == {"expired": 0, "abandoned": 0}
    assert Event.objects.filter(type="session.expired").count() == 2


def test_sweep_leaves_sessions_not_yet_due_and_finished_ones(shop, emulator):
    live = shop.create().json()["id"]
    done = shop.create(subscription_id=seed_second_subscription(shop, emulator)).json()["id"]
    Session.objects.filter(pk=done).update(
        status="completed", expires_at=timezone.now() - timedelta(hours=1)
    )
    executing = shop.create(subscription_id=seed_second_subscription(shop, emulator)).json()["id"]
    _age(executing, status="executing")
    assert sessions_expire_due() == {"expired": 0, "abandoned": 0}
    assert Session.objects.get(pk=live).status == "created"
    assert Session.objects.get(pk=done).status == "completed"
    assert Session.objects.get(pk=executing).status == "executing"


def test_expired_session_frees_the_subscription_for_a_new_one(shop):
    first = shop.create().json()["id"]
    _age(first, status="viewed")
    sessions_expire_due()
    assert shop.create().status_code == 201


def seed_second_subscription(shop, emulator) -> str:  # type: ignore[no-untyped-def]
    client = emulator.client(SEED_KEY)
    sub = client.v1.subscriptions.create(
        {"customer": shop.seeded.customer_id, "items": [{"price": shop.seeded.basic_price_id}]}
    )
    return sub.id


@pytest.mark.django_db(transaction=True)
def test_cancellation_outside_mrrx_ends_the_active_session(shop, emulator, live_server):
    secret = "whsec_outside_cancel_secret_1"
    stripe_connection_set_webhook_secret(connection=shop.connection, secret=secret)
    emulator.add_webhook(
        f"{live_server.url}/api/stripe/webhook/{shop.connection.pk}", secret=secret
    )
    session_id = shop.create().json()["id"]
    Session.objects.filter(pk=session_id).update(status="viewed")

    emulator.client(SEED_KEY).v1.subscriptions.cancel(shop.seeded.subscription_id)

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        session = Session.objects.get(pk=session_id)
        if session.status != "viewed":
            break
        time.sleep(0.1)
    assert session.status == "abandoned"
    assert session.end_reason == "subscription_canceled"
    event = Event.objects.get(type="session.expired")
    assert event.payload["data"]["end_reason"] == "subscription_canceled"
    api_view = shop.client.get(f"/api/v1/sessions/{session_id}").json()
    assert api_view["status"] == "abandoned"


def test_ending_one_subscriptions_sessions_leaves_the_sweeps_backlog_to_the_sweep(shop, emulator):
    from sessions_app.services import sessions_end_for_canceled_subscription

    owed = shop.create().json()["id"]
    # Ended by a sweep whose events are still owed (the sweep writes them in batches).
    Session.objects.filter(pk=owed).update(
        status="expired", end_reason="timed_out", end_event_pending=True
    )
    second = seed_second_subscription(shop, emulator)
    active = shop.create(subscription_id=second).json()["id"]

    ended = sessions_end_for_canceled_subscription(
        tenant=shop.tenant, livemode=False, subscription_id=second
    )

    assert ended == 1
    assert Session.objects.get(pk=active).end_event_pending is False
    emitted = [
        e.payload["data"]["session_id"] for e in Event.objects.filter(type="session.expired")
    ]
    assert emitted == [active]
    assert Session.objects.get(pk=owed).end_event_pending is True
