"""The ``session.created`` event written with the session (on PostgreSQL in the same
statement) says what the session row says, field for field as ``session_event_data``
builds it, and has a pending delivery for each endpoint that subscribes to it."""

from __future__ import annotations

import psycopg
import pytest
from django.db import connection, transaction

from offers.selectors import flow_config_get
from offers.services import flow_create
from sessions_app.models import Session
from sessions_app.serializers import session_event_data
from tests.experiments.conftest import start_experiment
from webhooks.events import build_data
from webhooks.models import Delivery, Event
from webhooks.services import dispatch, endpoint_create

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


@pytest.mark.django_db(transaction=True)
def test_a_create_outside_a_transaction_commits_at_once_and_queues_its_attempts(
    shop, settings, monkeypatch
):
    """On its own, the create's single statement commits by itself: another connection
    sees the session and its event at once, and the deliveries' first attempts are queued
    with nothing left waiting for a commit."""
    settings.WEBHOOK_ALLOW_LOOPBACK = True
    endpoint_create(tenant=shop.tenant, livemode=False, url="http://127.0.0.1:9/a")
    queued: list = []
    monkeypatch.setattr(dispatch, "attempts_enqueue", lambda jobs: queued.append(list(jobs)))
    flow_config_get(tenant=shop.tenant, livemode=False)  # the defaults, written once
    opened: list = []
    set_autocommit = connection.set_autocommit

    def spy(autocommit, *args, **kwargs):  # type: ignore[no-untyped-def]
        opened.append(autocommit)
        return set_autocommit(autocommit, *args, **kwargs)

    monkeypatch.setattr(connection, "set_autocommit", spy)
    response = shop.create()

    assert response.status_code == 201, response.content
    # No transaction was opened (no BEGIN, no COMMIT): the statement committed itself.
    assert False not in opened
    assert not connection.in_atomic_block and not connection.run_on_commit
    [delivery] = Delivery.objects.filter(event__session_id=response.json()["id"])
    assert queued == [[(delivery.pk, 0)]]
    with psycopg.connect(**_other_connection()) as other:
        seen = other.execute(
            "SELECT count(*) FROM webhooks_event WHERE session_id = %s", [response.json()["id"]]
        ).fetchone()
    assert seen == (1,)


def test_a_refused_create_inside_a_transaction_leaves_it_usable(shop, settings, monkeypatch):
    """Nested in the caller's transaction, a create refused by the one-active-session rule
    rolls back only its own savepoint, and its attempts wait for the caller's commit."""
    settings.WEBHOOK_ALLOW_LOOPBACK = True
    endpoint_create(tenant=shop.tenant, livemode=False, url="http://127.0.0.1:9/a")
    queued: list = []
    monkeypatch.setattr(dispatch, "attempts_enqueue", lambda jobs: queued.append(list(jobs)))
    with transaction.atomic():
        assert shop.create().status_code == 201
        assert queued == [] and connection.run_on_commit
        again = shop.create()
        assert again.status_code == 409
        assert again.json()["error"]["code"] == "session_already_exists"
        # The transaction still answers.
        assert Session.objects.filter(tenant=shop.tenant).count() == 1


def _other_connection() -> dict:
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    return {**params, "autocommit": True}
