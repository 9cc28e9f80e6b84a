"""Rows the dashboard keeps of its own: when each periodic task last ran, and which weekly
reports went out."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class Heartbeat(models.Model):
    """Written by each beat-scheduled task as it finishes (see ``dashboard.heartbeats``)."""

    name = models.CharField(primary_key=True, max_length=200)
    last_run_at = models.DateTimeField()
    # The Celery state of that run: SUCCESS, FAILURE, RETRY, ...
    last_state = models.CharField(max_length=20, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class WeeklyReportStatus(models.TextChoices):
    # Written for the week; the beat task claims it.
    PENDING = "pending"
    # Claimed by a worker that is sending it now.
    SENDING = "sending"
    SENT = "sent"
    # Nothing to send: no owner wants it, or the workspace had no live activity that week.
    SKIPPED = "skipped"


class WeeklyReport(models.Model):
    """One workspace's weekly report for one week: the row that makes it go out once."""

    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    # The Monday (UTC) the reported week starts on.
    week_start = models.DateField()
    status = models.CharField(
        max_length=10, choices=WeeklyReportStatus.choices, default=WeeklyReportStatus.PENDING
    )
    # How many owners it was sent to (their addresses are not kept here).
    recipients = models.PositiveIntegerField(default=0)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-week_start", "tenant"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "week_start"], name="one_weekly_report_per_week"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=WeeklyReportStatus.values),
                name="weekly_report_status_known",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.tenant_id} week of {self.week_start}"
