"""One attempt at a time, against a real HTTP receiver: schedule, receivers that misbehave,
rotation, and what a finished delivery never does again."""

from __future__ import annotations

from datetime import timedelta
from email.utils import format_datetime

import httpcore
import pytest
from django.core import mail
from django.utils import timezone
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from webhooks.models import Delivery, DeliveryAttempt, Endpoint
from webhooks.services import (
    deliveries_dispatch_due,
    delivery_attempt,
    endpoint_rotate_secret,
    event_emit,
)

from .conftest import Reply, emit_one
from .reference import reference_verify, v1_signatures, verify_any_v1

pytestmark = pytest.mark.django_db

SCHEDULE = [5, 300, 1800, 7200, 18000, 36000, 36000]


def test_failed_attempts_follow_the_published_schedule_within_jitter(
    tenant, receiver, make_endpoint, clock, unconsumed_broker
):
    receiver.default = Reply(status=500)
    make_endpoint(tenant)
    delivery = emit_one(tenant)

    for number in range(1, 9):
        attempt = delivery_attempt(delivery_id=delivery.pk)
        delivery.refresh_from_db()
        assert (attempt.number, attempt.status_code, attempt.succeeded) == (number, 500, False)
        if number == 8:
            break
        assert delivery.status == "pending"
        wait = (delivery.next_attempt_at - clock.now).total_seconds()
        published = SCHEDULE[number - 1]
        assert 0.8 * published <= wait <= 1.2 * published
        # Not due a moment before its time; due (and queued once) at its time.
        clock.set(delivery.next_attempt_at - timedelta(milliseconds=1))
        assert deliveries_dispatch_due() == 0
        clock.set(delivery.next_attempt_at)
        assert deliveries_dispatch_due() == 1
        assert deliveries_dispatch_due() == 0

    assert delivery.status == "failed"
    assert delivery.next_attempt_at is None
    assert delivery.attempt_count == 8
    assert deliveries_dispatch_due() == 0
    retries = [r.headers.get("x-mrrx-retry-attempt") for r in receiver.to("/hook")]
    assert retries == [None, "1", "2", "3", "4", "5", "6", "7"]


def test_the_jitter_varies_the_wait(tenant, receiver, make_endpoint, clock):
    receiver.default = Reply(status=500)
    make_endpoint(tenant)
    waits = set()
    for _ in range(5):
        delivery = emit_one(tenant)
        delivery_attempt(delivery_id=delivery.pk)
        delivery.refresh_from_db()
        waits.add(delivery.next_attempt_at - clock.now)
    assert len(waits) > 1


def test_a_redirect_is_not_followed_and_counts_as_a_failure(tenant, receiver, make_endpoint):
    receiver.reply("/hook", Reply(status=302, headers={"Location": receiver.url("/elsewhere")}))
    make_endpoint(tenant)
    delivery = emit_one(tenant)

    attempt = delivery_attempt(delivery_id=delivery.pk)

    assert (attempt.status_code, attempt.succeeded) == (302, False)
    assert "redirects are not followed" in attempt.error
    assert receiver.to("/elsewhere") == []
    delivery.refresh_from_db()
    assert delivery.status == "pending" and delivery.next_attempt_at is not None


def test_410_disables_the_endpoint_and_fails_its_pending_deliveries(
    tenant, member, receiver, make_endpoint
):
    receiver.reply("/hook", Reply(status=410))
    endpoint, _ = make_endpoint(tenant)
    gone = emit_one(tenant)
    waiting = emit_one(tenant)

    delivery_attempt(delivery_id=gone.pk)

    endpoint.refresh_from_db()
    assert endpoint.enabled is False
    assert endpoint.disabled_at is not None
    assert "410" in endpoint.disabled_reason
    gone.refresh_from_db()
    waiting.refresh_from_db()
    assert (gone.status, gone.next_attempt_at) == ("failed", None)
    assert waiting.status == "failed" and "disabled" in waiting.last_error
    assert delivery_attempt(delivery_id=waiting.pk) is None
    assert len(receiver.requests) == 1
    # Nothing more is written for it.
    event = event_emit(tenant=tenant, livemode=False, type="session.created", data={})
    assert not event.deliveries.exists()


def test_an_automatic_disable_emails_the_members_with_an_address(
    tenant, member, receiver, make_endpoint, django_capture_on_commit_callbacks
):
    receiver.reply("/hook", Reply(status=410))
    endpoint, _ = make_endpoint(tenant)
    delivery = emit_one(tenant)

    with django_capture_on_commit_callbacks(execute=True):
        delivery_attempt(delivery_id=delivery.pk)

    [message] = mail.outbox
    assert message.to == [member.user.email]
    assert endpoint.url in message.subject
    assert "410" in message.body


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_in_seconds_is_honoured(status, tenant, receiver, make_endpoint, clock):
    receiver.reply("/hook", Reply(status=status, headers={"Retry-After": "3"}))
    make_endpoint(tenant)
    delivery = emit_one(tenant)

    delivery_attempt(delivery_id=delivery.pk)

    delivery.refresh_from_db()
    assert delivery.next_attempt_at - clock.now == timedelta(seconds=3)


def test_retry_after_as_an_http_date_is_honoured(tenant, receiver, make_endpoint, clock):
    when = format_datetime(clock.now + timedelta(seconds=4), usegmt=True)
    receiver.reply("/hook", Reply(status=503, headers={"Retry-After": when}))
    make_endpoint(tenant)
    delivery = emit_one(tenant)

    delivery_attempt(delivery_id=delivery.pk)

    delivery.refresh_from_db()
    assert delivery.next_attempt_at - clock.now == timedelta(seconds=4)


def test_retry_after_is_capped_at_twice_the_scheduled_wait(tenant, receiver, make_endpoint, clock):
    receiver.reply("/hook", Reply(status=429, headers={"Retry-After": "86400"}))
    make_endpoint(tenant)
    delivery = emit_one(tenant)

    delivery_attempt(delivery_id=delivery.pk)

    delivery.refresh_from_db()
    wait = (delivery.next_attempt_at - clock.now).total_seconds()
    assert 2 * 0.8 * 5 <= wait <= 2 * 1.2 * 5


def test_a_receiver_that_hangs_is_cut_at_the_timeout(settings, tenant, receiver, make_endpoint):
    settings.WEBHOOK_TIMEOUT = 0.5
    receiver.reply("/hook", Reply(hang=True))
    make_endpoint(tenant)
    delivery = emit_one(tenant)

    attempt = delivery_attempt(delivery_id=delivery.pk)

    assert not receiver.released.is_set()  # the receiver was still holding on
    assert attempt.status_code is None
    assert attempt.error == "timed out after 0.5 s"
    assert len(receiver.to("/hook")) == 1
    delivery.refresh_from_db()
    assert delivery.status == "pending" and delivery.last_error == "timed out after 0.5 s"


def test_a_receiver_that_trickles_its_answer_is_cut_at_the_timeout(
    settings, tenant, receiver, make_endpoint
):
    settings.WEBHOOK_TIMEOUT = 0.5
    receiver.reply("/hook", Reply(trickle=True))
    make_endpoint(tenant)
    delivery = emit_one(tenant)

    attempt = delivery_attempt(delivery_id=delivery.pk)

    assert not receiver.released.is_set()
    assert (attempt.status_code, attempt.succeeded) == (None, False)
    assert attempt.error == "timed out after 0.5 s"


def test_a_receiver_that_streams_100_mb_is_read_for_64_kb_and_20_kb_are_kept(
    monkeypatch, tenant, receiver, make_endpoint
):
    # Count what comes off the socket, at the edge (httpcore's socket stream).
    read = []
    real_read = httpcore._backends.sync.SyncStream.read

    def counting_read(self, max_bytes, timeout=None):
        data = real_read(self, max_bytes, timeout)
        read.append(len(data))
        return data

    monkeypatch.setattr(httpcore._backends.sync.SyncStream, "read", counting_read)
    receiver.reply("/hook", Reply(stream_bytes=100 * 1024 * 1024))
    make_endpoint(tenant)
    delivery = emit_one(tenant)

    attempt = delivery_attempt(delivery_id=delivery.pk)

    assert sum(read) <= 64 * 1024
    assert (attempt.status_code, attempt.succeeded) == (200, True)
    assert len(attempt.response_body) == 20 * 1024
    assert "64 KB" in attempt.error
    delivery.refresh_from_db()
    assert delivery.status == "succeeded"


def test_the_response_is_logged_without_the_secret(tenant, receiver, make_endpoint):
    receiver.reply("/hook", Reply(status=500, body=b'{"error": "boom"}'))
    _, secret = make_endpoint(tenant)
    delivery = emit_one(tenant)

    attempt = delivery_attempt(delivery_id=delivery.pk)

    assert attempt.response_body == '{"error": "boom"}'
    assert attempt.error == "HTTP 500"
    assert attempt.duration_ms >= 0
    assert attempt.request_headers["X-MRRX-Event-Type"] == "session.completed"
    assert "X-MRRX-Signature" in attempt.request_headers
    assert secret not in str(attempt.request_headers)
    assert secret.removeprefix("whsec_") not in str(attempt.request_headers)


def test_a_succeeded_delivery_is_never_sent_again(tenant, receiver, make_endpoint, clock):
    make_endpoint(tenant)
    delivery = emit_one(tenant)
    assert delivery_attempt(delivery_id=delivery.pk).succeeded

    # A duplicate message for the same attempt, a message without one, and the dispatcher
    # long after: none sends it.
    assert delivery_attempt(delivery_id=delivery.pk, attempt=0) is None
    assert delivery_attempt(delivery_id=delivery.pk) is None
    clock.advance(days=2)
    assert deliveries_dispatch_due() == 0
    assert len(receiver.requests) == 1
    assert DeliveryAttempt.objects.filter(delivery=delivery).count() == 1


def test_a_stale_message_for_an_attempt_already_made_does_nothing(tenant, receiver, make_endpoint):
    receiver.default = Reply(status=500)
    make_endpoint(tenant)
    delivery = emit_one(tenant)
    delivery_attempt(delivery_id=delivery.pk, attempt=0)

    assert delivery_attempt(delivery_id=delivery.pk, attempt=0) is None

    assert len(receiver.requests) == 1


def test_an_attempt_in_flight_is_not_sent_twice(tenant, receiver, make_endpoint):
    make_endpoint(tenant)
    delivery = emit_one(tenant)
    Delivery.objects.filter(pk=delivery.pk).update(
        locked_until=timezone.now() + timedelta(minutes=1)
    )

    assert delivery_attempt(delivery_id=delivery.pk, attempt=0) is None
    assert receiver.requests == []


def test_a_rotated_secret_signs_beside_the_new_one_for_24_hours_then_stops(
    tenant, receiver, make_endpoint
):
    endpoint, old = make_endpoint(tenant)
    new = endpoint_rotate_secret(endpoint=endpoint)
    assert new != old and new.startswith("whsec_")
    endpoint.refresh_from_db()
    assert endpoint.previous_secret_expires_at - endpoint.secret_rotated_at == timedelta(hours=24)

    delivery_attempt(delivery_id=emit_one(tenant).pk)
    got = receiver.requests[-1]
    payload, header = got.body.decode(), got.headers["x-mrrx-signature"]
    assert len(v1_signatures(header)) == 2
    assert verify_any_v1(payload, header, old)
    assert verify_any_v1(payload, header, new)
    assert reference_verify(payload, header, new)  # the new secret's signature comes first
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(got.body, got.headers)
    Webhook(new).verify(got.body, got.headers)

    # 24 hours on.
    Endpoint.objects.filter(pk=endpoint.pk).update(
        previous_secret_expires_at=timezone.now() - timedelta(seconds=1)
    )
    delivery_attempt(delivery_id=emit_one(tenant).pk)
    got = receiver.requests[-1]
    payload, header = got.body.decode(), got.headers["x-mrrx-signature"]
    assert len(v1_signatures(header)) == 1
    assert reference_verify(payload, header, new)
    assert not verify_any_v1(payload, header, old)
    Webhook(new).verify(got.body, got.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(got.body, got.headers)


def test_an_endpoint_failing_for_five_days_is_disabled_and_its_members_told(
    tenant, member, receiver, make_endpoint, clock, django_capture_on_commit_callbacks
):
    receiver.default = Reply(status=500)
    endpoint, _ = make_endpoint(tenant)
    start = clock.now
    delivery_attempt(delivery_id=emit_one(tenant).pk)
    endpoint.refresh_from_db()
    assert endpoint.failing_since == start

    clock.advance(days=4, hours=23)
    delivery_attempt(delivery_id=emit_one(tenant).pk)
    endpoint.refresh_from_db()
    assert endpoint.enabled

    clock.advance(hours=1)
    with django_capture_on_commit_callbacks(execute=True):
        delivery_attempt(delivery_id=emit_one(tenant).pk)

    endpoint.refresh_from_db()
    assert endpoint.enabled is False
    assert "5 days" in endpoint.disabled_reason
    assert [m.to for m in mail.outbox] == [[member.user.email]]
    assert not Delivery.objects.filter(endpoint=endpoint, status="pending").exists()


def test_a_success_ends_the_run_of_failures(tenant, receiver, make_endpoint, clock):
    endpoint, _ = make_endpoint(tenant)
    receiver.reply("/hook", Reply(status=500))
    delivery_attempt(delivery_id=emit_one(tenant).pk)
    clock.advance(days=3)
    delivery_attempt(delivery_id=emit_one(tenant).pk)  # succeeds
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None

    receiver.default = Reply(status=500)
    clock.advance(days=1)
    delivery_attempt(delivery_id=emit_one(tenant).pk)
    clock.advance(days=3)
    delivery_attempt(delivery_id=emit_one(tenant).pk)

    endpoint.refresh_from_db()
    assert endpoint.enabled  # failing for three days only
