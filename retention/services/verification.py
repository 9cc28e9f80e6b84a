"""Settling checkpoints: from the subscription's timeline first, then from Stripe.

A checkpoint settles once, when its due time (and a short wait for late events) has
passed, and is never computed again:

1. From events, set-based: the state at ``due_at`` is the latest ``SubscriptionChange``
   that occurred at or before it (ties within one second: an ended or unpaid state counts
   as the later one). A batch of checkpoints is read with that change in one query, and
   written in one statement.
2. What events could not settle (no change known at or before the due time: Stripe's
   events not subscribed to, or nothing happened since long before) is re-checked through
   the gateway, one read per subscription, workspace by workspace, paced by a token bucket
   far below Stripe's rate limit. The checkpoints it settles and the saves it marks
   checked are the progress: a pass killed half-way starts where it stopped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Case, F, IntegerField, OuterRef, Q, Subquery, Sum, Value, When
from django.db.models.functions import Coalesce

from billing.gateway import StripeGateway, StripeGatewayError, StripeNotConnected, gateway_for
from billing.gateway import Subscription as StripeSubscription

from ..models import (
    CheckpointStatus,
    InvoicePayment,
    InvoicePaymentStatus,
    Save,
    SaveCheckpoint,
    SettledBy,
    SubscriptionChange,
)
from ..rules import checkpoint_status, monthly_amount
from .saves import saves_record_missing

logger = logging.getLogger(__name__)

BATCH = 1000
GONE = ("canceled", "incomplete_expired")
# What a checkpoint takes from the latest change at or before its due time.
_CHANGE_FIELDS = ("status", "cancel_at_period_end", "paused", "mrr_amount")
_CHANGE_ANNOTATIONS = tuple(f"change_{name}" for name in _CHANGE_FIELDS)
_SETTLED_FIELDS = [
    "status",
    "settled_at",
    "settled_by",
    "subscription_status",
    "revenue_amount",
    "mrr_amount",
]


class TokenBucket:
    """At most ``rate`` takes a second on average, ``burst`` at once."""

    def __init__(
        self,
        *,
        rate: float,
        burst: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate, self.burst = rate, max(burst, 1.0)
        self.clock, self.sleep = clock, sleep
        self.tokens, self.updated = self.burst, clock()

    def take(self) -> None:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < 1:
            # A wait of at most 1/rate seconds between two reads: pacing, not a long wait.
            self.sleep((1 - self.tokens) / self.rate)
            now = self.clock()
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
        self.tokens -= 1


def _write_settled(rows: list[dict[str, Any]]) -> None:
    """Write settled checkpoints (``{"id", *_SETTLED_FIELDS}``) in one statement.

    On PostgreSQL one ``UPDATE ... FROM unnest(arrays)``: seven parameters whatever the
    batch (Django's bulk_update writes a CASE per column and row, ~4 s a thousand rows).
    """
    if not rows:
        return
    if connection.vendor != "postgresql":
        SaveCheckpoint.objects.bulk_update(
            [SaveCheckpoint(pk=row["id"], **{f: row[f] for f in _SETTLED_FIELDS}) for row in rows],
            _SETTLED_FIELDS,
        )
        return
    types = ("bigint", "text", "timestamptz", "text", "text", "bigint", "bigint")
    columns = ["id", *_SETTLED_FIELDS]
    arrays = [[row[column] for row in rows] for column in columns]
    unnest = ", ".join(f"%s::{kind}[]" for kind in types)
    assignments = ", ".join(f"{name} = v.{name}" for name in _SETTLED_FIELDS)
    table = SaveCheckpoint._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS c SET {assignments} "  # noqa: S608 - names are ours
            f"FROM unnest({unnest}) AS v({', '.join(columns)}) WHERE c.id = v.id",
            arrays,
        )


def _revenue_to_due() -> Subquery:
    """Invoices paid on the save's subscription from the save to the checkpoint."""
    return Subquery(
        InvoicePayment.objects.filter(
            tenant_id=OuterRef("save_record__tenant_id"),
            livemode=OuterRef("save_record__livemode"),
            subscription_id=OuterRef("save_record__subscription_id"),
            status=InvoicePaymentStatus.PAID,
            occurred_at__gte=OuterRef("save_record__saved_at"),
            occurred_at__lte=OuterRef("due_at"),
        )
        .values("subscription_id")
        .annotate(total=Sum("amount"))
        .values("total")
    )


def _latest_change(field: str) -> Subquery:
    later_in_tie = Case(
        When(status__in=GONE, then=Value(3)),
        When(~Q(status__in=("active", "trialing", "paused")), then=Value(2)),
        When(paused=True, then=Value(1)),
        default=Value(0),
        output_field=IntegerField(),
    )
    return Subquery(
        SubscriptionChange.objects.filter(
            tenant_id=OuterRef("save_record__tenant_id"),
            livemode=OuterRef("save_record__livemode"),
            subscription_id=OuterRef("save_record__subscription_id"),
            occurred_at__lte=OuterRef("due_at"),
        )
        .annotate(rank=later_in_tie)
        .order_by("-occurred_at", "-rank", "-event_id")
        .values(field)[:1]
    )


def checkpoints_settle_from_events(
    *, now: datetime, settle_after: timedelta | None = None, batch: int = BATCH
) -> int:
    """Settle every pending checkpoint due by ``now - settle_after`` whose state at its
    due time the timeline knows; returns how many settled."""
    if settle_after is None:
        settle_after = settings.RETENTION_SETTLE_AFTER
    cutoff = now - settle_after
    settled = 0
    after: tuple[datetime, int] | None = None  # keyset: rows left pending are not re-read
    while True:
        with transaction.atomic():
            pending = SaveCheckpoint.objects.filter(
                status=CheckpointStatus.PENDING, due_at__lte=cutoff
            )
            if after is not None:
                # A row comparison, so that the index scan starts after the last batch
                # (its rows, settled, linger in the index until vacuumed).
                table = SaveCheckpoint._meta.db_table
                pending = pending.extra(  # noqa: S610 - no input in the SQL
                    where=[f'("{table}"."due_at", "{table}"."id") > (%s, %s)'], params=list(after)
                )
            rows = list(
                pending.select_for_update(skip_locked=True, of=("self",))
                .annotate(
                    paused_until=F("save_record__paused_until"),
                    revenue=Coalesce(_revenue_to_due(), 0),
                    **{f"change_{name}": _latest_change(name) for name in _CHANGE_FIELDS},
                )
                .order_by("due_at", "pk")
                .values("id", "due_at", "paused_until", "revenue", *_CHANGE_ANNOTATIONS)[:batch]
            )
            if not rows:
                break
            after = (rows[-1]["due_at"], rows[-1]["id"])
            known = []
            for row in rows:
                if row["change_status"] is None:
                    continue  # nothing known at or before the due time: the re-check's
                status = checkpoint_status(
                    status=row["change_status"],
                    canceling=row["change_cancel_at_period_end"],
                    paused=row["change_paused"],
                    due_at=row["due_at"],
                    paused_until=row["paused_until"],
                )
                known.append(
                    {
                        "id": row["id"],
                        "status": status,
                        "settled_at": now,
                        "settled_by": SettledBy.EVENT.value,
                        "subscription_status": row["change_status"],
                        "revenue_amount": row["revenue"],
                        "mrr_amount": row["change_mrr_amount"],
                    }
                )
            _write_settled(known)
            settled += len(known)
        if len(rows) < batch:
            break
    return settled


def _state_at(sub: StripeSubscription, due_at: datetime) -> tuple[str, bool]:
    """(status, canceling) at ``due_at`` as far as today's subscription tells: a
    cancellation asked for after the due time did not count yet."""
    status, canceling = sub.status, sub.cancel_at_period_end
    if (status in GONE or canceling) and sub.canceled_at is not None and sub.canceled_at > due_at:
        return "active", False
    return status, canceling


def _settle_from_stripe(
    *, tenant_id: Any, livemode: bool, sub: StripeSubscription, now: datetime, cutoff: datetime
) -> int:
    scope = {
        "save_record__tenant_id": tenant_id,
        "save_record__livemode": livemode,
        "save_record__subscription_id": sub.id,
    }
    with transaction.atomic():
        rows = list(
            SaveCheckpoint.objects.filter(
                **scope, status=CheckpointStatus.PENDING, due_at__lte=cutoff
            )
            .select_for_update(skip_locked=True, of=("self",))
            .annotate(
                paused_until=F("save_record__paused_until"),
                revenue=Coalesce(_revenue_to_due(), 0),
            )
            .values("id", "due_at", "paused_until", "revenue")
        )
        mrr = monthly_amount(sub.amount, sub.interval, sub.interval_count)
        for row in rows:
            status, canceling = _state_at(sub, row["due_at"])
            row["status"] = checkpoint_status(
                status=status,
                canceling=canceling,
                paused=sub.paused,
                due_at=row["due_at"],
                paused_until=row["paused_until"],
            )
            row["settled_at"], row["settled_by"] = now, SettledBy.RECHECK.value
            row["subscription_status"] = sub.status
            row["revenue_amount"] = row["revenue"]
            row["mrr_amount"] = mrr
        _write_settled(rows)
    return len(rows)


@dataclass
class RecheckResult:
    calls: int = 0  # Stripe requests made
    settled: int = 0  # checkpoints settled from them
    unreadable: int = 0  # subscriptions Stripe would not tell (left for a later pass)
    complete: bool = True  # False when the pass stopped at its budget


def checkpoints_recheck(
    *,
    now: datetime,
    bucket: TokenBucket | None = None,
    max_calls: int | None = None,
    deadline: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    gateway_of: Callable[..., StripeGateway] = gateway_for,
) -> RecheckResult:
    """Read from Stripe each subscription with checkpoints that events left pending past
    their due time (plus the wait for late events), and settle them.

    Workspace by workspace (one gateway each); a subscription read in the last
    ``RETENTION_RECHECK_RETRY`` without settling (Stripe did not answer, or the workspace
    is not connected) waits that long before the next try. Stops after ``max_calls``
    reads or at ``deadline`` (a ``clock()`` value), leaving the rest for the next pass.
    """
    if bucket is None:
        bucket = TokenBucket(rate=settings.RETENTION_RECHECK_RATE)
    cutoff = now - settings.RETENTION_SETTLE_AFTER
    retry_from = now - settings.RETENTION_RECHECK_RETRY
    result = RecheckResult()
    due = SaveCheckpoint.objects.filter(status=CheckpointStatus.PENDING, due_at__lte=cutoff).filter(
        Q(save_record__last_checked_at__isnull=True)
        | Q(save_record__last_checked_at__lt=retry_from)
    )
    groups = (
        due.values_list("save_record__tenant_id", "save_record__livemode")
        .distinct()
        .order_by("save_record__tenant_id", "save_record__livemode")
    )
    for tenant_id, livemode in list(groups):
        saves = Save.objects.filter(tenant_id=tenant_id, livemode=livemode)
        in_group = due.filter(save_record__tenant_id=tenant_id, save_record__livemode=livemode)
        try:
            gateway = gateway_of(tenant=tenant_id, livemode=livemode)
        except StripeNotConnected:
            marked = saves.filter(pk__in=in_group.values("save_record_id")).update(
                last_checked_at=now
            )
            logger.info("retention: workspace %s not connected, %s saves wait", tenant_id, marked)
            continue
        last = ""
        while True:
            subscription_ids = list(
                in_group.filter(save_record__subscription_id__gt=last)
                .values_list("save_record__subscription_id", flat=True)
                .distinct()
                .order_by("save_record__subscription_id")[:100]
            )
            if not subscription_ids:
                break
            for subscription_id in subscription_ids:
                last = subscription_id
                out_of_budget = (max_calls is not None and result.calls >= max_calls) or (
                    deadline is not None and clock() >= deadline
                )
                if out_of_budget:
                    result.complete = False
                    return result
                bucket.take()
                result.calls += 1
                try:
                    sub = gateway.subscription_get(subscription_id)
                except StripeGatewayError as exc:
                    result.unreadable += 1
                    logger.info(
                        "retention: subscription %s not re-checked: %s", subscription_id, exc.code
                    )
                else:
                    result.settled += _settle_from_stripe(
                        tenant_id=tenant_id, livemode=livemode, sub=sub, now=now, cutoff=cutoff
                    )
                saves.filter(subscription_id=subscription_id).update(last_checked_at=now)
    return result


@dataclass
class VerifyResult:
    saves_written: int
    settled_from_events: int
    recheck: RecheckResult | None  # None when another pass held the re-check


RECHECK_LOCK = "retention:recheck"


def saves_verify(
    *,
    now: datetime,
    bucket: TokenBucket | None = None,
    max_calls: int | None = None,
    seconds: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> VerifyResult:
    """The periodic pass: missing saves written, checkpoints settled from events, then the
    re-check of the rest through Stripe (one pass at a time, so the rate holds)."""
    written = saves_record_missing()
    from_events = checkpoints_settle_from_events(now=now)
    if seconds is None:
        seconds = settings.RETENTION_RECHECK_SECONDS
    recheck = None
    if cache.add(RECHECK_LOCK, "1", timeout=int(seconds) + 60):
        try:
            recheck = checkpoints_recheck(
                now=now,
                bucket=bucket,
                max_calls=max_calls,
                deadline=clock() + seconds,
                clock=clock,
            )
        finally:
            cache.delete(RECHECK_LOCK)
    return VerifyResult(saves_written=written, settled_from_events=from_events, recheck=recheck)
