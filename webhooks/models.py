"""Webhook endpoints, the events sent to them, and each delivery and attempt (SPEC section 6).

The event and its deliveries are written in the transaction of the change that caused
them (an outbox). A delivery is a row with a ``next_attempt_at``; the dispatcher and the
attempt service move it along with conditional updates, so losing a broker message delays
a delivery but never loses it.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from mrrx.ids import PrefixedId


class Endpoint(models.Model):
    """A merchant's URL that receives a workspace's events of one mode."""

    id = models.CharField(primary_key=True, max_length=40, default=PrefixedId("we"), editable=False)
    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.CASCADE, related_name="webhook_endpoints"
    )
    livemode = models.BooleanField()
    url = models.URLField(max_length=2000)
    description = models.CharField(max_length=200, blank=True)
    # The event types sent here; empty means every type, including ones added later.
    event_types = models.JSONField(default=list, blank=True)
    enabled = models.BooleanField(default=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=300, blank=True)
    # Fernet tokens (mrrx.crypto): the secret is needed in plaintext to sign.
    secret_encrypted = models.TextField(editable=False)
    # After a rotation the old secret signs too, until previous_secret_expires_at.
    previous_secret_encrypted = models.TextField(blank=True, editable=False)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    secret_rotated_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Start of the current run of failed attempts (None after any success).
    failing_since = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = "webhook endpoint"
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["tenant", "livemode", "enabled"], name="endpoint_fanout")]
        constraints = [
            models.CheckConstraint(
                condition=Q(enabled=True, disabled_at__isnull=True)
                | Q(enabled=False, disabled_at__isnull=False),
                name="endpoint_disabled_has_time",
            )
        ]

    def __str__(self) -> str:
        return self.url

    @property
    def mode(self) -> str:
        return "live" if self.livemode else "test"

    def receives(self, event_type: str) -> bool:
        return not self.event_types or event_type in self.event_types


class Event(models.Model):
    """One event, serialized once: ``body`` is exactly the bytes signed and sent."""

    id = models.CharField(
        primary_key=True, max_length=40, default=PrefixedId("evt"), editable=False
    )
    # No index of its own: event_by_tenant starts with it, and each index is written again
    # for every event (a million at once when the expiry sweep ends a million sessions).
    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.CASCADE, related_name="events", db_index=False
    )
    livemode = models.BooleanField()
    type = models.CharField(max_length=64)
    # Copied out of the payload so that admin can find a session's events.
    session_id = models.CharField(max_length=64, blank=True, db_index=True)
    body = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["tenant", "livemode", "-created_at"], name="event_by_tenant")
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"

    @property
    def payload(self) -> dict[str, Any]:
        return json.loads(self.body)


class Delivery(models.Model):
    """Getting one event to one endpoint, over as many attempts as that takes."""

    class Status(models.TextChoices):
        PENDING = "pending"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    id = models.CharField(
        primary_key=True, max_length=40, default=PrefixedId("dlv"), editable=False
    )
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries")
    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    # Attempts made, ever. Messages name the attempt they are for, so a duplicate or
    # stale message finds this moved on and does nothing.
    attempt_count = models.PositiveSmallIntegerField(default=0)
    # attempt_count when the current schedule began (a manual resend starts a new one).
    retry_base = models.PositiveSmallIntegerField(default=0)
    # When the next attempt is due; the dispatcher moves it forward when it queues one.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # Held while an attempt is being sent, so a duplicate message cannot send it twice.
    locked_until = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "deliveries"
        ordering = ["-created_at"]
        indexes = [
            models.Index(
                fields=["next_attempt_at"], condition=Q(status="pending"), name="delivery_due"
            ),
            models.Index(fields=["endpoint", "status", "created_at"], name="delivery_by_endpoint"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["event", "endpoint"],
                condition=Q(status="pending"),
                name="one_pending_delivery_per_event_endpoint",
            ),
            models.CheckConstraint(
                condition=~Q(status="pending") | Q(next_attempt_at__isnull=False),
                name="pending_delivery_has_next_attempt",
            ),
        ]

    def __str__(self) -> str:
        return self.id


class DeliveryAttempt(models.Model):
    """One HTTP request (or a refusal to make it), as the merchant sees it in the log."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempts")
    number = models.PositiveSmallIntegerField()
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField(default=0)
    request_url = models.URLField(max_length=2000)
    # Everything sent but the body (stored once on the event). Never the secret.
    request_headers = models.JSONField(default=dict)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_headers = models.JSONField(default=dict, blank=True)
    response_body = models.TextField(blank=True)
    error = models.TextField(blank=True)
    succeeded = models.BooleanField(default=False)

    class Meta:
        ordering = ["delivery", "number"]
        indexes = [models.Index(fields=["delivery", "number"], name="attempt_by_delivery")]

    def __str__(self) -> str:
        return f"{self.delivery_id} #{self.number}"
