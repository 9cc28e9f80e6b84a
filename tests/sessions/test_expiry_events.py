"""The expiry sweep's session.expired events, written set-based with the sweep on
PostgreSQL (in batches after it elsewhere): the same payload, ids and deliveries as an
event emitted one at a time, and nothing for sessions not due."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from mrrx.ids import new_id
from sessions_app.models import Session
from sessions_app.services import (
    _ended_event_data,
    sessions_end_for_canceled_subscription,
    sessions_expire_due,
)
from webhooks.models import Delivery, Event
from webhooks.services import endpoint_create

pytestmark = pytest.mark.django_db

EVENT_ID = re.compile(r"^evt_[0-9a-z]{25}$")
DELIVERY_ID = re.compile(r"^dlv_[0-9a-z]{25}$")


def _session(tenant, *, status: str, due: bool = True, livemode: bool = False, **fields):  # type: ignore[no-untyped-def]
    now = timezone.now()
    expires = now - timedelta(minutes=1) if due else now + timedelta(hours=1)
    return Session.objects.create(
        id=new_id("ses"),
        tenant=tenant,
        livemode=livemode,
        status=status,
        customer_id="cus_sweep",
        subscription_id=f"sub_{new_id('x')[2:]}",
        created_at=now - timedelta(hours=25),
        expires_at=expires,
        **fields,
    )


def test_sweep_events_carry_what_one_emitted_at_a_time_would(tenant, other_tenant):
    subscribed, _ = endpoint_create(
        tenant=tenant, livemode=False, url="https://hooks.example.com/all"
    )
    endpoint_create(
        tenant=tenant,
        livemode=False,
        url="https://hooks.example.com/completed-only",
        event_types=["session.completed"],
    )
    elsewhere, _ = endpoint_create(
        tenant=other_tenant, livemode=False, url="https://hooks.example.com/other"
    )
    opened = _session(
        tenant,
        status="offer_shown",
        metadata={"user_id": "usr_1", "note": 'quote " and accents é'},
        survey_reason="other",
        survey_reason_other="Moving abroad",
        selected_action="pause",
        source="flow",
    )
    unopened = _session(tenant, status="created")
    live = _session(tenant, status="created", livemode=True)
    not_due = _session(tenant, status="created", due=False)
    finished = _session(tenant, status="completed")

    assert sessions_expire_due() == {"expired": 2, "abandoned": 1}

    events = {e.session_id: e for e in Event.objects.filter(type="session.expired")}
    assert set(events) == {opened.id, unopened.id, live.id}
    for session_id, event in events.items():
        row = Session.objects.filter(pk=session_id).values().get()
        assert row["end_event_pending"] is False
        body = json.loads(event.body)
        assert EVENT_ID.match(event.id)
        assert body["id"] == event.id
        assert body["type"] == "session.expired"
        assert body["data"] == {
            **dict.fromkeys(["outcome", "error"]),
            **_ended_event_data(row),
        }
        assert event.tenant_id == tenant.pk
        assert event.livemode is row["livemode"]
    assert json.loads(events[opened.id].body)["data"]["survey_response"] == {
        "reason": "other",
        "reason_other": "Moving abroad",
        "feedback": None,
    }
    assert json.loads(events[opened.id].body)["data"]["action"] == "pause"
    assert json.loads(events[unopened.id].body)["data"]["status"] == "expired"
    # One pending delivery per subscribed endpoint of the event's workspace and mode.
    deliveries = Delivery.objects.filter(event__type="session.expired")
    assert sorted((d.event.session_id, d.endpoint_id) for d in deliveries) == sorted(
        [(opened.id, subscribed.pk), (unopened.id, subscribed.pk)]
    )
    assert all(DELIVERY_ID.match(d.pk) and d.status == "pending" for d in deliveries)
    assert not Delivery.objects.filter(endpoint=elsewhere).exists()
    assert Session.objects.get(pk=not_due.pk).status == "created"
    assert Session.objects.get(pk=finished.pk).status == "completed"
    # Nothing left, nothing twice.
    assert sessions_expire_due() == {"expired": 0, "abandoned": 0}
    assert Event.objects.filter(type="session.expired").count() == 3


def test_a_canceled_subscription_ends_its_session_with_its_event(tenant):
    session = _session(tenant, status="viewed", due=False)
    other = _session(tenant, status="viewed", due=False)

    ended = sessions_end_for_canceled_subscription(
        tenant=tenant, livemode=False, subscription_id=session.subscription_id
    )

    assert ended == 1
    event = Event.objects.get(type="session.expired")
    data = json.loads(event.body)["data"]
    assert data["session_id"] == session.id
    assert data["status"] == "abandoned"
    assert data["end_reason"] == "subscription_canceled"
    assert Session.objects.get(pk=other.pk).status == "viewed"
