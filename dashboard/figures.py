"""The analytics figures split into groups, and the retention of saves at 30, 60 and 90 days.

What ``GET /api/v1/analytics`` answers and the analytics page's retention section shows.
The totals are the page's own ``Report``. Groups by reason, arm or day are the page's
breakdown split by one more column and summed by the same code (``analytics._summarize``),
so that a group's figures are counted exactly as the page counts its totals. Groups by
offer count a session under every offer it was shown, as the page's offer table does.

Retention comes from the ``SaveCheckpoint`` rows of the saves made in the range's
sessions, never recomputed here; the saves are found and grouped by their own copies of
their session's columns, so these reads never touch the session table.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date
from fractions import Fraction
from typing import Any

from django.db.models import Count, F, QuerySet, Sum
from django.db.models.functions import Coalesce, TruncDate

from experiments.models import Arm
from retention.models import CHECKPOINT_DAYS, CUSTOM_SOURCE, CheckpointStatus, SaveCheckpoint
from retention.rules import shown_offers
from sessions_app.deflections import DEFLECTIONS
from sessions_app.models import Action, Reason, SessionStatus, Source
from tenants.models import Tenant

from .analytics import (
    COUNTS,
    DEFINITIONS,
    MONTHLY_FACTOR,
    SOURCE_DEFINITIONS,
    MrrRow,
    Period,
    Report,
    _breakdown,
    _custom_breakdown,
    _offer_labels,
    _round_half_up,
    _summarize,
    custom_sessions_in,
    offers_by_key,
    offers_sample,
    sessions_in,
)

GROUP_BY = ("reason", "offer", "arm", "day")
# Custom sessions carry no arm, and their offers are the merchant's labels, not MRRX offers.
CUSTOM_GROUP_BY = ("reason", "day")
NO_GROUP = "none"

RETENTION_DEFINITIONS: list[tuple[str, str, str]] = [
    (
        "retained",
        "Retained at 30, 60, 90 days",
        "Of the saves made in the range's sessions, those whose subscription Stripe showed "
        "alive and paying 30, 60 and 90 days after the save: active or trialing and not set "
        "to cancel, or paused only as the accepted pause. Churned: canceled, or canceling at "
        "period end. Pending: not due yet, or not settled yet. The rate is retained ÷ "
        "(retained + churned); pending saves are left out of it.",
    ),
    (
        "mrr_retained_90",
        "MRR retained at 90 days",
        "For each save retained at 90 days, the subscription's monthly amount at that "
        "checkpoint (else at the save), summed per currency.",
    ),
    (
        "mrr_retained_90_per_session",
        "MRR retained at 90 days per session started",
        "MRR retained at 90 days ÷ sessions started, per currency, in the currency's "
        "smallest unit: what a cancellation session is worth, counting every session "
        "whether saved or not.",
    ),
]
GROUP_DEFINITIONS: list[tuple[str, str, str]] = [
    ("group_reason", "By reason", "Sessions split by the survey reason given; none: no reason."),
    (
        "group_offer",
        "By offer",
        "A session counts under every offer it was shown; Saved (or Deflected) counts the "
        "sessions that completed with that offer's action, and retention the saves made "
        "through it.",
    ),
    (
        "group_arm",
        "By arm",
        "Sessions split by the experiment and arm they were assigned to; none: no "
        "experiment was running.",
    ),
    ("group_day", "By day", "Sessions split by the UTC day they started."),
]


def definition_key(term: str) -> str:
    """The anchor of a definition on the page, and its key in the API ("Save rate" ->
    "save_rate")."""
    return re.sub(r"[^a-z0-9]+", "_", term.lower()).strip("_")


def all_definitions() -> list[tuple[str, str, str]]:
    """Every definition the page prints, as (key, term, text)."""
    page = [(definition_key(term), term, text) for term, text in DEFINITIONS + SOURCE_DEFINITIONS]
    return page + RETENTION_DEFINITIONS + GROUP_DEFINITIONS


@dataclass
class Retention:
    day: int
    retained: int = 0
    churned: int = 0
    pending: int = 0
    # Currency -> monthly amount of the retained saves, in the currency's smallest unit.
    mrr_retained: dict[str, int] = field(default_factory=dict)

    @property
    def saves(self) -> int:
        return self.retained + self.churned + self.pending

    @property
    def rate(self) -> float | None:
        settled = self.retained + self.churned
        return self.retained / settled if settled else None


def _empty_retention() -> dict[int, Retention]:
    return {day: Retention(day=day) for day in CHECKPOINT_DAYS}


@dataclass
class Figures:
    """One group's figures (or the totals): the page's counts, MRR and retention."""

    key: str
    label: str
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTS, 0))
    mrr: list[MrrRow] = field(default_factory=list)
    retention: dict[int, Retention] = field(default_factory=_empty_retention)

    @property
    def save_rate(self) -> float | None:
        completed = self.counts.get("completed", 0)
        return self.counts.get("saved", 0) / completed if completed else None

    @property
    def mrr_retained_90(self) -> dict[str, int]:
        return self.retention[90].mrr_retained

    @property
    def mrr_retained_90_per_session(self) -> dict[str, float]:
        started = self.counts.get("started", 0)
        if not started:
            return {}
        return {cur: amount / started for cur, amount in sorted(self.mrr_retained_90.items())}


@dataclass
class Scope:
    """Which sessions the figures count: one workspace, mode, range and source."""

    tenant: Tenant
    livemode: bool
    period: Period
    source: str = Source.FLOW

    @property
    def custom(self) -> bool:
        return self.source == "custom"

    def sessions(self) -> QuerySet:
        if self.custom:
            return custom_sessions_in(
                tenant=self.tenant, livemode=self.livemode, period=self.period
            )
        return sessions_in(
            tenant=self.tenant, livemode=self.livemode, period=self.period, source=self.source
        )

    def checkpoints(self) -> QuerySet[SaveCheckpoint]:
        """The checkpoints of the saves made in these sessions, found by the save's copies
        of its session's start and source (the session table is not read)."""
        return SaveCheckpoint.objects.filter(
            save_record__tenant=self.tenant,
            save_record__livemode=self.livemode,
            save_record__session_started_at__gte=self.period.start_at,
            save_record__session_started_at__lt=self.period.end_at,
            save_record__session_source=CUSTOM_SOURCE if self.custom else self.source,
        )


def totals(
    *, scope: Scope, report: Report, retention: dict[int, Retention] | None = None
) -> Figures:
    """The page's totals with the retention of their saves (``retention``, when the
    caller has read it already: ``retention_of(scope.checkpoints())``)."""
    figures = Figures(key="all", label="All sessions")
    figures.counts = dict(report.counts)
    figures.mrr = list(report.mrr)
    figures.retention = retention_of(scope.checkpoints()) if retention is None else retention
    return figures


def _retention_rows(checkpoints: QuerySet, **group: Any) -> QuerySet:
    """Checkpoints counted by day, status and currency (and ``group``), with the monthly
    amount of each: at the checkpoint when Stripe told it, else at the save."""
    return (
        checkpoints.annotate(**group)
        .values(*group, "day", "status", "save_record__currency")
        .annotate(n=Count("*"), mrr=Sum(Coalesce("mrr_amount", "save_record__mrr_amount")))
        .order_by()
    )


def _add_retention(groups: dict[str, Figures], rows: Any, key_of: Any) -> None:
    for row in rows:
        key = key_of(row)
        if key is None or key not in groups or row["day"] not in CHECKPOINT_DAYS:
            continue
        entry = groups[key].retention[row["day"]]
        n = row["n"]
        if row["status"] == CheckpointStatus.RETAINED:
            entry.retained += n
            currency = (row["save_record__currency"] or "").lower()
            if currency and row["mrr"] is not None:
                entry.mrr_retained[currency] = entry.mrr_retained.get(currency, 0) + row["mrr"]
        elif row["status"] == CheckpointStatus.CHURNED:
            entry.churned += n
        else:
            entry.pending += n


def retention_of(checkpoints: QuerySet[SaveCheckpoint]) -> dict[int, Retention]:
    """The 30/60/90-day figures of some checkpoints."""
    figures = Figures(key="all", label="")
    _add_retention({"all": figures}, _retention_rows(checkpoints), lambda row: "all")
    return figures.retention


def analytics_figures(
    *, scope: Scope, group_by: str | None = None
) -> tuple[Figures, list[Figures]]:
    """The totals and, when asked, the groups, with as few scans as the grouping allows:
    groups by reason, arm or day split the sessions, so the totals are their sum (the same
    breakdown rows summed by the same code, and every checkpoint in exactly one group)."""
    if group_by in ("reason", "arm", "day"):
        groups, rows = _grouped(scope=scope, group_by=group_by)
        total = _figures_of(rows)
        for figures in groups:
            for day, entry in figures.retention.items():
                into = total.retention[day]
                into.retained += entry.retained
                into.churned += entry.churned
                into.pending += entry.pending
                for currency, amount in entry.mrr_retained.items():
                    into.mrr_retained[currency] = into.mrr_retained.get(currency, 0) + amount
        return total, groups
    sessions = scope.sessions()
    total = _figures_of(
        _custom_breakdown(sessions) if scope.custom else _breakdown(sessions, reasons=False)
    )
    total.retention = retention_of(scope.checkpoints())
    return total, (_by_offer(scope) if group_by == "offer" else [])


def _figures_of(rows: Any) -> Figures:
    report = summarize(list(rows))
    figures = Figures(key="all", label="All sessions")
    figures.counts, figures.mrr = report.counts, report.mrr
    return figures


def grouped(*, scope: Scope, group_by: str) -> list[Figures]:
    """The figures split by ``group_by`` (one of ``GROUP_BY``), largest group first (days
    in order, every day of the range present)."""
    if group_by == "offer":
        return _by_offer(scope)
    return _grouped(scope=scope, group_by=group_by)[0]


def _grouped(*, scope: Scope, group_by: str) -> tuple[list[Figures], list[dict[str, Any]]]:
    sessions = scope.sessions()
    checkpoints = scope.checkpoints()
    if group_by == "reason":
        session_group = {"grp": F("survey_reason")}
        checkpoint_group = {"grp": F("save_record__survey_reason")}
    elif group_by == "day":
        started = "started_at" if scope.custom else "created_at"
        session_group = {"grp": TruncDate(started, tzinfo=UTC)}
        checkpoint_group = {"grp": TruncDate("save_record__session_started_at", tzinfo=UTC)}
    else:  # arm
        session_group = {"grp": F("experiment_id"), "grp_arm": F("experiment_arm")}
        checkpoint_group = {
            "grp": F("save_record__experiment_id"),
            "grp_arm": F("save_record__experiment_arm"),
        }
    annotated = sessions.annotate(**session_group)
    columns = tuple(session_group)
    rows = list(
        _custom_breakdown(annotated, *columns)
        if scope.custom
        else _breakdown(annotated, *columns, reasons=False)
    )
    parts: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        parts[_group_key(group_by, row)].append(row)
    groups: dict[str, Figures] = {}
    if group_by == "day":
        for day in scope.period.days:
            groups[day.isoformat()] = Figures(key=day.isoformat(), label=day.isoformat())
    for key, part in parts.items():
        report = summarize(part)
        figures = groups.setdefault(key, Figures(key=key, label=key))
        figures.counts, figures.mrr = report.counts, report.mrr
    _add_retention(
        groups,
        _retention_rows(checkpoints, **checkpoint_group),
        lambda row: _group_key(group_by, row),
    )
    _label(groups, group_by=group_by, tenant=scope.tenant)
    result = list(groups.values())
    if group_by != "day":
        result.sort(key=lambda f: (f.key == NO_GROUP, -f.counts["started"], f.key))
    return result, rows


def summarize(rows: list[dict[str, Any]]) -> Report:
    """The page's counts and MRR for some of its breakdown's rows."""
    report = Report(tenant=None, livemode=False, period=None)  # type: ignore[arg-type]
    _summarize(report, rows)
    return report


def _group_key(group_by: str, row: dict[str, Any]) -> str:
    value = row["grp"]
    if group_by == "day":
        return value.isoformat() if isinstance(value, date) else str(value)
    if group_by == "arm":
        return f"{value}:{row['grp_arm']}" if value else NO_GROUP
    return value or NO_GROUP


def _label(groups: dict[str, Figures], *, group_by: str, tenant: Tenant) -> None:
    if group_by == "reason":
        labels = {code: str(label) for code, label in Reason.choices}
        for key, figures in groups.items():
            figures.label = labels.get(key, "No reason given" if key == NO_GROUP else key)
    elif group_by == "arm":
        names = {
            f"{arm.experiment_id}:{arm.key}": f"{arm.experiment.name}: {arm.name}"
            for arm in Arm.objects.filter(experiment__tenant=tenant).select_related("experiment")
        }
        for key, figures in groups.items():
            figures.label = names.get(key, "No experiment" if key == NO_GROUP else key)


def _by_offer(scope: Scope) -> list[Figures]:
    """Per offer shown: sessions shown it, completed, saved or deflected through it,
    canceled; MRR saved through it; retention of the saves made through it."""
    sessions = scope.sessions()
    rows = list(
        sessions.values(
            "offers_key",
            "status",
            "outcome_action",
            "price_currency",
            "price_interval",
            "price_interval_count",
        )
        .annotate(n=Count("*"), amount=Sum("price_amount"), sample=offers_sample(sessions))
        .order_by()
    )
    offers = offers_by_key(rows)
    groups: dict[str, Figures] = {}
    monthly: dict[tuple[str, str], Fraction] = defaultdict(Fraction)
    mrr: dict[str, dict[str, MrrRow]] = defaultdict(dict)
    for row in rows:
        n, outcome = row["n"], row["outcome_action"]
        completed = row["status"] == SessionStatus.COMPLETED
        for offer_id, action in shown_offers(offers.get(row["offers_key"])).items():
            figures = groups.setdefault(offer_id, Figures(key=offer_id, label=offer_id))
            c = figures.counts
            c["started"] += n
            c["completed"] += n if completed else 0
            if not completed:
                continue
            if outcome == Action.CANCEL:
                c["canceled"] += n
            elif outcome == action:
                kind = "deflected" if action in DEFLECTIONS else "saved"
                c[kind] = c.get(kind, 0) + n
                currency = (row["price_currency"] or "").lower()
                factor = MONTHLY_FACTOR.get(row["price_interval"])
                if action in DEFLECTIONS or not currency:
                    continue
                entry = mrr[offer_id].setdefault(currency, MrrRow(currency=currency))
                entry.saved_sessions += n
                if factor is not None and row["amount"] is not None:
                    count = row["price_interval_count"] or 1
                    monthly[(offer_id, currency)] += Fraction(row["amount"]) * factor / count
    for (offer_id, currency), value in monthly.items():
        mrr[offer_id][currency].saved = _round_half_up(value)
    for offer_id, by_currency in mrr.items():
        groups[offer_id].mrr = sorted(by_currency.values(), key=lambda row: row.currency)
    checkpoints = _retention_rows(scope.checkpoints(), offer=F("save_record__accepted_offer_id"))
    _add_retention(groups, checkpoints, lambda row: row["offer"])
    labels = _offer_labels(list(groups), tenant=scope.tenant)
    for offer_id, figures in groups.items():
        figures.label = labels.get(offer_id, offer_id)
    return sorted(groups.values(), key=lambda f: (-f.counts["started"], f.key))


def group_by_allowed(*, source: str) -> tuple[str, ...]:
    return CUSTOM_GROUP_BY if source == "custom" else GROUP_BY
