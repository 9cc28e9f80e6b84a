"""Endpoints, the event registry, emitting and resending, through the services."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from mrrx.crypto import decrypt
from tests.factories import TenantFactory
from webhooks.events import DATA_KEYS, InvalidEventData, UnknownEventType, event_types
from webhooks.models import Delivery, Endpoint, Event
from webhooks.services import (
    delivery_attempt,
    endpoint_create,
    endpoint_disable,
    endpoint_enable,
    endpoint_resend_failed,
    endpoint_update,
    event_emit,
    event_resend,
)

from .conftest import SESSION_DATA, Reply, emit_one

pytestmark = pytest.mark.django_db


def test_a_new_endpoint_gets_a_standard_webhooks_secret_stored_encrypted(tenant):
    endpoint, secret = endpoint_create(
        tenant=tenant, livemode=False, url="https://hooks.example.com/mrrx"
    )

    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 32
    assert decrypt(endpoint.secret_encrypted) == secret
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM webhooks_endpoint")
        assert secret not in json.dumps(cursor.fetchall(), default=str)
    assert endpoint.event_types == [] and endpoint.enabled


@pytest.mark.parametrize(
    "fields, field, message",
    [
        ({"url": "ftp://hooks.example.com/x"}, "url", "valid http:// or https:// URL"),
        ({"url": "javascript:alert(1)"}, "url", "valid http:// or https:// URL"),
        ({"url": "not a url"}, "url", "valid http:// or https:// URL"),
        ({"url": "http://hooks.example.com/x", "livemode": True}, "url", "must use an https://"),
        ({"url": "https://user:pw@hooks.example.com/x"}, "url", "no credentials"),
        (
            {"event_types": ["session.created", "session.exploded"]},
            "event_types",
            "session.exploded",
        ),
    ],
)
def test_bad_endpoint_input_is_a_clear_error_and_creates_nothing(tenant, fields, field, message):
    args = {"url": "https://hooks.example.com/mrrx", "livemode": False, **fields}

    with pytest.raises(ValidationError) as caught:
        endpoint_create(tenant=tenant, **args)

    assert message in " ".join(caught.value.message_dict[field])
    assert not Endpoint.objects.exists()


def test_updating_an_endpoint_is_validated_too(tenant):
    endpoint, _ = endpoint_create(tenant=tenant, livemode=True, url="https://hooks.example.com/a")

    with pytest.raises(ValidationError):
        endpoint_update(endpoint=endpoint, url="http://hooks.example.com/b")
    endpoint_update(endpoint=endpoint, event_types=["session.completed"], description=" CRM ")

    endpoint.refresh_from_db()
    assert endpoint.url == "https://hooks.example.com/a"
    assert (endpoint.event_types, endpoint.description) == (["session.completed"], "CRM")


def test_the_registry_declares_every_event_type():
    assert [t.name for t in event_types()] == [
        "session.created",
        "session.completed",
        "session.expired",
        "session.failed",
        "subscription.paused",
        "subscription.discount_applied",
        "subscription.downgraded",
        "subscription.trial_extended",
        "subscription.canceled",
        "subscription.resumed",
        "subscription.reactivated",
        "subscription.plan_changed",
        "customer.erased",
    ]


def test_an_emitted_event_has_every_data_key_and_is_serialized_once(tenant):
    event = event_emit(
        tenant=tenant, livemode=True, type="subscription.paused", data={"session_id": "ses_1"}
    )

    payload = json.loads(event.body)
    assert payload["id"] == event.pk and event.pk.startswith("evt_")
    assert payload["type"] == "subscription.paused"
    assert payload["created_at"].endswith("Z")
    assert list(payload["data"]) == list(DATA_KEYS)
    assert payload["data"]["session_id"] == "ses_1"
    assert payload["data"]["action"] == "pause"  # implied by the type
    assert payload["data"]["livemode"] is True
    assert payload["data"]["customer_id"] is None
    assert event.session_id == "ses_1"


def test_an_unknown_event_type_or_data_key_is_refused_and_writes_nothing(tenant, make_endpoint):
    make_endpoint(tenant)
    with pytest.raises(UnknownEventType):
        event_emit(tenant=tenant, livemode=False, type="session.exploded", data={})
    with pytest.raises(InvalidEventData):
        event_emit(tenant=tenant, livemode=False, type="session.created", data={"colour": "red"})
    with pytest.raises(InvalidEventData):
        event_emit(tenant=tenant, livemode=False, type="session.created", data={"livemode": True})
    assert not Event.objects.exists() and not Delivery.objects.exists()


def test_deliveries_go_to_enabled_subscribed_endpoints_of_the_same_workspace_and_mode(
    tenant, make_endpoint
):
    every, _ = make_endpoint(tenant, "/every")
    completed_only, _ = make_endpoint(tenant, "/completed", event_types=["session.completed"])
    disabled, _ = make_endpoint(tenant, "/disabled")
    endpoint_disable(endpoint=disabled, reason="test")
    make_endpoint(tenant, livemode=True, url="https://hooks.example.com/live")
    make_endpoint(TenantFactory(), "/other")

    created = event_emit(tenant=tenant, livemode=False, type="session.created", data={})
    completed = event_emit(tenant=tenant, livemode=False, type="session.completed", data={})

    assert set(created.deliveries.values_list("endpoint", flat=True)) == {every.pk}
    assert set(completed.deliveries.values_list("endpoint", flat=True)) == {
        every.pk,
        completed_only.pk,
    }


def test_resending_an_event_requeues_failures_and_sends_again_where_it_succeeded(
    tenant, receiver, make_endpoint
):
    ok, _ = make_endpoint(tenant, "/ok")
    failing, _ = make_endpoint(tenant, "/failing")
    busy, _ = make_endpoint(tenant, "/busy")
    event = event_emit(tenant=tenant, livemode=False, type="session.completed", data=SESSION_DATA)
    to = {d.endpoint_id: d for d in event.deliveries.all()}
    receiver.reply("/failing", Reply(status=410))
    delivery_attempt(delivery_id=to[ok.pk].pk)
    delivery_attempt(delivery_id=to[failing.pk].pk)  # 410: failed, endpoint disabled
    endpoint_enable(endpoint=failing)
    late, _ = make_endpoint(tenant, "/late")

    queued = event_resend(event=event)

    by_endpoint = {d.endpoint_id: d for d in queued}
    assert set(by_endpoint) == {ok.pk, failing.pk, late.pk}  # busy is still pending
    assert by_endpoint[failing.pk].pk == to[failing.pk].pk  # the same delivery, again
    assert by_endpoint[failing.pk].status == "pending"
    assert by_endpoint[ok.pk].pk != to[ok.pk].pk  # a new one: the first succeeded
    assert event.deliveries.filter(endpoint=busy).count() == 1

    attempt = delivery_attempt(delivery_id=to[failing.pk].pk)
    assert attempt.number == 2 and attempt.succeeded
    # A resend starts a new schedule: its first attempt is not a retry.
    assert "x-mrrx-retry-attempt" not in receiver.to("/failing")[-1].headers


def test_resending_failed_deliveries_since_a_time(tenant, receiver, make_endpoint, clock):
    endpoint, _ = make_endpoint(tenant)
    receiver.default = Reply(status=500)
    old = emit_one(tenant)
    clock.advance(hours=1)
    since = clock.now
    recent = emit_one(tenant)
    succeeded = emit_one(tenant)
    for delivery in (old, recent):
        Delivery.objects.filter(pk=delivery.pk).update(status="failed", next_attempt_at=None)
    Delivery.objects.filter(pk=succeeded.pk).update(status="succeeded", next_attempt_at=None)

    assert endpoint_resend_failed(endpoint=endpoint, since=since) == 1

    statuses = dict(Delivery.objects.values_list("pk", "status"))
    assert statuses == {old.pk: "failed", recent.pk: "pending", succeeded.pk: "succeeded"}
    recent.refresh_from_db()
    assert recent.next_attempt_at == clock.now


def test_resending_to_a_disabled_endpoint_asks_to_enable_it_first(tenant, make_endpoint):
    endpoint, _ = make_endpoint(tenant)
    endpoint_disable(endpoint=endpoint, reason="test")

    with pytest.raises(ValidationError, match="Enable the endpoint"):
        endpoint_resend_failed(endpoint=endpoint, since=endpoint.created_at - timedelta(days=1))


def test_disabling_records_why_and_when_and_enabling_clears_it(tenant, make_endpoint):
    endpoint, _ = make_endpoint(tenant)

    assert endpoint_disable(endpoint=endpoint, reason="maintenance") is True
    assert endpoint_disable(endpoint=endpoint, reason="again") is False
    assert (endpoint.enabled, endpoint.disabled_reason) == (False, "maintenance")
    assert endpoint.disabled_at is not None

    endpoint_enable(endpoint=endpoint)
    assert (endpoint.enabled, endpoint.disabled_reason, endpoint.disabled_at) == (True, "", None)
