"""The analytics page's retention and experiment sections: their tables (also in the CSV)
and charts, from ``dashboard.figures`` and ``dashboard.experiment_results``."""

from __future__ import annotations

from typing import Any

from django.utils.safestring import SafeString

from . import charts
from .analytics import money_amount, percent
from .experiment_results import Comparison, ExperimentResult
from .figures import Figures
from .tables import Table

FIGURE_LABELS = {
    "save_rate": "Save rate",
    "retained_30": "Retained at 30 days per session",
    "retained_60": "Retained at 60 days per session",
    "retained_90": "Retained at 90 days per session",
    "mrr_retained_90_per_session": "MRR retained at 90 days per session",
}


def retention_table(figures: Figures) -> Table:
    rows = []
    for day, entry in sorted(figures.retention.items()):
        mrr = ", ".join(
            f"{money_amount(amount, cur)} {cur.upper()}"
            for cur, amount in sorted(entry.mrr_retained.items())
        )
        rows.append(
            [
                f"{day} days",
                str(entry.saves),
                str(entry.retained),
                str(entry.churned),
                str(entry.pending),
                percent(entry.rate),
                mrr or "-",
            ]
        )
    per_session = ", ".join(
        f"{money_amount(round(value), cur)} {cur.upper()}"
        for cur, value in figures.mrr_retained_90_per_session.items()
    )
    rows.append(["MRR retained at 90 days per session started", "", "", "", "", "",
                 per_session or "-"])  # fmt: skip
    return Table(
        "Retention of saves",
        ["Checkpoint", "Saves", "Retained", "Churned", "Pending", "Retention rate", "MRR retained"],
        rows,
    )


def retention_chart(figures: Figures) -> SafeString:
    rows = [
        (
            f"{day} days",
            [
                ("retained", entry.retained, charts.GREEN),
                ("churned", entry.churned, charts.RED),
                ("pending", entry.pending, charts.PALE),
            ],
        )
        for day, entry in sorted(figures.retention.items())
        if entry.saves
    ]
    return charts.stacked_bar_chart(rows, title="Saves still paying at 30, 60 and 90 days")


def difference_text(comparison: Comparison) -> tuple[str, str]:
    """The difference and its interval as the table prints them."""
    money = comparison.figure == "mrr_retained_90_per_session"
    if comparison.arm_value is None or comparison.holdout_value is None:
        return "-", "-"
    diff = comparison.arm_value - comparison.holdout_value
    if comparison.interval is None:
        text = "not enough data"
    elif money:
        text = (
            f"{_signed(comparison.interval.low, comparison.currency)} to "
            f"{_signed(comparison.interval.high, comparison.currency)}"
        )
    else:
        text = f"{comparison.interval.low * 100:+.1f} to {comparison.interval.high * 100:+.1f} pts"
    if money:
        return f"{_signed(diff, comparison.currency)} {comparison.currency.upper()}", text
    return f"{diff * 100:+.1f} pts", text


def _signed(amount: float, currency: str) -> str:
    """A difference in money with its sign, as the rates' are ("+8.70", "-1.20", "+0.00")."""
    rounded = round(amount)
    return ("+" if rounded >= 0 else "") + money_amount(rounded, currency)


def experiment_tables(results: list[ExperimentResult]) -> list[Table]:
    tables = []
    for result in results:
        experiment = result.experiment
        arms = Table(
            f"Experiment: {experiment.name} ({experiment.get_status_display().lower()})",
            ["Arm", "Kind", "Sessions", "Save rate", "Retained 30 d", "Retained 60 d",
             "Retained 90 d", "MRR retained 90 d per session"],
            [
                [
                    arm.arm.name,
                    arm.arm.kind,
                    str(arm.sessions),
                    percent(arm.save_rate),
                    *(percent(arm.retained_rate(day)) for day in (30, 60, 90)),
                    ", ".join(
                        f"{money_amount(round(arm.mrr_retained_90_per_session(cur) or 0), cur)} "
                        f"{cur.upper()}"
                        for cur in result.currencies
                    ) or "-",
                ]
                for arm in result.arms
            ],
        )  # fmt: skip
        differences = Table(
            f"Experiment: {experiment.name}, against the holdout",
            ["Arm", "Figure", "Difference", "95% interval"],
            [
                [
                    arm.arm.name,
                    FIGURE_LABELS[c.figure] + (f" ({c.currency.upper()})" if c.currency else ""),
                    *difference_text(c),
                ]
                for arm in result.arms
                for c in arm.comparisons
            ],
        )
        tables += [arms, differences]
    return tables


def experiment_charts(results: list[ExperimentResult]) -> list[dict[str, Any]]:
    """Per experiment, the variants' differences in rates against the holdout."""
    drawn = []
    for result in results:
        rows = [
            (
                f"{arm.arm.name}: {FIGURE_LABELS[c.figure].lower()}",
                (c.interval.estimate * 100) if c.interval else None,
                (c.interval.low * 100) if c.interval else None,
                (c.interval.high * 100) if c.interval else None,
            )
            for arm in result.arms
            for c in arm.comparisons
            if c.figure in ("save_rate", "retained_90")
        ]
        drawn.append(
            {
                "experiment": result.experiment,
                "chart": charts.interval_chart(
                    rows, title=f"{result.experiment.name}: difference against the holdout"
                ),
            }
        )
    return drawn
