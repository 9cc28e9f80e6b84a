"""Attempts queued together (one emit's deliveries) go in one message: claimed in one
statement, sent one after another, logged in one; each delivery ends as it would alone."""

from __future__ import annotations

import json

import pytest
from django.db import transaction
from django.utils import timezone

from webhooks.models import Delivery, DeliveryAttempt
from webhooks.services import deliveries_attempt, endpoint_disable, event_emit
from webhooks.services.dispatch import attempts_enqueue

from .conftest import SESSION_DATA, Reply
from .reference import verify_any_v1

pytestmark = pytest.mark.django_db


def _emit(tenant, n: int) -> list[Delivery]:  # type: ignore[no-untyped-def]
    with transaction.atomic():
        events = [
            event_emit(tenant=tenant, livemode=False, type="session.created", data=SESSION_DATA)
            for _ in range(n)
        ]
    return list(Delivery.objects.filter(event__in=events).order_by("event_id", "endpoint_id"))


def test_a_batch_sends_each_signed_delivery_once_and_logs_each(tenant, receiver, make_endpoint):
    _, secret = make_endpoint(tenant, "/a")
    make_endpoint(tenant, "/b")
    receiver.reply("/b", Reply(status=500), Reply(status=500))
    deliveries = _emit(tenant, 2)  # 2 events x 2 endpoints
    assert len(deliveries) == 4

    made = deliveries_attempt(jobs=[(d.pk, 0) for d in deliveries])

    assert sorted((m.delivery_id, m.number) for m in made) == sorted((d.pk, 1) for d in deliveries)
    assert sorted(r.path for r in receiver.requests) == ["/a", "/a", "/b", "/b"]
    for request in receiver.requests:
        if request.path == "/a":
            assert verify_any_v1(request.body.decode(), request.headers["x-mrrx-signature"], secret)
            assert json.loads(request.body)["type"] == "session.created"
    by_path = {d.pk: d.endpoint.url.rsplit("/", 1)[1] for d in deliveries}
    for delivery in Delivery.objects.filter(pk__in=by_path):
        attempt = DeliveryAttempt.objects.get(delivery=delivery)
        assert attempt.number == 1 and delivery.attempt_count == 1
        assert delivery.locked_until is None
        if by_path[delivery.pk] == "a":
            assert delivery.status == "succeeded" and attempt.succeeded
            assert attempt.status_code == 200 and delivery.completed_at is not None
        else:
            assert delivery.status == "pending" and not attempt.succeeded
            assert attempt.status_code == 500 and delivery.last_error == "HTTP 500"
            assert delivery.next_attempt_at is not None
    assert {m.pk for m in made} == set(DeliveryAttempt.objects.values_list("pk", flat=True))

    # The same message again (a duplicate) finds every attempt made: nothing is sent.
    assert deliveries_attempt(jobs=[(d.pk, 0) for d in deliveries]) == []
    assert len(receiver.requests) == 4
    assert DeliveryAttempt.objects.count() == 4


def test_a_batch_fails_the_deliveries_of_an_endpoint_disabled_meanwhile(
    tenant, receiver, make_endpoint
):
    kept, _ = make_endpoint(tenant, "/kept")
    gone, _ = make_endpoint(tenant, "/gone")
    deliveries = _emit(tenant, 1)
    endpoint_disable(endpoint=gone, reason="Turned off.")
    # Its delivery was queued before: still pending when the message arrives.
    Delivery.objects.filter(endpoint=gone).update(
        status="pending", next_attempt_at=timezone.now(), completed_at=None
    )

    deliveries_attempt(jobs=[(d.pk, 0) for d in deliveries])

    assert [r.path for r in receiver.requests] == ["/kept"]
    assert Delivery.objects.get(endpoint=kept).status == "succeeded"
    failed = Delivery.objects.get(endpoint=gone)
    assert failed.status == "failed" and failed.last_error == "Endpoint disabled: Turned off."
    assert not DeliveryAttempt.objects.filter(delivery=failed).exists()


def test_queued_together_they_go_in_messages_of_the_batch_size(monkeypatch, settings):
    settings.WEBHOOK_ATTEMPT_BATCH = 3
    sent: list[tuple[str, object]] = []
    monkeypatch.setattr(
        "webhooks.services.dispatch.delivery_attempt_enqueue",
        lambda **kw: sent.append(("one", (kw["delivery_id"], kw["attempt"]))),
    )
    monkeypatch.setattr(
        "webhooks.services.dispatch.deliveries_attempt_enqueue",
        lambda **kw: sent.append(("many", kw["jobs"])),
    )
    jobs = [(f"dlv_{n}", 0) for n in range(7)]

    assert attempts_enqueue(jobs) == 7
    assert sent == [("many", jobs[0:3]), ("many", jobs[3:6]), ("one", jobs[6])]


def test_the_events_of_one_transaction_share_messages(
    tenant, make_endpoint, monkeypatch, settings, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_ATTEMPT_BATCH = 4
    make_endpoint(tenant)
    sent: list[list[tuple[str, int]]] = []
    monkeypatch.setattr(
        "webhooks.services.dispatch.delivery_attempt_enqueue",
        lambda **kw: sent.append([(kw["delivery_id"], kw["attempt"])]),
    )
    monkeypatch.setattr(
        "webhooks.services.dispatch.deliveries_attempt_enqueue",
        lambda **kw: sent.append(kw["jobs"]),
    )

    with django_capture_on_commit_callbacks(execute=True):
        deliveries = _emit(tenant, 6)
        with pytest.raises(RuntimeError), transaction.atomic():
            event_emit(tenant=tenant, livemode=False, type="session.created", data=SESSION_DATA)
            raise RuntimeError("rolled back with its delivery")

    assert [len(jobs) for jobs in sent] == [4, 2]
    assert sorted(pk for jobs in sent for pk, _ in jobs) == sorted(d.pk for d in deliveries)
    assert Delivery.objects.count() == 6
