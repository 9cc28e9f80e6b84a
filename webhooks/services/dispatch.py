"""Queueing delivery attempts: after commit for new ones, and the periodic dispatcher that
queues whatever is due (retries, and messages the broker lost)."""

from __future__ import annotations

import logging
from datetime import datetime

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from ..jobs import deliveries_attempt_enqueue, delivery_attempt_enqueue
from ..models import Delivery

logger = logging.getLogger(__name__)


class _QueuedOnCommit:
    """The attempts a transaction queues, published together when it commits (so that
    the events of one transaction share messages, ``WEBHOOK_ATTEMPT_BATCH`` at a time)."""

    def __init__(self) -> None:
        self.jobs: list[tuple[str, int]] = []

    def __call__(self) -> None:
        attempts_enqueue(self.jobs)


def attempts_enqueue_on_commit(jobs: list[tuple[str, int]]) -> None:
    """Queue these (delivery id, attempt number) pairs once the transaction commits."""
    if not jobs:
        return
    db = transaction.get_connection()
    if db.in_atomic_block:
        # Joins the earlier attempts of the same savepoint (or transaction), which a
        # rollback drops together with these.
        for savepoints, callback, _ in reversed(db.run_on_commit):
            if isinstance(callback, _QueuedOnCommit) and set(savepoints) == set(db.savepoint_ids):
                callback.jobs.extend(jobs)
                return
    queued = _QueuedOnCommit()
    queued.jobs.extend(jobs)
    transaction.on_commit(queued)


def attempts_enqueue(jobs: list[tuple[str, int]]) -> int:
    """Publish the attempts of these (delivery id, attempt number) pairs; returns how many
    were published.

    Up to ``settings.WEBHOOK_ATTEMPT_BATCH`` go in one message, claimed and logged together
    by the worker that takes it. On a broker failure the rest are made due now, so the
    dispatcher queues them as soon as the broker is back, rather than after the requeue
    delay.
    """
    size = max(1, settings.WEBHOOK_ATTEMPT_BATCH)
    for sent in range(0, len(jobs), size):
        batch = jobs[sent : sent + size]
        try:
            if len(batch) == 1:
                delivery_attempt_enqueue(delivery_id=batch[0][0], attempt=batch[0][1])
            else:
                deliveries_attempt_enqueue(jobs=batch)
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
        due = _due_claim(now=timezone.now(), batch=batch)
        sent = attempts_enqueue(due) if due else 0
        total += sent
        if sent < batch:
            break
    return total


def _due_claim(*, now: datetime, batch: int) -> list[tuple[str, int]]:
    """Claim up to ``batch`` due deliveries, one statement: what ``select_for_update(
    skip_locked=True).filter(status=PENDING, next_attempt_at__lte=now).order_by(
    "next_attempt_at")[:batch]`` then ``.update(next_attempt_at=now + requeue delay)`` do in
    a transaction. Returns their (id, attempt_count) pairs."""
    adapt = connection.ops.adapt_datetimefield_value
    # SQLite has one writer at a time, so it needs (and has) no row locks.
    skip_locked = connection.features.has_select_for_update_skip_locked
    sql = (
        "UPDATE webhooks_delivery SET next_attempt_at = %s WHERE id IN ("  # noqa: S608
        " SELECT id FROM webhooks_delivery WHERE status = %s AND next_attempt_at <= %s"
        " ORDER BY next_attempt_at LIMIT %s"
        + (" FOR UPDATE SKIP LOCKED" if skip_locked else "")
        + ") RETURNING id, attempt_count"
    )
    params = [adapt(now + settings.WEBHOOK_REQUEUE_AFTER), Delivery.Status.PENDING, adapt(now)]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, batch])
        return [(pk, count) for pk, count in cursor.fetchall()]
