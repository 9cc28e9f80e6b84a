"""The weekly report: last week's live-mode figures for one workspace, as plain text and HTML.

Sessions, save rate, MRR saved (the analytics page's figures over the week, cancel flow
only), the saves checked against Stripe that week (their 30, 60 and 90-day checkpoints
due in the week: retained, churned, MRR retained), the top reasons, and the running
experiments with each variant's difference against the holdout. Test mode is never in it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse

from experiments.models import ExperimentStatus
from retention.models import SaveCheckpoint
from tenants.models import Tenant

from .analytics import Period, ReasonRow, Report, analytics_report, money_amount, percent
from .experiment_results import ExperimentResult, experiment_results, experiments_for
from .figures import Retention, retention_of
from .retention_page import FIGURE_LABELS, difference_text

TOP_REASONS = 3


def week_before(today: date) -> Period:
    """The last whole week (Monday to Sunday, UTC) before the one ``today`` is in."""
    monday = today - timedelta(days=today.weekday())
    return Period(start=monday - timedelta(days=7), end=monday - timedelta(days=1))


@dataclass
class WeeklyReportContent:
    tenant: Tenant
    period: Period
    report: Report
    # The checkpoints that fell due in the week, by day (30, 60, 90).
    verified: dict[int, Retention]
    top_reasons: list[ReasonRow] = field(default_factory=list)
    experiments: list[ExperimentResult] = field(default_factory=list)

    @property
    def has_activity(self) -> bool:
        """Anything to tell: sessions, saves checked, or an experiment running."""
        return bool(
            self.report.counts["started"]
            or sum(self.report.other_sources.values())
            or any(entry.saves for entry in self.verified.values())
            or self.experiments
        )


def weekly_report_build(*, tenant: Tenant, period: Period) -> WeeklyReportContent:
    """Last week's live-mode figures for ``tenant``."""
    report = analytics_report(tenant=tenant, livemode=True, period=period)
    checkpoints = SaveCheckpoint.objects.filter(
        save_record__tenant=tenant,
        save_record__livemode=True,
        due_at__gte=period.start_at,
        due_at__lt=period.end_at,
    )
    running = [
        experiment_results(experiment=experiment)
        for experiment in experiments_for(tenant=tenant, livemode=True, period=period)
        if experiment.status == ExperimentStatus.RUNNING
    ]
    return WeeklyReportContent(
        tenant=tenant,
        period=period,
        report=report,
        verified=retention_of(checkpoints),
        top_reasons=report.reasons[:TOP_REASONS],
        experiments=running,
    )


@dataclass(frozen=True)
class RenderedReport:
    subject: str
    text: str
    html: str


def weekly_report_render(content: WeeklyReportContent) -> RenderedReport:
    period = content.period
    report = content.report
    c = report.counts
    week = (
        f"{period.start:%b} {period.start.day} to {period.end:%b} {period.end.day}, {period.end:%Y}"
    )
    query = f"?start={period.start}&end={period.end}&mode=live"
    context = {
        "workspace": content.tenant.name,
        "week": week,
        "sessions": c["started"],
        "completed": c["completed"],
        "saved": c["saved"],
        "save_rate": percent(report.save_rate),
        "other_sources": report.other_sources,
        "mrr_saved": [
            f"{money_amount(row.saved, row.currency)} {row.currency.upper()}"
            for row in report.mrr
            if row.saved_sessions
        ],
        "verified": [
            {
                "day": day,
                "retained": entry.retained,
                "churned": entry.churned,
                "pending": entry.pending,
                "rate": percent(entry.rate),
                "mrr": [
                    f"{money_amount(amount, cur)} {cur.upper()}"
                    for cur, amount in sorted(entry.mrr_retained.items())
                ],
            }
            for day, entry in sorted(content.verified.items())
            if entry.saves
        ],
        "reasons": [
            {"label": row.label, "sessions": row.sessions, "save_rate": percent(row.save_rate)}
            for row in content.top_reasons
        ],
        "experiments": [
            {
                "name": result.experiment.name,
                "arms": [
                    {
                        "name": arm.arm.name,
                        "sessions": arm.sessions,
                        "save_rate": percent(arm.save_rate),
                        "differences": [
                            {
                                "figure": FIGURE_LABELS[comparison.figure]
                                + (
                                    f" ({comparison.currency.upper()})"
                                    if comparison.currency
                                    else ""
                                ),
                                "text": difference_text(comparison),
                            }
                            for comparison in arm.comparisons
                        ],
                    }
                    for arm in result.arms
                ],
            }
            for result in content.experiments
        ],
        "analytics_url": f"{settings.PUBLIC_BASE_URL}{reverse('dashboard_analytics')}{query}",
        "members_url": f"{settings.PUBLIC_BASE_URL}"
        f"{reverse('admin:tenants_membership_changelist')}",
    }
    subject = f"{content.tenant.name}: your retention week, {week}"
    context["subject"] = subject
    return RenderedReport(
        subject=subject,
        text=render_to_string("weekly_report/report.txt", context),
        html=render_to_string("weekly_report/report.html", context),
    )
