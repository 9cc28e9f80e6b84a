"""One delivery attempt: claimed with a conditional update, signed, sent, logged, and the
next one scheduled in ``next_attempt_at``; endpoints that keep failing are disabled."""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
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
from ..models import Delivery, Endpoint
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


@dataclass(frozen=True)
class _Claimed:
    """What an attempt needs of its delivery, event and endpoint, read by the claim."""

    delivery_id: str
    attempt_count: int
    retry_base: int
    event_id: str
    tenant_id: str
    livemode: bool
    event_type: str
    body: str
    endpoint_id: str
    url: str
    enabled: bool
    disabled_reason: str
    # Read by endpoint_signing_secrets.
    secret_encrypted: str
    previous_secret_encrypted: str
    previous_secret_expires_at: datetime | None
    failing_since: datetime | None


@dataclass(frozen=True)
class AttemptMade:
    """One logged attempt, as ``delivery_attempt`` returns it: the fields of its
    :class:`~webhooks.models.DeliveryAttempt` row (``pk`` its id)."""

    pk: int
    delivery_id: str
    number: int
    started_at: datetime
    duration_ms: int
    request_url: str
    request_headers: dict[str, str]
    status_code: int | None
    response_headers: dict[str, str]
    response_body: str
    error: str
    succeeded: bool

    @property
    def id(self) -> int:
        return self.pk


def _request_headers(
    *, claimed: _Claimed, body: bytes, secrets: list[str], number: int, at: datetime
) -> dict[str, str]:
    timestamp = int(at.timestamp())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Accept-Encoding": "identity",
        "X-MRRX-Signature": mrrx_signature(body=body, secrets=secrets, timestamp=timestamp),
        "X-MRRX-Event-Type": claimed.event_type,
        "X-MRRX-Delivery-ID": claimed.delivery_id,
        "webhook-id": claimed.event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": standard_signature(
            msg_id=claimed.event_id, body=body, secrets=secrets, timestamp=timestamp
        ),
    }
    retry = number - claimed.retry_base - 1
    if retry > 0:
        headers["X-MRRX-Retry-Attempt"] = str(retry)
    return headers


def delivery_attempt(*, delivery_id: str, attempt: int | None = None) -> AttemptMade | None:
    """Make one attempt at a delivery: claim, sign, send, log, schedule the next.

    ``attempt`` is the number of attempts already made when the message was queued; a
    message whose attempt was made meanwhile (a duplicate) does nothing. Returns the
    logged attempt, or None when there was nothing to do.

    Three statements, none of them through model instances: the claim (which reads what
    the attempt needs in the same statement), the request, and the attempt logged with
    its outcome (one statement on PostgreSQL).
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
    claimed = _attempt_claim(delivery_id=delivery_id, attempt=attempt, now=now, lock=lock)
    if claimed is None:
        logger.info("Delivery %s attempt %d: already made, running, finished or gone.",
                    delivery_id, attempt + 1)  # fmt: skip
        return None
    number = attempt + 1
    result = _attempt_send(claimed, number=number, now=now)
    if result is None:
        return None
    return _attempt_record(claimed=claimed, number=number, started_at=now, result=result)


def _attempt_send(claimed: _Claimed, *, number: int, now: datetime) -> transport.SendResult | None:
    """Sign and send one claimed attempt; None (and the delivery failed) when its endpoint
    was disabled meanwhile."""
    if not claimed.enabled:
        Delivery.objects.filter(pk=claimed.delivery_id, attempt_count=number - 1).update(
            status=Delivery.Status.FAILED, next_attempt_at=None, locked_until=None,
            completed_at=now, last_error=f"Endpoint disabled: {claimed.disabled_reason}",
        )  # fmt: skip
        return None
    secrets = endpoint_signing_secrets(endpoint=claimed, at=now)  # type: ignore[arg-type]
    body = claimed.body.encode()
    return transport.post(
        claimed.url,
        body=body,
        headers=_request_headers(
            claimed=claimed, body=body, secrets=secrets, number=number, at=now
        ),
        timeout=settings.WEBHOOK_TIMEOUT,
        allow_loopback=settings.WEBHOOK_ALLOW_LOOPBACK,
        require_https=claimed.livemode,
    )


def deliveries_attempt(*, jobs: Sequence[tuple[str, int]]) -> list[AttemptMade]:
    """``delivery_attempt`` for several (delivery id, attempt) pairs at once: on PostgreSQL
    one statement claims them all and one logs every attempt with its outcome, whatever
    their number; the requests go one after another. Elsewhere, one by one.

    The claim holds each delivery for as long as the whole batch may take, so that only a
    crashed batch is taken over."""
    if connection.vendor != "postgresql" or len(jobs) == 1:
        made = (delivery_attempt(delivery_id=pk, attempt=attempt) for pk, attempt in jobs)
        return [attempt for attempt in made if attempt is not None]
    now = timezone.now()
    lock = now + timedelta(seconds=len(jobs) * settings.WEBHOOK_TIMEOUT + 60)
    sent: list[tuple[_Claimed, _Outcome, transport.SendResult]] = []
    for claimed in _attempts_claim(jobs=jobs, now=now, lock=lock):
        number = claimed.attempt_count + 1
        started = timezone.now()
        result = _attempt_send(claimed, number=number, now=started)
        if result is not None:
            outcome = _attempt_outcome(
                claimed=claimed, number=number, started_at=started, result=result
            )
            sent.append((claimed, outcome, result))
    if not sent:
        return []
    ids = _attempts_save([outcome for _, outcome, _ in sent])
    made = []
    for claimed, outcome, result in sent:
        _attempt_after(claimed, outcome, result)
        made.append(replace(outcome.attempt, pk=ids.get(claimed.delivery_id, 0)))
    return made


def _attempt_record(
    *, claimed: _Claimed, number: int, started_at: datetime, result: transport.SendResult
) -> AttemptMade:
    outcome = _attempt_outcome(claimed=claimed, number=number, started_at=started_at,
                               result=result)  # fmt: skip
    pk = _attempt_save(
        attempt=outcome.attempt,
        status=outcome.status,
        next_attempt_at=outcome.next_attempt_at,
        completed_at=outcome.completed_at,
    )
    _attempt_after(claimed, outcome, result)
    return replace(outcome.attempt, pk=pk)


@dataclass(frozen=True)
class _Outcome:
    attempt: AttemptMade
    status: str
    next_attempt_at: datetime | None
    completed_at: datetime | None
    at: datetime


def _attempt_after(claimed: _Claimed, outcome: _Outcome, result: transport.SendResult) -> None:
    record_webhook_attempt(status_code=result.status_code, seconds=result.duration_ms / 1000)
    _endpoint_record_outcome(endpoint=claimed, succeeded=outcome.attempt.succeeded,
                             status_code=result.status_code, at=outcome.at)  # fmt: skip


def _attempt_outcome(
    *, claimed: _Claimed, number: int, started_at: datetime, result: transport.SendResult
) -> _Outcome:
    now = timezone.now()
    code = result.status_code
    succeeded = code is not None and 200 <= code < 300
    wait = None
    if not succeeded and code != 410:
        wait = _next_wait(
            run_attempts=number - claimed.retry_base,
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
    logged = AttemptMade(
        pk=0,
        delivery_id=claimed.delivery_id,
        number=number,
        started_at=started_at,
        duration_ms=result.duration_ms,
        request_url=claimed.url,
        request_headers=result.request_headers,
        status_code=code,
        response_headers=result.headers,
        response_body=result.body,
        error=error,
        succeeded=succeeded,
    )
    return _Outcome(
        attempt=logged,
        status=status,
        next_attempt_at=None if wait is None else now + timedelta(seconds=wait),
        completed_at=None if status == Delivery.Status.PENDING else now,
        at=now,
    )


# The statements every attempt makes are written out in SQL: through the ORM they cost
# 2.6 ms of worker CPU per attempt, and the worker is CPU-bound (bench/webhooks.py). Each
# means exactly what the ORM query in its docstring would. PostgreSQL claims and reads in
# one statement (UPDATE ... FROM ... RETURNING); SQLite's RETURNING cannot name the joined
# tables, so there the read follows the claim.
_CLAIM = (
    "UPDATE webhooks_delivery AS d SET locked_until = %s{tables}"
    " WHERE d.id = %s AND d.status = %s AND d.attempt_count = %s"
    " AND (d.locked_until IS NULL OR d.locked_until < %s){join}"
)
_CLAIMED_COLUMNS = (
    "d.retry_base, d.event_id, e.tenant_id, e.livemode, e.type, e.body, d.endpoint_id, ep.url,"
    " ep.enabled, ep.disabled_reason, ep.secret_encrypted, ep.previous_secret_encrypted,"
    " ep.previous_secret_expires_at, ep.failing_since"
)
_CLAIM_SQL_POSTGRESQL = _CLAIM.format(
    tables=" FROM webhooks_event e, webhooks_endpoint ep",
    join=" AND e.id = d.event_id AND ep.id = d.endpoint_id RETURNING " + _CLAIMED_COLUMNS,
)
_CLAIM_SQL = _CLAIM.format(tables="", join="")
_LOAD_SQL = (
    f"SELECT {_CLAIMED_COLUMNS} FROM webhooks_delivery d"  # noqa: S608
    " JOIN webhooks_event e ON e.id = d.event_id"
    " JOIN webhooks_endpoint ep ON ep.id = d.endpoint_id"
    " WHERE d.id = %s"
)


def _attempt_claim(*, delivery_id: str, attempt: int, now: datetime, lock: datetime
                   ) -> _Claimed | None:  # fmt: skip
    """``Delivery.objects.filter(pk=delivery_id, status=PENDING, attempt_count=attempt)
    .filter(Q(locked_until=None) | Q(locked_until__lt=now)).update(locked_until=lock)``,
    returning what ``select_related("event", "endpoint")`` would have loaded; None when
    there was nothing to claim (made, running, finished, or deleted with its endpoint)."""
    adapt = connection.ops.adapt_datetimefield_value
    params = [adapt(lock), delivery_id, Delivery.Status.PENDING, attempt, adapt(now)]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(_CLAIM_SQL_POSTGRESQL, params)
        else:
            cursor.execute(_CLAIM_SQL, params)
            if cursor.rowcount != 1:
                return None
            cursor.execute(_LOAD_SQL, [delivery_id])
        row = cursor.fetchone()
    if row is None:
        return None
    return _claimed(delivery_id, attempt, row)


def _claimed(delivery_id: str, attempt: int, row: Sequence[Any]) -> _Claimed:
    (retry_base, event_id, tenant_id, livemode, event_type, body, endpoint_id, url, enabled,
     disabled_reason, secret, previous_secret, previous_expires, failing_since) = row  # fmt: skip
    return _Claimed(
        delivery_id=delivery_id,
        attempt_count=attempt,
        retry_base=retry_base,
        event_id=event_id,
        tenant_id=tenant_id,
        livemode=bool(livemode),
        event_type=event_type,
        body=body,
        endpoint_id=endpoint_id,
        url=url,
        enabled=bool(enabled),
        disabled_reason=disabled_reason,
        secret_encrypted=secret,
        previous_secret_encrypted=previous_secret,
        previous_secret_expires_at=_from_db_datetime(previous_expires),
        failing_since=_from_db_datetime(failing_since),
    )


_CLAIM_MANY_SQL = (
    "UPDATE webhooks_delivery AS d SET locked_until = %s"  # noqa: S608
    " FROM (VALUES {values}) AS j (id, attempt), webhooks_event e, webhooks_endpoint ep"
    " WHERE d.id = j.id AND d.status = %s AND d.attempt_count = j.attempt"
    " AND (d.locked_until IS NULL OR d.locked_until < %s)"
    " AND e.id = d.event_id AND ep.id = d.endpoint_id"
    " RETURNING d.id, d.attempt_count, " + _CLAIMED_COLUMNS
)


def _attempts_claim(*, jobs: Sequence[tuple[str, int]], now: datetime, lock: datetime
                    ) -> list[_Claimed]:  # fmt: skip
    """``_attempt_claim`` for many deliveries in one statement (PostgreSQL)."""
    values = ", ".join(["(%s, %s::int)"] * len(jobs))
    params: list[Any] = [lock]
    for pk, attempt in jobs:
        params += [pk, attempt]
    with connection.cursor() as cursor:
        cursor.execute(
            _CLAIM_MANY_SQL.format(values=values), [*params, Delivery.Status.PENDING, now]
        )
        rows = cursor.fetchall()
    order = {pk: n for n, (pk, _) in enumerate(jobs)}
    rows.sort(key=lambda row: order.get(row[0], 0))
    return [_claimed(pk, attempt, row) for pk, attempt, *row in rows]


def _attempts_save(outcomes: list[_Outcome]) -> dict[str, int]:
    """``_attempt_save`` for many attempts in one statement (PostgreSQL); returns the
    attempts' ids by delivery."""
    inserts, updates, params_insert, params_update = [], [], [], []
    for outcome in outcomes:
        attempt = outcome.attempt
        inserts.append("(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)")
        params_insert += [
            attempt.delivery_id, attempt.number, attempt.started_at, attempt.duration_ms,
            attempt.request_url, json.dumps(attempt.request_headers), attempt.status_code,
            json.dumps(attempt.response_headers), attempt.response_body, attempt.error,
            attempt.succeeded,
        ]  # fmt: skip
        updates.append(
            "(%s, %s::int, %s, %s::timestamptz, %s::timestamptz, %s::int, %s, %s::timestamptz)"
        )
        params_update += [
            attempt.delivery_id, attempt.number, outcome.status, outcome.next_attempt_at,
            attempt.started_at, attempt.status_code, attempt.error, outcome.completed_at,
        ]  # fmt: skip
    sql = (
        "WITH logged AS (INSERT INTO webhooks_deliveryattempt (delivery_id, number,"  # noqa: S608
        " started_at, duration_ms, request_url, request_headers, status_code,"
        " response_headers, response_body, error, succeeded)"
        f" VALUES {', '.join(inserts)} RETURNING id, delivery_id),"
        " moved AS (UPDATE webhooks_delivery AS d SET attempt_count = v.number,"
        " status = v.status, next_attempt_at = v.next_at, locked_until = NULL,"
        " last_attempt_at = v.started, last_status_code = v.code, last_error = v.error,"
        " completed_at = v.completed"
        f" FROM (VALUES {', '.join(updates)})"
        " AS v (id, number, status, next_at, started, code, error, completed)"
        " WHERE d.id = v.id AND d.attempt_count = v.number - 1)"
        " SELECT delivery_id, id FROM logged"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params_insert + params_update)
        return dict(cursor.fetchall())


def _from_db_datetime(value: Any) -> datetime | None:
    if isinstance(value, str):  # SQLite
        value = parse_datetime(value)
    if value is not None and timezone.is_naive(value):
        value = value.replace(tzinfo=UTC)
    return value


_INSERT_ATTEMPT_SQL = (
    "INSERT INTO webhooks_deliveryattempt (delivery_id, number, started_at,"
    " duration_ms, request_url, request_headers, status_code, response_headers,"
    " response_body, error, succeeded)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id"
)
_UPDATE_DELIVERY_SQL = (
    "UPDATE webhooks_delivery SET attempt_count = %s, status = %s,"
    " next_attempt_at = %s, locked_until = NULL, last_attempt_at = %s,"
    " last_status_code = %s, last_error = %s, completed_at = %s"
    " WHERE id = %s AND attempt_count = %s"
)
# PostgreSQL: both in one statement (so one round trip, and atomic without BEGIN/COMMIT).
_SAVE_SQL_POSTGRESQL = (
    f"WITH logged AS ({_INSERT_ATTEMPT_SQL}), moved AS ({_UPDATE_DELIVERY_SQL})"  # noqa: S608
    " SELECT id FROM logged"
)


def _attempt_save(
    *,
    attempt: AttemptMade,
    status: str,
    next_attempt_at: datetime | None,
    completed_at: datetime | None,
) -> int:
    """``DeliveryAttempt(...).save()`` and, atomically with it, ``Delivery.objects.filter(
    pk=..., attempt_count=attempt.number - 1).update(attempt_count=attempt.number,
    status=status, next_attempt_at=..., locked_until=None, last_...=..., completed_at=...)``;
    returns the attempt's id."""
    adapt = connection.ops.adapt_datetimefield_value
    insert = [
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
    ]
    update = [
        attempt.number,
        status,
        adapt(next_attempt_at),
        adapt(attempt.started_at),
        attempt.status_code,
        attempt.error,
        adapt(completed_at),
        attempt.delivery_id,
        attempt.number - 1,
    ]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_SAVE_SQL_POSTGRESQL, insert + update)
            return cursor.fetchone()[0]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_INSERT_ATTEMPT_SQL, insert)
        pk = cursor.fetchone()[0]
        cursor.execute(_UPDATE_DELIVERY_SQL, update)
    return pk


def _endpoint_record_outcome(
    *, endpoint: _Claimed, succeeded: bool, status_code: int | None, at: datetime
) -> None:
    """Track the endpoint's run of failures; disable it on 410 or after five days of them."""
    if succeeded:
        if endpoint.failing_since is not None:
            Endpoint.objects.filter(pk=endpoint.endpoint_id).update(failing_since=None)
        return
    if status_code == 410:
        _disable(endpoint, f"The endpoint answered 410 Gone at {iso_timestamp(at)}.")
    elif endpoint.failing_since is None:
        Endpoint.objects.filter(pk=endpoint.endpoint_id, failing_since__isnull=True).update(
            failing_since=at
        )
    elif at - endpoint.failing_since >= settings.WEBHOOK_DISABLE_AFTER:
        days = settings.WEBHOOK_DISABLE_AFTER.days
        _disable(
            endpoint,
            f"Every attempt failed for {days} days "
            f"(since {iso_timestamp(endpoint.failing_since)}).",
        )


def _disable(endpoint: _Claimed, reason: str) -> None:
    found = Endpoint.objects.filter(pk=endpoint.endpoint_id).first()
    if found is not None:  # else deleted meanwhile, with its deliveries
        endpoint_disable(endpoint=found, reason=reason, notify=True)
