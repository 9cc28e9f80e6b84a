"""End to end: events emitted here reach a real HTTP receiver through a real Celery worker."""

from __future__ import annotations

import json

import pytest
from django.db import transaction
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from tests.factories import TenantFactory
from tests.worker_fixture import configure_broker
from webhooks.events import DATA_KEYS
from webhooks.models import Delivery, DeliveryAttempt, Event
from webhooks.services import deliveries_dispatch_due, event_emit

from .conftest import SESSION_DATA
from .reference import reference_verify

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.smoke]


def test_delivered_event_verifies_with_the_reference_code_and_standard_webhooks(
    celery_worker_process, receiver, make_endpoint, tenant
):
    endpoint, secret = make_endpoint(tenant)

    event = event_emit(tenant=tenant, livemode=False, type="session.completed", data=SESSION_DATA)

    [got] = celery_worker_process.wait_until(lambda: receiver.to("/hook"))
    delivery = Delivery.objects.get(event=event)
    payload = got.body.decode()
    assert got.body == event.body.encode()
    assert json.loads(payload) == {
        "id": event.pk,
        "type": "session.completed",
        "created_at": json.loads(event.body)["created_at"],
        "data": {**dict.fromkeys(DATA_KEYS), **SESSION_DATA, "livemode": False},
    }
    assert got.headers["content-type"] == "application/json"
    assert got.headers["user-agent"] == "MRRX-Webhook/1.0"
    assert got.headers["x-mrrx-event-type"] == "session.completed"
    assert got.headers["x-mrrx-delivery-id"] == delivery.pk
    assert got.headers["webhook-id"] == event.pk
    assert "x-mrrx-retry-attempt" not in got.headers
    assert secret not in json.dumps(got.headers)

    assert reference_verify(payload, got.headers["x-mrrx-signature"], secret)
    assert Webhook(secret).verify(got.body, got.headers) == json.loads(payload)

    tampered = payload.replace('"pause"', '"pausE"', 1)
    assert not reference_verify(tampered, got.headers["x-mrrx-signature"], secret)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(tampered.encode(), got.headers)

    celery_worker_process.wait_until(
        lambda: Delivery.objects.filter(pk=delivery.pk, status="succeeded").exists()
    )
    attempt = DeliveryAttempt.objects.get(delivery=delivery)
    assert (attempt.number, attempt.status_code, attempt.succeeded) == (1, 200, True)
    assert attempt.request_headers["X-MRRX-Delivery-ID"] == delivery.pk
    assert secret not in json.dumps(attempt.request_headers)


def test_an_event_written_while_the_broker_is_down_is_delivered_once_it_is_back(
    celery_worker_process, receiver, make_endpoint, tenant, celery_broker
):
    from mrrx.celery import app

    make_endpoint(tenant)
    configure_broker(app, "redis://127.0.0.1:1/0", {"max_retries": 1})
    try:
        event = event_emit(tenant=tenant, livemode=False, type="session.created", data={})
    finally:
        configure_broker(app, celery_broker.url, celery_broker.transport_options)

    delivery = Delivery.objects.get(event=event)
    assert delivery.status == "pending"
    assert receiver.requests == []

    # The beat schedule's dispatcher, run once by hand.
    assert deliveries_dispatch_due() == 1

    [got] = celery_worker_process.wait_until(lambda: receiver.to("/hook"))
    assert got.headers["webhook-id"] == event.pk
    celery_worker_process.wait_until(
        lambda: Delivery.objects.filter(pk=delivery.pk, status="succeeded").exists()
    )


def test_an_emit_in_a_transaction_that_rolls_back_sends_nothing(
    celery_worker_process, receiver, make_endpoint, tenant
):
    make_endpoint(tenant)

    with pytest.raises(RuntimeError), transaction.atomic():
        event_emit(tenant=tenant, livemode=False, type="session.failed", data={})
        raise RuntimeError("the caller's change failed")

    assert not Event.objects.exists()
    assert not Delivery.objects.exists()
    # A later event arrives, and alone: nothing of the rolled-back one was ever queued.
    later = event_emit(tenant=tenant, livemode=False, type="session.created", data={})
    celery_worker_process.wait_until(
        lambda: Delivery.objects.filter(event=later, status="succeeded").exists()
    )
    assert [r.headers["webhook-id"] for r in receiver.requests] == [later.pk]


def test_events_reach_only_their_own_workspace_and_mode(
    celery_worker_process, receiver, make_endpoint, tenant
):
    other = TenantFactory()
    mine, _ = make_endpoint(tenant, "/mine")
    theirs, _ = make_endpoint(other, "/theirs")
    my_live, _ = make_endpoint(tenant, livemode=True, url=f"https://127.0.0.1:{receiver.port}/live")

    test_event = event_emit(tenant=tenant, livemode=False, type="session.created", data={})
    live_event = event_emit(tenant=tenant, livemode=True, type="session.created", data={})
    their_event = event_emit(tenant=other, livemode=False, type="session.created", data={})

    assert list(Delivery.objects.filter(event=test_event).values_list("endpoint", flat=True)) == [
        mine.pk
    ]
    assert list(Delivery.objects.filter(event=live_event).values_list("endpoint", flat=True)) == [
        my_live.pk
    ]
    assert list(Delivery.objects.filter(event=their_event).values_list("endpoint", flat=True)) == [
        theirs.pk
    ]
    celery_worker_process.wait_until(lambda: receiver.to("/mine") and receiver.to("/theirs"))
    assert [r.headers["webhook-id"] for r in receiver.to("/mine")] == [test_event.pk]
    assert [r.headers["webhook-id"] for r in receiver.to("/theirs")] == [their_event.pk]
