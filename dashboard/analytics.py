"""Save-rate analytics for one workspace and mode over a range of days (UTC).

Two aggregate queries over the sessions started in the range:

1. a breakdown by source, status, outcome, reason and price terms (a few hundred groups),
   from which the per-source counts, the headline figures, the funnel, MRR saved/lost per
   currency and the reasons chart are derived;
2. the sessions by day, status, outcome and offers considered (``offers_key``), from which
   the daily trend and offer acceptance are derived; the offers of each distinct key are
   then read from one session that has it.

Both need only columns of the index ``session_analytics_idx``, so PostgreSQL may answer
them from the index alone.

Every figure's definition is in ``DEFINITIONS``, which the page prints beside it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from fractions import Fraction
from typing import Any

from django.db import connections
from django.db.models import Count, Min, Q, QuerySet, Sum
from django.db.models.functions import Collate, TruncDate

from hub.models import HubAction, HubActionKind, HubActionStatus, HubSession
from mrrx.parallel import together
from offers.models import Offer
from sessions_app.deflections import DEFLECTIONS
from sessions_app.models import Action, CustomSession, Reason, Session, SessionStatus, Source
from sessions_app.presentation import ZERO_DECIMAL
from tenants.models import Tenant

# A price's monthly equivalent: amount * factor / interval_count.
MONTHLY_FACTOR = {
    "day": Fraction(365, 12),
    "week": Fraction(52, 12),
    "month": Fraction(1),
    "year": Fraction(1, 12),
}

# The subscription hub's own figures: beside the cancel flow's, never added into them.
HUB_DEFINITIONS: list[tuple[str, str]] = [
    ("Hub visits", "Subscription hub sessions whose page the customer first opened in the range."),
    (
        "Cancellations started from the hub",
        "Cancellation sessions the hub opened, created in the range (their outcomes are "
        "counted with the cancel flow's).",
    ),
    ("Resumes", "Paused subscriptions customers resumed in the hub, done in the range."),
    ("Reactivations", "Scheduled cancellations customers undid in the hub, done in the range."),
    (
        "Plan changes",
        "Subscriptions customers moved to another price in the hub, done in the range.",
    ),
]
HUB_COUNTS = ("visits", "cancellations_started", "resumes", "reactivations", "plan_changes")

DEFINITIONS: list[tuple[str, str]] = [
    ("Sessions started", "Cancellation sessions created in the range (UTC days, inclusive)."),
    ("Opened", "Started sessions whose hosted page the subscriber opened."),
    ("Gave a reason", "Started sessions in which the subscriber chose a survey reason."),
    (
        "Completed",
        "Started sessions whose chosen action was carried out on Stripe, or which ended "
        "with a contact or redirect offer taken.",
    ),
    (
        "Saved",
        "Completed sessions whose action changed the subscription to keep it (pause, "
        "discount, downgrade or trial extension).",
    ),
    (
        "Deflected",
        "Completed sessions whose outcome was a contact or redirect offer: the subscriber "
        "was answered and the subscription left as it was. Not counted as saved (nor in "
        "MRR saved); the 30-day check against Stripe tells whether it stayed.",
    ),
    ("Canceled", "Completed sessions whose action was a cancellation."),
    ("Save rate", "Saved ÷ Completed."),
    ("Abandoned", "Opened but not finished before the link expired."),
    ("Expired", "Never opened before the link expired."),
    ("Failed", "The chosen action could not be carried out."),
    (
        "MRR saved",
        "For each saved session, the subscription's price when the session "
        "started, as a monthly amount (yearly ÷ 12, weekly x 52 ÷ 12, daily x "
        "365 ÷ 12, divided by the interval count), summed per currency. "
        "Currencies are never added together.",
    ),
    ("MRR lost", "The same monthly amount, summed over the canceled sessions."),
    ("Reasons", "Started sessions by the survey reason given; saved and canceled of those."),
    ("Offer shown", "Sessions in which the offer was shown to the subscriber."),
    ("Offer accepted", "Sessions that showed the offer and completed with that offer's action."),
    ("Acceptance rate", "Accepted ÷ shown."),
    ("Daily trend", "Per UTC day of the session's start: started, saved and canceled."),
    *HUB_DEFINITIONS,
]


# Where the sessions of a report come from. Never added together: a direct cancel has no
# offers to accept, and the merchant's own flow reports its figures in its own terms.
SOURCES: dict[str, str] = {
    "flow": "MRRX cancel flow (hosted page and flow API)",
    "api": "Direct cancel API",
    "custom": "Your own flow (custom sessions)",
}
SOURCE_DEFINITIONS: list[tuple[str, str]] = [
    (
        "Your own flow",
        "Cancellations your own flow reported (custom sessions), by the start time you "
        "sent. Opened counts every one; Completed those with an outcome; Abandoned those "
        "without; MRR uses the monthly amount you sent.",
    ),
    ("Direct cancel API", "Subscriptions canceled by your backend through the API."),
]

COUNTS = ("started", "opened", "reason_given", "completed", "saved", "deflected", "canceled",
          "abandoned", "expired", "failed")  # fmt: skip


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # inclusive

    @property
    def start_at(self) -> datetime:
        return datetime.combine(self.start, time.min, tzinfo=UTC)

    @property
    def end_at(self) -> datetime:
        return datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=UTC)

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range((self.end - self.start).days + 1)]


@dataclass
class MrrRow:
    currency: str
    saved: int = 0  # monthly, in the currency's smallest unit
    lost: int = 0
    saved_sessions: int = 0
    canceled_sessions: int = 0


@dataclass
class ReasonRow:
    code: str
    label: str
    sessions: int = 0
    completed: int = 0
    saved: int = 0
    canceled: int = 0

    @property
    def save_rate(self) -> float | None:
        return _ratio(self.saved, self.completed)


@dataclass
class OfferRow:
    offer_id: str
    action: str
    label: str
    considered: int
    shown: int
    accepted: int

    @property
    def acceptance_rate(self) -> float | None:
        return _ratio(self.accepted, self.shown)


@dataclass
class DayRow:
    day: date
    started: int = 0
    completed: int = 0
    saved: int = 0
    canceled: int = 0


@dataclass
class Report:
    tenant: Tenant
    livemode: bool
    period: Period
    source: str = "flow"
    # Sessions of the other sources in the same range: shown apart, never added in.
    other_sources: dict[str, int] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    mrr: list[MrrRow] = field(default_factory=list)
    reasons: list[ReasonRow] = field(default_factory=list)
    offers: list[OfferRow] = field(default_factory=list)
    trend: list[DayRow] = field(default_factory=list)
    # The subscription hub in the same workspace, mode and range (``HUB_COUNTS``).
    hub: dict[str, int] = field(default_factory=dict)

    @property
    def save_rate(self) -> float | None:
        return _ratio(self.counts["saved"], self.counts["completed"])


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


# Completed, yet not saves: a cancellation, and the deflections (answered, nothing kept).
_NOT_SAVES = (Action.CANCEL, *DEFLECTIONS)


def _round_half_up(value: Fraction) -> int:
    return int(value + Fraction(1, 2)) if value >= 0 else -int(-value + Fraction(1, 2))


def sessions_in(
    *, tenant: Tenant, livemode: bool, period: Period, source: str = Source.FLOW
) -> QuerySet[Session]:
    return Session.objects.filter(
        tenant=tenant,
        livemode=livemode,
        source=source,
        created_at__gte=period.start_at,
        created_at__lt=period.end_at,
    )


def custom_sessions_in(*, tenant: Tenant, livemode: bool, period: Period) -> QuerySet:
    return CustomSession.objects.filter(
        tenant=tenant,
        livemode=livemode,
        started_at__gte=period.start_at,
        started_at__lt=period.end_at,
    )


def _breakdown_by_source(*, tenant: Tenant, livemode: bool, period: Period) -> list[dict[str, Any]]:
    """``_breakdown``'s rows for every source of the range (``source`` in each row), with
    how many of each group the hub opened: the page's figures, its per-source counts and
    the hub's count in one scan of the range (every column is in
    ``session_analytics_idx``)."""
    sessions = Session.objects.filter(
        tenant=tenant,
        livemode=livemode,
        created_at__gte=period.start_at,
        created_at__lt=period.end_at,
    )
    return list(
        _breakdown(sessions, "source").annotate(
            from_hub=Count("created_at", filter=~Q(hub_session_id=""))
        )
    )


def _source_totals(rows: Iterable[dict[str, Any]], *, custom: int) -> tuple[dict[str, int], int]:
    """Sessions per source (``custom`` for the merchant's own) and how many the hub opened,
    from ``_breakdown_by_source``'s rows."""
    counts = dict.fromkeys(SOURCES, 0)
    from_hub = 0
    for row in rows:
        counts[row["source"]] = counts.get(row["source"], 0) + row["n"]
        from_hub += row["from_hub"]
    counts["custom"] = custom
    return counts, from_hub


def hub_counts(
    *, tenant: Tenant, livemode: bool, period: Period, cancellations_started: int | None = None
) -> dict[str, int]:
    """How customers used the subscription hub in the range (see ``HUB_DEFINITIONS``);
    ``cancellations_started`` when the caller has already counted them."""
    common = {"tenant": tenant, "livemode": livemode}
    actions = dict(
        HubAction.objects.filter(
            **common,
            status=HubActionStatus.COMPLETED,
            completed_at__gte=period.start_at,
            completed_at__lt=period.end_at,
        )
        .values_list("kind")
        .annotate(n=Count("*"))
        .order_by()
    )
    return {
        "visits": HubSession.objects.filter(
            **common, viewed_at__gte=period.start_at, viewed_at__lt=period.end_at
        ).count(),
        "cancellations_started": Session.objects.filter(
            **common, created_at__gte=period.start_at, created_at__lt=period.end_at
        )
        .exclude(hub_session_id="")
        .count()
        if cancellations_started is None
        else cancellations_started,
        "resumes": actions.get(HubActionKind.RESUME, 0),
        "reactivations": actions.get(HubActionKind.REACTIVATE, 0),
        "plan_changes": actions.get(HubActionKind.CHANGE_PLAN, 0),
    }


def analytics_default_mode(*, tenant: Tenant) -> tuple[bool, str | None]:
    """The mode the page opens on when none is asked for, and a note for the page when it
    is not the usual one: test mode when only test mode has sessions (a workspace still
    trying MRRX out would see nothing but zeros in live mode), else live mode."""
    sessions = Session.objects.filter(tenant=tenant)
    if sessions.filter(livemode=True).exists() or not sessions.filter(livemode=False).exists():
        return True, None
    return False, "Showing test mode: there are no live-mode sessions yet."


def analytics_report(
    *, tenant: Tenant, livemode: bool, period: Period, source: str = Source.FLOW
) -> Report:
    """Every figure of the analytics page for one workspace, mode, period and source."""
    report = Report(tenant=tenant, livemode=livemode, period=period, source=source)
    sessions = sessions_in(tenant=tenant, livemode=livemode, period=period, source=source)
    # The two scans of the range, at once on connections of their own (mrrx.parallel).
    rows, daily = together(
        lambda: _breakdown_by_source(tenant=tenant, livemode=livemode, period=period),
        lambda: [] if source == "custom" else _daily_offers(sessions),
    )
    custom = custom_sessions_in(tenant=tenant, livemode=livemode, period=period)
    counts, from_hub = _source_totals(rows, custom=custom.count())
    report.other_sources = {name: n for name, n in counts.items() if name != source and n}
    report.hub = hub_counts(
        tenant=tenant, livemode=livemode, period=period, cancellations_started=from_hub
    )
    if source == "custom":
        _summarize(report, _custom_breakdown(custom))
        report.trend = _custom_trend(custom, period)
        report.offers = _custom_offers(custom)
        return report
    _summarize(report, [row for row in rows if row["source"] == source])
    report.trend = _trend(daily, report.period)
    report.offers = _offers(daily, tenant=tenant)
    return report


def _custom_breakdown(custom: QuerySet, *group: str) -> list[dict[str, Any]]:
    """Custom sessions in the shape of ``_breakdown``'s rows: reported with an outcome is
    completed, without one abandoned; every one was opened (it happened in the merchant's
    own page); the amount is already monthly."""
    rows = (
        custom.values(*group, "outcome_action", "survey_reason", "mrr_currency")
        .annotate(n=Count("*"), amount=Sum("mrr_amount"))
        .order_by()
    )
    return [
        {
            **{name: row[name] for name in group},
            "status": SessionStatus.COMPLETED if row["outcome_action"] else SessionStatus.ABANDONED,
            "outcome_action": row["outcome_action"],
            "survey_reason": row["survey_reason"],
            # Blank exactly when no MRR was reported.
            "price_currency": row["mrr_currency"],
            "price_interval": "month",
            "price_interval_count": 1,
            "n": row["n"],
            "opened": row["n"],
            "amount": row["amount"],
        }
        for row in rows
    ]


def _custom_trend(custom: QuerySet, period: Period) -> list[DayRow]:
    rows = (
        custom.annotate(day=TruncDate("started_at", tzinfo=UTC))
        .values("day")
        .annotate(
            started=Count("*"),
            completed=Count("id", filter=~Q(outcome_action="")),
            saved=Count("id", filter=~Q(outcome_action="") & ~Q(outcome_action__in=_NOT_SAVES)),
            canceled=Count("id", filter=Q(outcome_action=Action.CANCEL)),
        )
        .order_by()
    )
    days = {day: DayRow(day=day) for day in period.days}
    for row in rows:
        if row["day"] in days:
            days[row["day"]] = DayRow(**row)
    return list(days.values())


def _custom_offers(custom: QuerySet) -> list[OfferRow]:
    """Offers as the merchant labelled them: shown in a session, and accepted when the
    session's outcome is that offer's action."""
    totals: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    rows = custom.values("offers_shown", "outcome_action").annotate(n=Count("*")).order_by()
    for row in rows:
        offers = row["offers_shown"] if isinstance(row["offers_shown"], list) else []
        for key in dict.fromkeys((o.get("action", ""), o.get("label", "")) for o in offers):
            totals[key][0] += row["n"]
            if key[0] == row["outcome_action"]:
                totals[key][1] += row["n"]
    result = [
        OfferRow(
            offer_id="",
            action=action,
            label=label or action,
            considered=shown,
            shown=shown,
            accepted=accepted,
        )
        for (action, label), (shown, accepted) in totals.items()
    ]
    result.sort(key=lambda row: (-row.shown, row.label))
    return result


def _breakdown(sessions: QuerySet[Session], *group: str, reasons: bool = True) -> QuerySet:
    """Sessions counted by every attribute a figure depends on (a few hundred groups), and
    by the ``group`` columns when the API splits the figures (``dashboard.figures``).

    Without ``reasons`` (figures that show no reasons table: the API's groups, experiment
    arms) the rows are not split by reason but count the sessions that gave one: seven
    times fewer groups, which matters most when split by day."""
    columns = ["status", "outcome_action", "price_currency", "price_interval",
               "price_interval_count"]  # fmt: skip
    aggregates: dict[str, Any] = {
        "n": Count("*"),
        "opened": Count("viewed_at"),
        "amount": Sum("price_amount"),
    }
    if reasons:
        columns.insert(2, "survey_reason")
    else:
        # A column of the index, not the primary key: the scan stays on the index.
        aggregates["reason_given"] = Count("created_at", filter=~Q(survey_reason=""))
    return sessions.values(*group, *columns).annotate(**aggregates).order_by()


def _summarize(report: Report, rows: Iterable[dict[str, Any]]) -> None:
    """The counts, MRR and reasons of a breakdown's rows (rows without ``survey_reason``
    carry ``reason_given`` and leave the reasons empty)."""
    counts = dict.fromkeys(COUNTS, 0)
    mrr: dict[str, MrrRow] = {}
    # Amounts summed per price term first, made monthly once per term: exact, and one
    # fraction per term rather than per row.
    amounts: dict[tuple[str, str, str, int], int] = defaultdict(int)
    reasons = {code: ReasonRow(code=code, label=str(label)) for code, label in Reason.choices}
    for row in rows:
        n, status, reason = row["n"], row["status"], row.get("survey_reason", "")
        completed = status == SessionStatus.COMPLETED
        canceled = completed and row["outcome_action"] == Action.CANCEL
        deflected = completed and row["outcome_action"] in DEFLECTIONS
        saved = completed and not canceled and not deflected
        counts["started"] += n
        counts["opened"] += row["opened"]
        counts["reason_given"] += row.get("reason_given", n if reason else 0)
        counts["completed"] += n if completed else 0
        counts["saved"] += n if saved else 0
        counts["deflected"] += n if deflected else 0
        counts["canceled"] += n if canceled else 0
        if status in ("abandoned", "expired", "failed"):
            counts[status] += n
        if reason in reasons:
            reasons[reason].sessions += n
            reasons[reason].completed += n if completed else 0
            reasons[reason].saved += n if saved else 0
            reasons[reason].canceled += n if canceled else 0
        # A deflection kept nothing yet and lost nothing yet: in neither MRR figure.
        if completed and not deflected and row["price_currency"]:
            currency = row["price_currency"].lower()
            entry = mrr.setdefault(currency, MrrRow(currency=currency))
            if saved:
                entry.saved_sessions += n
            else:
                entry.canceled_sessions += n
            if row["price_interval"] in MONTHLY_FACTOR and row["amount"] is not None:
                term = (row["price_interval"], row["price_interval_count"] or 1)
                amounts[(currency, "saved" if saved else "lost", *term)] += row["amount"]
    monthly: dict[tuple[str, str], Fraction] = defaultdict(Fraction)
    for (currency, kind, interval, count), amount in amounts.items():
        monthly[(currency, kind)] += Fraction(amount) * MONTHLY_FACTOR[interval] / count
    for (currency, kind), value in monthly.items():
        setattr(mrr[currency], kind, _round_half_up(value))
    report.counts = counts
    report.mrr = sorted(mrr.values(), key=lambda row: row.currency)
    report.reasons = sorted(
        (row for row in reasons.values() if row.sessions), key=lambda row: (-row.sessions, row.code)
    )


def _daily_offers(sessions: QuerySet[Session]) -> list[dict[str, Any]]:
    """Sessions counted by day, status, outcome and offers considered (``offers_key``),
    with one session of each group (``sample``) to read the group's offers from: the
    daily trend and the offer figures from one scan of ``session_analytics_idx``."""
    return list(
        sessions.annotate(day=TruncDate("created_at", tzinfo=UTC))
        .values("day", "status", "outcome_action", "offers_key")
        .annotate(n=Count("*"), sample=offers_sample(sessions))
        .order_by()
    )


def offers_sample(sessions: QuerySet[Session]) -> Min:
    """An aggregate picking one session id of each group, for ``offers_by_key``."""
    if connections[sessions.db].vendor == "postgresql":
        # Any one will do: the bytewise minimum spares a collation's comparisons.
        return Min(Collate("id", "C"))
    return Min("id")


def _trend(rows: Iterable[dict[str, Any]], period: Period) -> list[DayRow]:
    days = {day: DayRow(day=day) for day in period.days}
    for row in rows:
        day = days.get(row["day"])
        if day is None:
            continue
        n = row["n"]
        completed = row["status"] == SessionStatus.COMPLETED
        day.started += n
        day.completed += n if completed else 0
        day.saved += n if completed and row["outcome_action"] not in _NOT_SAVES else 0
        day.canceled += n if completed and row["outcome_action"] == Action.CANCEL else 0
    return list(days.values())


def offers_by_key(rows: Iterable[dict[str, Any]]) -> dict[str, list[Any]]:
    """The offers considered under each ``offers_key`` of ``rows`` (each with a
    ``sample`` session id), read from one session per key."""
    samples = {row["offers_key"]: row["sample"] for row in rows if row["offers_key"]}
    found = Session.objects.filter(pk__in=set(samples.values())).values_list(
        "offers_key", "offers_considered"
    )
    return {key: offers for key, offers in found if isinstance(offers, list)}


def _offers(rows: list[dict[str, Any]], *, tenant: Tenant) -> list[OfferRow]:
    """Per offer: sessions that considered it, were shown it, and completed with its
    action after being shown it."""
    offers = offers_by_key(rows)
    totals: dict[tuple[Any, Any], list[int]] = defaultdict(lambda: [0, 0, 0])
    for row in rows:
        n = row["n"]
        completed = row["status"] == SessionStatus.COMPLETED
        for offer in offers.get(row["offers_key"], ()):
            if not isinstance(offer, dict):
                continue
            action = offer.get("action")
            entry = totals[(offer.get("offer_id"), action)]
            entry[0] += n
            if offer.get("shown") is True:
                entry[1] += n
                entry[2] += n if completed and row["outcome_action"] == action else 0
    labels = _offer_labels([offer_id for offer_id, _ in totals], tenant=tenant)
    result = [
        OfferRow(
            offer_id=offer_id or "",
            action=action or "",
            label=labels.get(offer_id, offer_id or ""),
            considered=considered,
            shown=shown,
            accepted=accepted,
        )
        for (offer_id, action), (considered, shown, accepted) in totals.items()
    ]
    result.sort(key=lambda row: (-row.shown, row.offer_id))
    return result


def _offer_labels(offer_ids: list[Any], *, tenant: Tenant) -> dict[str, str]:
    """Human names for offer ids ("pause:ofr_..."), from the offers still configured."""
    pks = {
        str(offer_id).split(":", 1)[1]: offer_id
        for offer_id in offer_ids
        if offer_id and ":" in str(offer_id)
    }
    labels = {}
    for offer in Offer.objects.filter(pk__in=list(pks), config__tenant=tenant):
        labels[pks[offer.pk]] = f"{offer.get_action_display()} ({offer.get_reason_display()})"
    for offer_id in offer_ids:
        if offer_id and str(offer_id).endswith(":default"):
            labels[offer_id] = "Trial extension (default)"
    return labels


def money_amount(amount: int, currency: str) -> str:
    """A smallest-unit amount as a plain decimal string ("1234.50"; "1234" for JPY)."""
    if currency.lower() in ZERO_DECIMAL:
        return str(amount)
    sign = "-" if amount < 0 else ""
    whole, cents = divmod(abs(amount), 100)
    return f"{sign}{whole}.{cents:02d}"


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"
