"""Emitting events: the event row and one pending delivery per subscribed endpoint,
written in the caller's transaction."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone

from mrrx.formats import iso_timestamp
from mrrx.ids import new_id
from tenants.models import Tenant

from ..events import InvalidEventData, build_data, get_event_type
from ..models import Delivery, Endpoint, Event
from ..selectors import endpoints_subscribed
from .dispatch import attempts_enqueue_on_commit

logger = logging.getLogger(__name__)


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
    if connection.vendor == "postgresql":
        with transaction.atomic(savepoint=False):
            for offset in range(0, len(events), 1000):
                delivery_ids = _events_insert(events[offset : offset + 1000], first_due, now)
                attempts_enqueue_on_commit([(pk, 0) for pk in delivery_ids])
        for event in events:
            event._state.adding = False
        return events
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
        attempts_enqueue_on_commit([(delivery.pk, 0) for delivery in deliveries])
    return events


# The subscribed endpoints of an event's workspace and mode, in SQL (``Endpoint.receives``).
_SUBSCRIBED_JOIN = (
    " JOIN webhooks_endpoint ep"
    " ON ep.tenant_id = events.tenant_id AND ep.livemode = events.livemode AND ep.enabled"
    " AND (ep.event_types = '[]'::jsonb OR ep.event_types @> jsonb_build_array(events.type))"
)


def _events_insert(events: list[Event], first_due: datetime, now: datetime) -> list[str]:
    """The events and one pending delivery per subscribed endpoint, in one statement (one
    round trip where the ORM took three: the events, their endpoints, the deliveries);
    returns the deliveries' ids."""
    columns = ("id", "tenant_id", "livemode", "type", "session_id", "body", "created_at")
    rows = ", ".join(["(%s, %s, %s::boolean, %s, %s, %s, %s::timestamptz)"] * len(events))
    sql = (
        f"WITH given ({', '.join(columns)}) AS (VALUES {rows}),"  # noqa: S608
        f" events AS (INSERT INTO webhooks_event ({', '.join(columns)}) SELECT * FROM given"
        "  RETURNING id, tenant_id, livemode, type)"
        " INSERT INTO webhooks_delivery (id, event_id, endpoint_id, status, attempt_count,"
        "  retry_base, next_attempt_at, last_error, created_at)"
        f" SELECT {_new_id_sql('dlv', int(now.timestamp() * 1000))}, events.id, ep.id, %s,"
        "  0, 0, %s, '', %s"
        f" FROM events{_SUBSCRIBED_JOIN} ORDER BY events.id, ep.id RETURNING id"
    )
    params: list[Any] = []
    for e in events:
        params += [e.id, e.tenant_id, e.livemode, e.type, e.session_id, e.body, e.created_at]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, Delivery.Status.PENDING, first_due, now])
        return [pk for (pk,) in cursor.fetchall()]


# --- Set-based emission (PostgreSQL) ------------------------------------------------------------
def _new_id_sql(prefix: str, at_ms: int) -> str:
    """SQL for a new id of ``mrrx.ids``' form (25 base-36 digits after the prefix), drawn
    anew wherever it is evaluated. The first ten digits are those of ``at_ms``'s ids, so
    it sorts by time to the millisecond; the other fifteen are 60 random bits in hex
    (hex digits are base-36 digits): two ``random()`` draws, a few microseconds a row
    where fifteen base-36 digits drawn one by one took six times as long."""
    head = new_id(prefix, at_ms=at_ms)[: len(prefix) + 1 + 10]
    return (
        f"'{head}' || lpad(to_hex((random() * 4503599627370496)::bigint), 13, '0')"
        " || lpad(to_hex(floor(random() * 256)::int), 2, '0')"
    )


def event_emit_select(
    *, type: str, source_sql: str, params: Sequence[Any], data: Mapping[str, str]
) -> int:
    """``event_emit_many`` in one statement, for the rows a query returns (PostgreSQL).

    ``source_sql`` is a query (typically ``UPDATE ... RETURNING``, so that a change and its
    events are one statement) whose rows have ``tenant_id`` and ``livemode`` columns;
    ``data`` maps keys of the type's ``data`` object to SQL expressions over those rows
    (as ``src``), each a JSON-able value or NULL. Keys not given are null, and
    ``livemode`` is the row's, as ``event_emit`` makes them. Writes one event per row and
    one pending delivery per subscribed endpoint, queues the deliveries' first attempts
    once the transaction commits, and returns the number of events.
    """
    event_type = get_event_type(type)
    keys = list(event_type.build(event_type, {}, False))
    unknown = set(data) - set(keys)
    if unknown:
        raise InvalidEventData(f"Unknown data keys for {type}: {', '.join(sorted(unknown))}.")
    now = timezone.now()
    at_ms = int(now.timestamp() * 1000)
    # The data object, compact, key by key in the registry's order.
    members = []
    for n, key in enumerate(keys):
        expression = "src.livemode" if key == "livemode" else data.get(key, "NULL::json")
        opening = ("{" if n == 0 else ",") + json.dumps(key) + ":"
        members.append(f"'{opening}' || COALESCE(to_json({expression})::text, 'null')")
    session_id = data.get("session_id", "NULL")
    envelope = f',"type":{json.dumps(type)},"created_at":{json.dumps(iso_timestamp(now))},"data":'
    sql = f"""
        WITH src AS ({source_sql}),
        numbered AS MATERIALIZED (
            SELECT {_new_id_sql("evt", at_ms)} AS id, src.tenant_id, src.livemode,
                   left(COALESCE(({session_id})::text, ''), 64) AS session_id,
                   {" || ".join(members)} || '}}' AS data
            FROM src
        ),
        events AS (
            INSERT INTO webhooks_event (id, tenant_id, livemode, type, session_id, body,
                                        created_at)
            SELECT id, tenant_id, livemode, %s, session_id,
                   '{{"id":' || to_json(id)::text || %s || data || '}}', %s
            FROM numbered
            RETURNING id, tenant_id, livemode, type
        ),
        deliveries AS (
            INSERT INTO webhooks_delivery (id, event_id, endpoint_id, status, attempt_count,
                                           retry_base, next_attempt_at, last_error, created_at)
            SELECT {_new_id_sql("dlv", at_ms)}, events.id, ep.id, %s, 0, 0, %s, '', %s
            FROM events{_SUBSCRIBED_JOIN}
            RETURNING id
        )
        SELECT NULL, (SELECT count(*) FROM events)
        UNION ALL SELECT id, NULL FROM deliveries
    """  # noqa: S608 - the values are parameters; the text is ours and the caller's SQL
    first_due = now + settings.WEBHOOK_REQUEUE_AFTER
    # One statement, so atomic on its own: outside a transaction it commits by itself (no
    # BEGIN and COMMIT round trips) and the attempts are queued at once; inside one they
    # wait for its commit.
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            [*params, type, envelope, now, Delivery.Status.PENDING, first_due, now],
        )
        rows = cursor.fetchall()
    attempts_enqueue_on_commit([(pk, 0) for pk, _ in rows if pk is not None])
    return next(count for pk, count in rows if pk is None)
