"""Reads of saves and their checkpoints that other layers need (analytics, the report).

Every read starts from the workspace and mode. The figures come from the checkpoint rows
as they were settled; nothing here recomputes a checkpoint.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Count, QuerySet, Sum
from django.db.models.functions import Coalesce

from tenants.models import Tenant

from .models import CHECKPOINT_DAYS, CheckpointStatus, Save, SaveCheckpoint

FINAL_DAY = CHECKPOINT_DAYS[-1]


@dataclass
class CheckpointCounts:
    """How the saves stood at one checkpoint day."""

    retained: int = 0
    churned: int = 0
    pending: int = 0
    # Per currency (lower case), over the retained saves: the monthly amount at the
    # checkpoint (at the save when Stripe did not tell it), and revenue since the save.
    mrr_retained: dict[str, int] = field(default_factory=dict)
    revenue_retained: dict[str, int] = field(default_factory=dict)

    @property
    def settled(self) -> int:
        return self.retained + self.churned

    @property
    def retained_rate(self) -> float | None:
        """Retained ÷ settled, None before any checkpoint of that day has settled."""
        return self.retained / self.settled if self.settled else None


@dataclass
class SaveRetention:
    """The 30/60/90-day standing of a set of saves."""

    saves: int = 0
    days: dict[int, CheckpointCounts] = field(
        default_factory=lambda: {day: CheckpointCounts() for day in CHECKPOINT_DAYS}
    )

    @property
    def mrr_retained_90(self) -> dict[str, int]:
        return self.days[FINAL_DAY].mrr_retained

    @property
    def revenue_retained_90(self) -> dict[str, int]:
        return self.days[FINAL_DAY].revenue_retained


def saves_of(
    *,
    tenant: Tenant,
    livemode: bool,
    source: str | None = None,
    started_from: datetime | None = None,
    started_before: datetime | None = None,
    experiment_id: str | None = None,
) -> QuerySet[Save]:
    """The workspace's saves, narrowed when given to those made in sessions of ``source``
    (``Source`` or ``CUSTOM_SOURCE``), started in [``started_from``, ``started_before``),
    or assigned to ``experiment_id``: read from the save's copies of its session, never
    from the session table."""
    filters: dict[str, Any] = {"tenant": tenant, "livemode": livemode}
    if source is not None:
        filters["session_source"] = source
    if started_from is not None:
        filters["session_started_at__gte"] = started_from
    if started_before is not None:
        filters["session_started_at__lt"] = started_before
    if experiment_id is not None:
        filters["experiment_id"] = experiment_id
    return Save.objects.filter(**filters)


def _rows(checkpoints: QuerySet[SaveCheckpoint], group: str | None) -> QuerySet:
    keys = ["day", "status", "save_record__currency"]
    if group:
        keys.insert(0, f"save_record__{group}")
    return (
        checkpoints.values(*keys)
        .annotate(
            n=Count("*"),
            mrr=Sum(Coalesce("mrr_amount", "save_record__mrr_amount")),
            revenue=Sum("revenue_amount"),
        )
        .order_by()
    )


def _add(counts: CheckpointCounts, row: dict[str, Any]) -> None:
    status = row["status"]
    if status == CheckpointStatus.RETAINED:
        counts.retained += row["n"]
        currency = (row["save_record__currency"] or "").lower()
        if currency:
            counts.mrr_retained[currency] = counts.mrr_retained.get(currency, 0) + (row["mrr"] or 0)
            counts.revenue_retained[currency] = counts.revenue_retained.get(currency, 0) + (
                row["revenue"] or 0
            )
    elif status == CheckpointStatus.CHURNED:
        counts.churned += row["n"]
    else:
        counts.pending += row["n"]


def save_retention(
    *,
    tenant: Tenant,
    livemode: bool,
    source: str | None = None,
    started_from: datetime | None = None,
    started_before: datetime | None = None,
    experiment_id: str | None = None,
) -> SaveRetention:
    """Retained, churned and pending counts at 30/60/90 days, with the MRR and revenue of
    the retained saves, over the saves :func:`saves_of` finds (two queries)."""
    saves = saves_of(
        tenant=tenant,
        livemode=livemode,
        source=source,
        started_from=started_from,
        started_before=started_before,
        experiment_id=experiment_id,
    )
    result = SaveRetention(saves=saves.count())
    checkpoints = SaveCheckpoint.objects.filter(save_record__in=saves.values("pk"))
    for row in _rows(checkpoints, None):
        if row["day"] in result.days:
            _add(result.days[row["day"]], row)
    return result


def save_retention_grouped(
    *,
    tenant: Tenant,
    livemode: bool,
    source: str | None = None,
    started_from: datetime | None = None,
    started_before: datetime | None = None,
    experiment_id: str | None = None,
    group: str,
) -> dict[Any, SaveRetention]:
    """:func:`save_retention` split by ``group``, a column of the save (for example
    ``"experiment_arm"``, ``"survey_reason"``, ``"accepted_offer_id"``, ``"outcome_action"``)."""
    saves = saves_of(
        tenant=tenant,
        livemode=livemode,
        source=source,
        started_from=started_from,
        started_before=started_before,
        experiment_id=experiment_id,
    )
    results: dict[Any, SaveRetention] = defaultdict(SaveRetention)
    for row in saves.values(group).annotate(n=Count("*")).order_by():
        results[row[group]].saves = row["n"]
    checkpoints = SaveCheckpoint.objects.filter(save_record__in=saves.values("pk"))
    for row in _rows(checkpoints, group):
        if row["day"] in CHECKPOINT_DAYS:
            _add(results[row[f"save_record__{group}"]].days[row["day"]], row)
    return dict(results)


def save_get(*, tenant: Tenant, livemode: bool, save_id: str) -> Save | None:
    return (
        Save.objects.filter(tenant=tenant, livemode=livemode, id=save_id)
        .prefetch_related("checkpoints")
        .first()
    )
