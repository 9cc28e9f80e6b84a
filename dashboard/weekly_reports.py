"""Sending the weekly report: once per workspace per week, to the owners who want it.

A ``WeeklyReport`` row per workspace and week is the guard: rows are inserted with
``ignore_conflicts`` (two runs insert one), each is claimed with a conditional UPDATE from
pending to sending (two runs claim it once), and only the claimer sends. A claim left by a
worker that died mid-way is taken again after ``CLAIM_TIMEOUT``.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db.models import Q
from django.utils import timezone

from tenants.models import Membership, Tenant

from .models import WeeklyReport, WeeklyReportStatus
from .report import week_before, weekly_report_build, weekly_report_render

logger = logging.getLogger(__name__)

CLAIM_TIMEOUT = timedelta(hours=1)


def weekly_report_recipients(*, tenant: Tenant) -> list[str]:
    """The addresses of the workspace's active owners who have not turned the report off."""
    rows = (
        Membership.objects.filter(
            tenant=tenant,
            role=Membership.Role.OWNER,
            weekly_report=True,
            user__is_active=True,
        )
        .exclude(user__email="")
        .order_by("user__email")
        .values_list("user__email", flat=True)
    )
    return list(dict.fromkeys(rows))


def weekly_reports_send(*, now: datetime | None = None) -> dict[str, int]:
    """Send last week's report of every workspace that has not had it yet."""
    now = now or timezone.now()
    week = week_before(now.date())
    WeeklyReport.objects.bulk_create(
        [
            WeeklyReport(tenant_id=tenant_id, week_start=week.start)
            for tenant_id in Tenant.objects.values_list("pk", flat=True)
        ],
        ignore_conflicts=True,
    )
    due = WeeklyReport.objects.filter(week_start=week.start).filter(
        Q(status=WeeklyReportStatus.PENDING)
        | Q(status=WeeklyReportStatus.SENDING, claimed_at__lt=now - CLAIM_TIMEOUT)
    )
    done = {WeeklyReportStatus.SENT: 0, WeeklyReportStatus.SKIPPED: 0}
    for report_id in due.values_list("pk", flat=True):
        status = weekly_report_send(report_id=report_id, now=now)
        if status in done:
            done[status] += 1
    return {str(status): count for status, count in done.items()}


def weekly_report_send(*, report_id: int, now: datetime) -> str | None:
    """Claim one workspace's report and send it; None when another run has it."""
    claimable = Q(status=WeeklyReportStatus.PENDING) | Q(
        status=WeeklyReportStatus.SENDING, claimed_at__lt=now - CLAIM_TIMEOUT
    )
    claimed = WeeklyReport.objects.filter(claimable, pk=report_id).update(
        status=WeeklyReportStatus.SENDING, claimed_at=now
    )
    if claimed != 1:
        return None
    row = WeeklyReport.objects.select_related("tenant").get(pk=report_id)
    week = week_before(row.week_start + timedelta(days=7))
    recipients = weekly_report_recipients(tenant=row.tenant)
    content = weekly_report_build(tenant=row.tenant, period=week) if recipients else None
    if content is None or not content.has_activity:
        WeeklyReport.objects.filter(pk=report_id).update(status=WeeklyReportStatus.SKIPPED)
        return WeeklyReportStatus.SKIPPED
    rendered = weekly_report_render(content)
    messages = []
    for address in recipients:
        # One message per owner: owners do not see each other's addresses.
        message = EmailMultiAlternatives(
            subject=rendered.subject,
            body=rendered.text,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[address],
        )
        message.attach_alternative(rendered.html, "text/html")
        messages.append(message)
    try:
        get_connection().send_messages(messages)
    except Exception:
        # Claimed again by the next run (the mail server may be back by then).
        WeeklyReport.objects.filter(pk=report_id).update(status=WeeklyReportStatus.PENDING)
        raise
    WeeklyReport.objects.filter(pk=report_id).update(
        status=WeeklyReportStatus.SENT, sent_at=timezone.now(), recipients=len(messages)
    )
    logger.info(
        "weekly report of %s for the week of %s sent to %d owner(s)",
        row.tenant_id,
        row.week_start,
        len(messages),
    )
    return WeeklyReportStatus.SENT
