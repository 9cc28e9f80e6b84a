from __future__ import annotations

from django.db import models


class WebhookEvent(models.Model):
    """An MRRX event, kept once: deliveries are retried, and a retry is no new event."""

    event_id = models.CharField(max_length=64, unique=True)
    type = models.CharField(max_length=64)
    session_id = models.CharField(max_length=64, blank=True)
    payload = models.JSONField()
    received_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"
