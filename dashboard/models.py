"""Rows the dashboard keeps of its own: when each periodic task last ran."""

from __future__ import annotations

from django.db import models


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
