"""The ``session.created`` event written with the session (on PostgreSQL in the same
statement) says what the session row says, field for field as ``session_event_data``
builds it, and has a pending delivery for each endpoint that subscribes to it."""

from __future__ import annotations

import pytest

from offers.selectors import flow_config_get
from offers.services import flow_create
from sessions_app.models import Session
from sessions_app.serializers import session_event_data
from tests.experiments.conftest import start_experiment
from webhooks.events import build_data
from webhooks.models import Delivery, Event
from webhooks.services import endpoint_create

pytestmark = pytest.mark.django_db


def test_the_created_event_is_the_session_as_written(shop, settings):
    settings.WEBHOOK_ALLOW_LOOPBACK = True
    every, _ = endpoint_create(tenant=shop.tenant, livemode=False, url="http://127.0.0.1:9/a")
    created_only, _ = endpoint_create(
        tenant=shop.tenant, livemode=False, url="http://127.0.0.1:9/b",
        event_types=["session.created"],
    )  # fmt: skip
    endpoint_create(
        tenant=shop.tenant, livemode=False, url="http://127.0.0.1:9/c",
        event_types=["session.completed"],
    )  # fmt: skip
    config = flow_config_get(tenant=shop.tenant, livemode=False)
    flow = flow_create(config=config, name="Everyone «à»", priority=1, rule={}, reasons=["other"])
    experiment = start_experiment(shop.tenant, weights=(0, 1, 0))
    metadata = {"plan": "pro", "user": "ü-42", "quote": 'say "hi"'}

    response = shop.create(metadata=metadata)

    assert response.status_code == 201, response.content
    session = Session.objects.get(pk=response.json()["id"])
    [event] = Event.objects.filter(tenant=shop.tenant, type="session.created")
    assert event.session_id == session.pk and event.livemode is False
    assert event.payload["type"] == "session.created" and event.payload["id"] == event.pk
    # The data, complete (keys not given are null), as event_emit makes it.
    expected = build_data("session.created", session_event_data(session), livemode=False)
    assert event.payload["data"] == expected
    data = event.payload["data"]
    assert data["metadata"] == metadata and data["status"] == "created"
    assert data["experiment"] == {"id": experiment.pk, "arm": "pct30"}
    assert data["flow"] == {"id": flow.pk, "name": "Everyone «à»"}
    assert data["outcome"] is None and data["survey_response"] is None
    assert data["end_reason"] is None and data["action"] is None
    # One pending delivery for each endpoint that takes session.created.
    deliveries = Delivery.objects.filter(event=event)
    assert {d.endpoint_id for d in deliveries} == {every.pk, created_only.pk}
    assert {d.status for d in deliveries} == {"pending"}


def test_a_refused_create_writes_no_event(shop):
    assert shop.create().status_code == 201
    again = shop.create()
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "session_already_exists"
    assert Event.objects.filter(tenant=shop.tenant, type="session.created").count() == 1
    assert Session.objects.filter(tenant=shop.tenant).count() == 1
