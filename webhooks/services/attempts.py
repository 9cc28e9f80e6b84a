"""One delivery attempt: claimed with a conditional update, signed, sent, logged, and the
next one scheduled in ``next_attempt_at``; endpoints that keep failing are disabled."""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from mrrx.formats import iso_timestamp
from mrrx.metrics import record_webhook_attempt

from .. import transport
from ..models import Delivery, DeliveryAttempt, Endpoint, Event
from ..selectors import endpoint_signing_secrets
from ..signing import mrrx_signature, standard_signature
from .endpoints import endpoint_disable

logger = logging.getLogger(__name__)

USER_AGENT = "MRRX-Webhook/1.0"


def retry_after_seconds(value: str | None, *, now: datetime) -> float | None:
    """A ``Retry-After`` header (delta seconds or HTTP date) as seconds from ``now``."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def _next_wait(*, run_attempts: int, status_code: int | None, headers: Mapping[str, str],
               now: datetime) -> float | None:  # fmt: skip
    """Seconds until the next attempt after ``run_attempts`` failed ones, or None when
    the schedule is spent."""
    schedule = settings.WEBHOOK_RETRY_SCHEDULE
    if run_attempts > len(schedule):
        return None
    jitter = settings.WEBHOOK_RETRY_JITTER
    wait = schedule[run_attempts - 1] * random.uniform(1 - jitter, 1 + jitter)
    if status_code in (429, 503):
        asked = retry_after_seconds(headers.get("retry-after"), now=now)
        if asked is not None:
            # The receiver knows when it can take more; it may not stall the schedule.
            wait = min(asked, 2 * wait)
    return wait


def _request_headers(
    *,
    delivery: Delivery,
    event: Event,
    body: bytes,
    secrets: list[str],
    number: int,
    at: datetime,
) -> dict[str, str]:
    timestamp = int(at.timestamp())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Accept-Encoding": "identity",
        "X-MRRX-Signature": mrrx_signature(body=body, secrets=secrets, timestamp=timestamp),
        "X-MRRX-Event-Type": event.type,
        "X-MRRX-Delivery-ID": delivery.pk,
        "webhook-id": event.pk,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": standard_signature(
            msg_id=event.pk, body=body, secrets=secrets, timestamp=timestamp
        ),
    }
    retry = number - delivery.retry_base - 1
    if retry > 0:
        headers["X-MRRX-Retry-Attempt"] = str(retry)
    return headers


def delivery_attempt(*, delivery_id: str, attempt: int | None = None) -> DeliveryAttempt | None:
    """Make one attempt at a delivery: claim, sign, send, log, schedule the next.

    ``attempt`` is the number of attempts already made when the message was queued; a
    message whose attempt was made meanwhile (a duplicate) does nothing. Returns the
    logged attempt, or None when there was nothing to do.
    """
    now = timezone.now()
    if attempt is None:
        attempt = (
            Delivery.objects.filter(pk=delivery_id, status=Delivery.Status.PENDING)
            .values_list("attempt_count", flat=True)
            .first()
        )
        if attempt is None:
            return None
    # Held for longer than a send can take, so that only a crashed attempt is taken over.
    lock = now + timedelta(seconds=settings.WEBHOOK_TIMEOUT + 60)
    if not _attempt_claim(delivery_id=delivery_id, attempt=attempt, now=now, lock=lock):
        logger.info("Delivery %s attempt %d: already made, running, finished or gone.",
                    delivery_id, attempt + 1)  # fmt: skip
        return None
    delivery = _attempt_load(delivery_id=delivery_id, attempt=attempt)
    if delivery is None:
        return None
    endpoint, event = delivery.endpoint, delivery.event
    number = attempt + 1
    if not endpoint.enabled:
        Delivery.objects.filter(pk=delivery.pk, attempt_count=attempt).update(
            status=Delivery.Status.FAILED, next_attempt_at=None, locked_until=None,
            completed_at=now, last_error=f"Endpoint disabled: {endpoint.disabled_reason}",
        )  # fmt: skip
        return None
    secrets = endpoint_signing_secrets(endpoint=endpoint, at=now)
    body = event.body.encode()
    result = transport.post(
        endpoint.url,
        body=body,
        headers=_request_headers(
            delivery=delivery, event=event, body=body, secrets=secrets, number=number, at=now
        ),
        timeout=settings.WEBHOOK_TIMEOUT,
        allow_loopback=settings.WEBHOOK_ALLOW_LOOPBACK,
        require_https=endpoint.livemode,
    )
    return _attempt_record(delivery=delivery, number=number, started_at=now, result=result)


def _attempt_record(
    *, delivery: Delivery, number: int, started_at: datetime, result: transport.SendResult
) -> DeliveryAttempt:
    endpoint = delivery.endpoint
    now = timezone.now()
    code = result.status_code
    succeeded = code is not None and 200 <= code < 300
    wait = None
    if not succeeded and code != 410:
        wait = _next_wait(
            run_attempts=number - delivery.retry_base,
            status_code=code,
            headers=result.headers,
            now=now,
        )
    if succeeded:
        status = Delivery.Status.SUCCEEDED
    elif wait is None:
        status = Delivery.Status.FAILED
    else:
        status = Delivery.Status.PENDING
    error = result.error
    if not error and code is not None and not succeeded:
        error = f"HTTP {code}" + (" (redirects are not followed)" if 300 <= code < 400 else "")
    logged = DeliveryAttempt(
        delivery=delivery,
        number=number,
        started_at=started_at,
        duration_ms=result.duration_ms,
        request_url=endpoint.url,
        request_headers=result.request_headers,
        status_code=code,
        response_headers=result.headers,
        response_body=result.body,
        error=error,
        succeeded=succeeded,
    )
    _attempt_save(
        attempt=logged,
        status=status,
        next_attempt_at=None if wait is None else now + timedelta(seconds=wait),
        completed_at=None if status == Delivery.Status.PENDING else now,
    )
    record_webhook_attempt(status_code=code, seconds=result.duration_ms / 1000)
    _endpoint_record_outcome(endpoint=endpoint, succeeded=succeeded, status_code=code, at=now)
    return logged


# The three statements every attempt makes are written out in SQL (portable between
# PostgreSQL and SQLite): through the ORM they cost 2.6 ms of worker CPU per attempt, the
# SQL 0.7 ms, and the worker is CPU-bound (bench/webhooks.py). Each means exactly what the
# ORM query in its docstring would.
def _attempt_claim(*, delivery_id: str, attempt: int, now: datetime, lock: datetime) -> bool:
    """``Delivery.objects.filter(pk=delivery_id, status=PENDING, attempt_count=attempt)
    .filter(Q(locked_until=None) | Q(locked_until__lt=now)).update(locked_until=lock) == 1``"""
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE webhooks_delivery SET locked_until = %s"
            " WHERE id = %s AND status = %s AND attempt_count = %s"
            " AND (locked_until IS NULL OR locked_until < %s)",
            [adapt(lock), delivery_id, Delivery.Status.PENDING, attempt, adapt(now)],
        )
        return cursor.rowcount == 1


def _from_db_datetime(value: Any) -> datetime | None:
    if isinstance(value, str):  # SQLite
        value = parse_datetime(value)
    if value is not None and timezone.is_naive(value):
        value = value.replace(tzinfo=UTC)
    return value


def _attempt_load(*, delivery_id: str, attempt: int) -> Delivery | None:
    """``Delivery.objects.select_related("event", "endpoint").get(pk=delivery_id)``, with
    only the fields an attempt uses."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT d.retry_base, d.event_id, e.tenant_id, e.livemode, e.type, e.body,"
            " d.endpoint_id, ep.url, ep.enabled, ep.disabled_reason, ep.secret_encrypted,"
            " ep.previous_secret_encrypted, ep.previous_secret_expires_at, ep.failing_since"
            " FROM webhooks_delivery d"
            " JOIN webhooks_event e ON e.id = d.event_id"
            " JOIN webhooks_endpoint ep ON ep.id = d.endpoint_id"
            " WHERE d.id = %s",
            [delivery_id],
        )
        row = cursor.fetchone()
    if row is None:  # deleted (with its endpoint or workspace) since the claim
        return None
    (retry_base, event_id, tenant_id, livemode, event_type, body, endpoint_id, url, enabled,
     disabled_reason, secret, previous_secret, previous_expires, failing_since) = row  # fmt: skip
    event = Event(id=event_id, tenant_id=tenant_id, livemode=bool(livemode), type=event_type,
                  body=body)  # fmt: skip
    endpoint = Endpoint(
        id=endpoint_id,
        tenant_id=tenant_id,
        livemode=bool(livemode),
        url=url,
        enabled=bool(enabled),
        disabled_reason=disabled_reason,
        secret_encrypted=secret,
        previous_secret_encrypted=previous_secret,
        previous_secret_expires_at=_from_db_datetime(previous_expires),
        failing_since=_from_db_datetime(failing_since),
    )
    for instance in (event, endpoint):
        instance._state.adding = False
    delivery = Delivery(id=delivery_id, event=event, endpoint=endpoint, retry_base=retry_base,
                        attempt_count=attempt)  # fmt: skip
    delivery._state.adding = False
    return delivery


def _attempt_save(
    *,
    attempt: DeliveryAttempt,
    status: str,
    next_attempt_at: datetime | None,
    completed_at: datetime | None,
) -> None:
    """``attempt.save()`` and, in the same transaction, ``Delivery.objects.filter(
    pk=..., attempt_count=attempt.number - 1).update(attempt_count=attempt.number,
    status=status, next_attempt_at=..., locked_until=None, last_...=..., completed_at=...)``"""
    adapt = connection.ops.adapt_datetimefield_value
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO webhooks_deliveryattempt (delivery_id, number, started_at,"
            " duration_ms, request_url, request_headers, status_code, response_headers,"
            " response_body, error, succeeded)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            [
                attempt.delivery_id,
                attempt.number,
                adapt(attempt.started_at),
                attempt.duration_ms,
                attempt.request_url,
                json.dumps(attempt.request_headers),
                attempt.status_code,
                json.dumps(attempt.response_headers),
                attempt.response_body,
                attempt.error,
                attempt.succeeded,
            ],
        )
        attempt.pk = cursor.fetchone()[0]
        attempt._state.adding = False
        cursor.execute(
            "UPDATE webhooks_delivery SET attempt_count = %s, status = %s,"
            " next_attempt_at = %s, locked_until = NULL, last_attempt_at = %s,"
            " last_status_code = %s, last_error = %s, completed_at = %s"
            " WHERE id = %s AND attempt_count = %s",
            [
                attempt.number,
                status,
                adapt(next_attempt_at),
                adapt(attempt.started_at),
                attempt.status_code,
                attempt.error,
                adapt(completed_at),
                attempt.delivery_id,
                attempt.number - 1,
            ],
        )


def _endpoint_record_outcome(
    *, endpoint: Endpoint, succeeded: bool, status_code: int | None, at: datetime
) -> None:
    """Track the endpoint's run of failures; disable it on 410 or after five days of them."""
    if succeeded:
        if endpoint.failing_since is not None:
            Endpoint.objects.filter(pk=endpoint.pk).update(failing_since=None)
        return
    if status_code == 410:
        endpoint_disable(
            endpoint=endpoint,
            reason=f"The endpoint answered 410 Gone at {iso_timestamp(at)}.",
            notify=True,
        )
    elif endpoint.failing_since is None:
        Endpoint.objects.filter(pk=endpoint.pk, failing_since__isnull=True).update(failing_since=at)
    elif at - endpoint.failing_since >= settings.WEBHOOK_DISABLE_AFTER:
        days = settings.WEBHOOK_DISABLE_AFTER.days
        endpoint_disable(
            endpoint=endpoint,
            reason=f"Every attempt failed for {days} days "
            f"(since {iso_timestamp(endpoint.failing_since)}).",
            notify=True,
        )
