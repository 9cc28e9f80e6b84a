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
from django.db import transaction
from django.utils import timezone

from mrrx.formats import iso_timestamp
from mrrx.ids import new_id
from tenants.models import Tenant

from ..events import build_data
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
