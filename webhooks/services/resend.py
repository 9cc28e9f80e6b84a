"""Sending again: one event to every endpoint now subscribed, or an endpoint's failed
deliveries since a moment (after it was fixed and enabled again)."""

from __future__ import annotations

import logging
from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from audit.models import AuditAction
from audit.services import audit_record

from .. import jobs
from ..models import Delivery, Endpoint, Event
from ..selectors import endpoints_subscribed
from .dispatch import attempts_enqueue_on_commit

logger = logging.getLogger(__name__)


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
        attempts_enqueue_on_commit(jobs)
        audit_record(
            action=AuditAction.WEBHOOK_EVENT_RESENT,
            target=event,
            changes={"deliveries": [delivery.pk for delivery in queued]},
        )
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
        audit_record(
            action=AuditAction.WEBHOOK_FAILED_RESENT,
            target=endpoint,
            changes={"since": since, "deliveries": count},
        )
    return count


def _dispatch_soon() -> None:
    try:
        jobs.deliveries_dispatch_due_enqueue()
    except Exception:
        logger.warning("Could not queue the dispatcher; the beat schedule will run it.")
