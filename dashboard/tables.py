"""The analytics figures as tables of text: what the page's tables and the CSV both show.

One function builds them, so the CSV export and the tables cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

from .analytics import HUB_COUNTS, HUB_DEFINITIONS, SOURCES, Report, money_amount, percent


@dataclass(frozen=True)
class Table:
    title: str
    header: list[str]
    rows: list[list[str]]


def report_tables(report: Report) -> list[Table]:
    c = report.counts
    summary = Table(
        "Summary",
        ["Metric", "Value"],
        [
            ["Source", SOURCES[report.source]],
            ["Sessions started", str(c["started"])],
            ["Opened", str(c["opened"])],
            ["Gave a reason", str(c["reason_given"])],
            ["Completed", str(c["completed"])],
            ["Saved", str(c["saved"])],
            ["Canceled", str(c["canceled"])],
            ["Save rate", percent(report.save_rate)],
            ["Abandoned", str(c["abandoned"])],
            ["Expired", str(c["expired"])],
            ["Failed", str(c["failed"])],
        ],
    )
    mrr = Table(
        "MRR by currency",
        ["Currency", "MRR saved", "MRR lost", "Saved sessions", "Canceled sessions"],
        [
            [
                row.currency.upper(),
                money_amount(row.saved, row.currency),
                money_amount(row.lost, row.currency),
                str(row.saved_sessions),
                str(row.canceled_sessions),
            ]
            for row in report.mrr
        ],
    )
    reasons = Table(
        "Reasons",
        ["Reason", "Sessions", "Completed", "Saved", "Canceled", "Save rate"],
        [
            [
                row.label,
                str(row.sessions),
                str(row.completed),
                str(row.saved),
                str(row.canceled),
                percent(row.save_rate),
            ]
            for row in report.reasons
        ],
    )
    offers = Table(
        "Offers",
        ["Offer", "Offer id", "Action", "Shown", "Accepted", "Acceptance rate"],
        [
            [
                row.label,
                row.offer_id,
                row.action,
                str(row.shown),
                str(row.accepted),
                percent(row.acceptance_rate),
            ]
            for row in report.offers
        ],
    )
    trend = Table(
        "Daily trend",
        ["Day (UTC)", "Started", "Completed", "Saved", "Canceled"],
        [
            [
                day.day.isoformat(),
                str(day.started),
                str(day.completed),
                str(day.saved),
                str(day.canceled),
            ]
            for day in report.trend
        ],
    )
    hub = Table(
        "Subscription hub",
        ["Metric", "Value"],
        [[label, str(report.hub.get(key, 0))] for (label, _), key in zip(
            HUB_DEFINITIONS, HUB_COUNTS, strict=True
        )],
    )  # fmt: skip
    return [summary, mrr, reasons, offers, trend, hub]
