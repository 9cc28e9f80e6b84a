"""Everything that writes webhook endpoints, events and deliveries (SPEC section 6).

The delivery pipeline:
1. ``event_emit`` writes the event and one pending delivery per subscribed endpoint in the
   caller's transaction, and queues each first attempt once that transaction commits.
2. ``delivery_attempt`` (task ``webhooks.tasks.delivery_attempt``) claims one attempt with
   a conditional update, signs, sends, logs it and schedules the next one in
   ``next_attempt_at``.
3. ``deliveries_dispatch_due`` (Celery beat, every few seconds) queues every attempt that
   is due: retries, and anything whose message the broker never got or lost.
Messages carry the attempt number they are for; a duplicate or stale one finds the
delivery moved on and does nothing, and nothing sends a finished delivery again.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage, get_connection
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import URLValidator
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from mrrx.crypto import encrypt
from mrrx.formats import iso_timestamp
from mrrx.ids import new_id
from tenants.models import Membership, Tenant

from . import ssrf, transport
from .events import build_data, event_type_names
from .models import Delivery, DeliveryAttempt, Endpoint, Event
from .selectors import endpoint_signing_secrets, endpoints_subscribed
from .signing import generate_secret, mrrx_signature, standard_signature

logger = logging.getLogger(__name__)

USER_AGENT = "MRRX-Webhook/1.0"
MAX_URL_LENGTH = 2000


# --- Endpoints -----------------------------------------------------------------------------
def endpoint_validate(
    *, livemode: bool, url: str, event_types: Iterable[str] | None
) -> tuple[str, list[str]]:
    """Check an endpoint's URL and event types; return them cleaned.

    Raises ``ValidationError`` keyed by field, for forms and the command to show.
    Hosts are resolved and checked again at every send; here only an address written
    into the URL is refused, so that saving never depends on DNS.
    """
    errors: dict[str, str] = {}
    url = (url or "").strip()
    try:
        if len(url) > MAX_URL_LENGTH:
            raise ValidationError("too long")
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        errors["url"] = f"Enter a valid http:// or https:// URL (at most {MAX_URL_LENGTH} chars)."
    else:
        parts = urlsplit(url)
        literal = ssrf.literal_address(parts.hostname or "")
        reason = literal and ssrf.refusal_reason(
            literal, allow_loopback=settings.WEBHOOK_ALLOW_LOOPBACK
        )
        if livemode and parts.scheme != "https":
            errors["url"] = "Live-mode endpoints must use an https:// URL."
        elif parts.username or parts.password:
            errors["url"] = "Put no credentials in the URL; verify the signature instead."
        elif reason:
            errors["url"] = f"MRRX does not send webhooks to this address ({reason})."
    types = list(dict.fromkeys(event_types or []))
    unknown = [name for name in types if name not in event_type_names()]
    if unknown:
        errors["event_types"] = (
            f"Unknown event types: {', '.join(unknown)}. "
            f"Known types: {', '.join(event_type_names())}."
        )
    if errors:
        raise ValidationError(errors)
    return url, types


def endpoint_create(
    *,
    tenant: Tenant,
    livemode: bool,
    url: str,
    description: str = "",
    event_types: Iterable[str] | None = None,
    created_by: Any = None,
) -> tuple[Endpoint, str]:
    """Create an endpoint; returns it with its secret, which exists in plaintext only in
    this return value (it is stored encrypted)."""
    url, types = endpoint_validate(livemode=livemode, url=url, event_types=event_types)
    secret = generate_secret()
    endpoint = Endpoint.objects.create(
        tenant=tenant,
        livemode=livemode,
        url=url,
        description=description.strip(),
        event_types=types,
        secret_encrypted=encrypt(secret),
        created_by=created_by,
    )
    return endpoint, secret


def endpoint_update(
    *,
    endpoint: Endpoint,
    url: str | None = None,
    description: str | None = None,
    event_types: Iterable[str] | None = None,
) -> Endpoint:
    """Change an endpoint's URL, description or event types (None leaves a field as is)."""
    new_url, types = endpoint_validate(
        livemode=endpoint.livemode,
        url=endpoint.url if url is None else url,
        event_types=endpoint.event_types if event_types is None else event_types,
    )
    endpoint.url, endpoint.event_types = new_url, types
    if description is not None:
        endpoint.description = description.strip()
    endpoint.updated_at = timezone.now()
    endpoint.save(update_fields=["url", "event_types", "description", "updated_at"])
    return endpoint


def endpoint_rotate_secret(*, endpoint: Endpoint) -> str:
    """Give the endpoint a new secret and return it (shown once).

    The old secret keeps signing beside the new one for
    ``WEBHOOK_SECRET_ROTATION_OVERLAP`` (24 hours), so receivers can switch without
    dropping events. Rotating again within that time retires the oldest secret at once.
    """
    secret = generate_secret()
    now = timezone.now()
    with transaction.atomic():
        locked = Endpoint.objects.select_for_update().get(pk=endpoint.pk)
        locked.previous_secret_encrypted = locked.secret_encrypted
        locked.previous_secret_expires_at = now + settings.WEBHOOK_SECRET_ROTATION_OVERLAP
        locked.secret_encrypted = encrypt(secret)
        locked.secret_rotated_at = now
        locked.updated_at = now
        locked.save(
            update_fields=[
                "previous_secret_encrypted",
                "previous_secret_expires_at",
                "secret_encrypted",
                "secret_rotated_at",
                "updated_at",
            ]
        )
    for name in ("previous_secret_encrypted", "previous_secret_expires_at", "secret_encrypted",
                 "secret_rotated_at", "updated_at"):  # fmt: skip
        setattr(endpoint, name, getattr(locked, name))
    return secret


def endpoint_disable(*, endpoint: Endpoint, reason: str, notify: bool = False) -> bool:
    """Stop sending to an endpoint; its pending deliveries fail with ``reason``.

    Returns whether this call disabled it (False when it already was). With ``notify``,
    the workspace's members are emailed once the change commits.
    """
    now = timezone.now()
    reason = reason[:300]
    with transaction.atomic():
        changed = Endpoint.objects.filter(pk=endpoint.pk, enabled=True).update(
            enabled=False, disabled_at=now, disabled_reason=reason, updated_at=now
        )
        if changed:
            Delivery.objects.filter(endpoint_id=endpoint.pk, status=Delivery.Status.PENDING).update(
                status=Delivery.Status.FAILED,
                next_attempt_at=None,
                completed_at=now,
                last_error=f"Endpoint disabled: {reason}",
            )
            if notify:
                endpoint_id = endpoint.pk
                transaction.on_commit(lambda: _notify_endpoint_disabled(endpoint_id=endpoint_id))
    endpoint.refresh_from_db(fields=["enabled", "disabled_at", "disabled_reason", "updated_at"])
    return bool(changed)


def endpoint_enable(*, endpoint: Endpoint) -> Endpoint:
    """Send to the endpoint again (failed deliveries stay failed until resent)."""
    now = timezone.now()
    Endpoint.objects.filter(pk=endpoint.pk).update(
        enabled=True, disabled_at=None, disabled_reason="", failing_since=None, updated_at=now
    )
    endpoint.refresh_from_db()
    return endpoint


def _notify_endpoint_disabled(*, endpoint_id: str) -> None:
    endpoint = Endpoint.objects.select_related("tenant").filter(pk=endpoint_id).first()
    if endpoint is None:
        return
    recipients = sorted(
        set(
            Membership.objects.filter(tenant_id=endpoint.tenant_id)
            .exclude(user__email="")
            .values_list("user__email", flat=True)
        )
    )
    if not recipients:
        return
    subject = f"[MRRX] Webhook endpoint disabled: {endpoint.url}"
    body = (
        f"The {endpoint.mode}-mode webhook endpoint {endpoint.url} ({endpoint.pk}) of the "
        f"workspace {endpoint.tenant.name} was disabled on "
        f"{iso_timestamp(endpoint.disabled_at)}.\n\n"
        f"Reason: {endpoint.disabled_reason}\n\n"
        "No events are sent to it until it is enabled again in the admin. After enabling "
        'it, use "Resend failed deliveries since..." to send what it missed.\n'
    )
    # One message per member, so that members do not see each other's addresses.
    messages = [EmailMessage(subject, body, None, [recipient]) for recipient in recipients]
    try:
        get_connection().send_messages(messages)
    except Exception:
        logger.exception("Could not email the members of %s about endpoint %s",
                         endpoint.tenant_id, endpoint.pk)  # fmt: skip


# --- Events --------------------------------------------------------------------------------
class _PayloadEncoder(DjangoJSONEncoder):
    def default(self, o: Any) -> Any:
        if isinstance(o, datetime):
            return iso_timestamp(o)
        if isinstance(o, date):
            return o.isoformat()
        return super().default(o)


def event_emit(*, tenant: Tenant, livemode: bool, type: str, data: Mapping[str, Any]) -> Event:
    """Record an event and its deliveries in the caller's transaction.

    ``type`` must be registered in ``webhooks.events``; ``data`` holds any of its
    ``DATA_KEYS`` (absent ones are sent as null, unknown ones are an error). One delivery
    is written per enabled endpoint of ``tenant`` and mode that subscribes to ``type``.
    Nothing is sent before the transaction commits; if it rolls back, nothing was.
    """
    return event_emit_many(type=type, items=[(tenant.pk, livemode, data)])[0]


def event_emit_many(
    *, type: str, items: Sequence[tuple[str, bool, Mapping[str, Any]]]
) -> list[Event]:
    """``event_emit`` for many events of one type at once: ``items`` are
    ``(tenant id, livemode, data)``. A few statements however many events (sweeps)."""
    now = timezone.now()
    created_at = iso_timestamp(now)
    events = []
    for tenant_id, livemode, data in items:
        payload_data = build_data(type, data, livemode=livemode)
        event_id = new_id("evt")
        body = json.dumps(
            {"id": event_id, "type": type, "created_at": created_at, "data": payload_data},
            cls=_PayloadEncoder,
            separators=(",", ":"),
        )
        events.append(
            Event(
                id=event_id,
                tenant_id=tenant_id,
                livemode=livemode,
                type=type,
                session_id=str(payload_data.get("session_id") or "")[:64],
                body=body,
                created_at=now,
            )
        )
    # The on-commit message normally sends the first attempt; the dispatcher takes over
    # only if that message never arrives.
    first_due = now + settings.WEBHOOK_REQUEUE_AFTER
    subscribers: dict[tuple[str, bool], list[Endpoint]] = {}
    # Part of the caller's transaction, not a savepoint of its own: a failure here must
    # undo the caller's change too (and two round trips fewer on every emit).
    with transaction.atomic(savepoint=False):
        Event.objects.bulk_create(events, batch_size=2000)
        deliveries = []
        for event in events:
            scope = (event.tenant_id, event.livemode)
            if scope not in subscribers:
                subscribers[scope] = endpoints_subscribed(
                    tenant_id=scope[0], livemode=scope[1], event_type=type
                )
            deliveries.extend(
                Delivery(event=event, endpoint_id=ep.pk, next_attempt_at=first_due, created_at=now)
                for ep in subscribers[scope]
            )
        deliveries = Delivery.objects.bulk_create(deliveries, batch_size=2000)
        _enqueue_on_commit([(delivery.pk, 0) for delivery in deliveries])
    return events


def event_resend(*, event: Event) -> list[Delivery]:
    """Send ``event`` again to the endpoints that now subscribe to it.

    Per endpoint: a failed delivery is queued again with a fresh schedule; where the last
    delivery succeeded (or there was none), a new delivery is made; one still pending is
    left to run. Returns the deliveries queued.
    """
    now = timezone.now()
    due = now + settings.WEBHOOK_REQUEUE_AFTER
    queued: list[Delivery] = []
    jobs: list[tuple[str, int]] = []
    with transaction.atomic():
        latest = {d.endpoint_id: d for d in event.deliveries.order_by("created_at", "id")}
        for endpoint in endpoints_subscribed(
            tenant_id=event.tenant_id, livemode=event.livemode, event_type=event.type
        ):
            previous = latest.get(endpoint.pk)
            if previous is not None and previous.status == Delivery.Status.PENDING:
                continue
            if previous is not None and previous.status == Delivery.Status.FAILED:
                if _delivery_requeue(delivery=previous, due=due):
                    queued.append(previous)
                    jobs.append((previous.pk, previous.attempt_count))
                continue
            try:
                with transaction.atomic():
                    delivery = Delivery.objects.create(
                        event=event, endpoint=endpoint, next_attempt_at=due, created_at=now
                    )
            except IntegrityError:  # a concurrent resend queued it first
                continue
            queued.append(delivery)
            jobs.append((delivery.pk, 0))
        _enqueue_on_commit(jobs)
    return queued


def _delivery_requeue(*, delivery: Delivery, due: datetime) -> bool:
    changed = Delivery.objects.filter(
        pk=delivery.pk, status=Delivery.Status.FAILED, attempt_count=delivery.attempt_count
    ).update(
        status=Delivery.Status.PENDING,
        retry_base=F("attempt_count"),
        next_attempt_at=due,
        locked_until=None,
        completed_at=None,
    )
    if changed:
        delivery.refresh_from_db()
    return bool(changed)


def endpoint_resend_failed(*, endpoint: Endpoint, since: datetime) -> int:
    """Queue again every failed delivery to ``endpoint`` of an event made at or after
    ``since``, each with a fresh schedule. Returns how many."""
    if not endpoint.enabled:
        raise ValidationError("Enable the endpoint before resending to it.")
    pending_sibling = Delivery.objects.filter(
        event_id=OuterRef("event_id"),
        endpoint_id=OuterRef("endpoint_id"),
        status=Delivery.Status.PENDING,
    )
    with transaction.atomic():
        count = (
            Delivery.objects.filter(
                endpoint=endpoint, status=Delivery.Status.FAILED, event__created_at__gte=since
            )
            .exclude(Exists(pending_sibling))
            .update(
                status=Delivery.Status.PENDING,
                retry_base=F("attempt_count"),
                next_attempt_at=timezone.now(),
                locked_until=None,
                completed_at=None,
            )
        )
        if count:
            # There may be thousands: the dispatcher queues them in batches, starting now.
            transaction.on_commit(_dispatch_soon)
    return count


def _dispatch_soon() -> None:
    from .tasks import deliveries_dispatch_due_task

    try:
        deliveries_dispatch_due_task.delay()
    except Exception:
        logger.warning("Could not queue the dispatcher; the beat schedule will run it.")


# --- Queueing and dispatch -----------------------------------------------------------------
def _enqueue_on_commit(jobs: list[tuple[str, int]]) -> None:
    if jobs:
        transaction.on_commit(lambda: _enqueue(jobs))


def _enqueue(jobs: list[tuple[str, int]]) -> int:
    """Publish one attempt message per (delivery id, attempt number); returns how many.

    On a broker failure the rest are made due now, so the dispatcher queues them as soon
    as the broker is back, rather than after the requeue delay.
    """
    from .tasks import delivery_attempt_task

    for sent, (delivery_id, attempt) in enumerate(jobs):
        try:
            delivery_attempt_task.apply_async(
                kwargs={"delivery_id": delivery_id, "attempt": attempt}
            )
        except Exception:
            unsent = [pk for pk, _ in jobs[sent:]]
            logger.warning("Broker unavailable: %d delivery attempt(s) left to the dispatcher.",
                           len(unsent), exc_info=True)  # fmt: skip
            try:
                Delivery.objects.filter(pk__in=unsent, status=Delivery.Status.PENDING).update(
                    next_attempt_at=timezone.now()
                )
            except Exception:  # the requeue delay still brings them back
                logger.exception("Could not mark unqueued deliveries due.")
            return sent
    return len(jobs)


def deliveries_dispatch_due() -> int:
    """Queue every delivery attempt that is due; the body of the beat task.

    Rows are claimed under ``select_for_update(skip_locked=True)`` by moving
    ``next_attempt_at`` forward by the requeue delay, so concurrent dispatchers never
    queue the same row, and a message lost after this still comes back. Returns the
    number queued.
    """
    batch = settings.WEBHOOK_DISPATCH_BATCH
    total = 0
    for _ in range(settings.WEBHOOK_DISPATCH_MAX_BATCHES):
        now = timezone.now()
        with transaction.atomic():
            due = list(
                Delivery.objects.select_for_update(skip_locked=True)
                .filter(status=Delivery.Status.PENDING, next_attempt_at__lte=now)
                .order_by("next_attempt_at")
                .values_list("pk", "attempt_count")[:batch]
            )
            if due:
                Delivery.objects.filter(pk__in=[pk for pk, _ in due]).update(
                    next_attempt_at=now + settings.WEBHOOK_REQUEUE_AFTER
                )
        sent = _enqueue(due) if due else 0
        total += sent
        if sent < batch:
            break
    return total


# --- Attempts ------------------------------------------------------------------------------
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
