"""Saves watched against Stripe: was the subscription still alive and paying at 30, 60, 90 days?

A ``Save`` is written for every session whose outcome kept the subscription; its three
``SaveCheckpoint`` rows settle from the subscription's timeline (``SubscriptionChange``
rows from inbound Stripe events, in Stripe's event order) and, for what events left
open, from a periodic re-check through the gateway. Revenue comes from ``InvoicePayment``.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from mrrx.ids import PrefixedId

CHECKPOINT_DAYS = (30, 60, 90)


class CheckpointStatus(models.TextChoices):
    PENDING = "pending"
    # Active or trialing and not canceling, or paused only as the accepted pause.
    RETAINED = "retained"
    # Canceled, or canceling at period end.
    CHURNED = "churned"


# ``Save.session_source`` of a save made in a custom session (the others: ``Source``).
CUSTOM_SOURCE = "custom"


class SettledBy(models.TextChoices):
    EVENT = "event"
    RECHECK = "recheck"


class Save(models.Model):
    id = models.CharField(
        primary_key=True, max_length=40, default=PrefixedId("sav"), editable=False
    )
    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.CASCADE, related_name="saves", db_index=False
    )
    livemode = models.BooleanField()
    # One of the two: a hosted/flow-API session, or a merchant-reported custom session.
    session = models.OneToOneField(
        "sessions_app.Session",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="retention_save",
    )
    custom_session = models.OneToOneField(
        "sessions_app.CustomSession",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="retention_save",
    )
    customer_id = models.CharField(max_length=255)
    subscription_id = models.CharField(max_length=255)
    outcome_action = models.CharField(max_length=20)
    saved_at = models.DateTimeField()
    # For a pause: until when being paused is what was agreed (so still retained).
    paused_until = models.DateTimeField(null=True, blank=True)
    # The subscription's monthly amount at the save, in minor units of ``currency``.
    mrr_amount = models.BigIntegerField(null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    # Invoices paid on the subscription since the save (sum of InvoicePayment rows).
    revenue_amount = models.BigIntegerField(default=0)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    # Copied from the session when the save is written, so that analytics filter and group
    # saves without reading the session table. ``created_at`` of a session, ``started_at``
    # of a custom session.
    session_started_at = models.DateTimeField()
    # The session's ``source`` (flow, api), or ``CUSTOM_SOURCE`` for a custom session.
    session_source = models.CharField(max_length=8)
    experiment_id = models.CharField(max_length=40, blank=True, default="")
    experiment_arm = models.CharField(max_length=40, blank=True, default="")
    survey_reason = models.CharField(max_length=32, blank=True, default="")
    # The shown offer whose action the save took (``rules.accepted_offer_id``); "" for none
    # and for custom sessions, whose offers are the merchant's labels.
    accepted_offer_id = models.CharField(max_length=255, blank=True, default="")

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(Q(session__isnull=False) & Q(custom_session__isnull=True))
                | (Q(session__isnull=True) & Q(custom_session__isnull=False)),
                name="save_has_one_source",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "livemode", "saved_at"], name="save_tenant_idx"),
            models.Index(fields=["tenant", "livemode", "subscription_id"], name="save_sub_idx"),
            # Analytics: the saves of the sessions started in a range, of one source.
            models.Index(
                fields=["tenant", "livemode", "session_started_at", "session_source"],
                name="save_session_started_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.id


class SaveCheckpoint(models.Model):
    save_record = models.ForeignKey(Save, on_delete=models.CASCADE, related_name="checkpoints")
    day = models.PositiveSmallIntegerField()
    due_at = models.DateTimeField()
    status = models.CharField(
        max_length=10, choices=CheckpointStatus.choices, default=CheckpointStatus.PENDING
    )
    settled_at = models.DateTimeField(null=True, blank=True)
    settled_by = models.CharField(max_length=10, choices=SettledBy.choices, blank=True)
    # What Stripe showed for the subscription at the checkpoint.
    subscription_status = models.CharField(max_length=32, blank=True)
    # Revenue collected from the save to the checkpoint, and the monthly amount then.
    revenue_amount = models.BigIntegerField(default=0)
    mrr_amount = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["save_record", "day"]
        constraints = [
            models.UniqueConstraint(fields=["save_record", "day"], name="one_checkpoint_per_day"),
            models.CheckConstraint(
                condition=Q(status__in=CheckpointStatus.values), name="checkpoint_status_known"
            ),
        ]
        indexes = [
            # The pending checkpoints in the order the pass settles them (keyset on both).
            models.Index(
                fields=["due_at", "id"],
                condition=Q(status="pending"),
                name="checkpoint_pending_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.save_record_id} day {self.day}: {self.status}"


class SubscriptionChange(models.Model):
    """The subscription's state as one inbound Stripe event told it, at the event's time."""

    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    livemode = models.BooleanField()
    subscription_id = models.CharField(max_length=255)
    event_id = models.CharField(max_length=255)
    event_type = models.CharField(max_length=64)
    occurred_at = models.DateTimeField()
    status = models.CharField(max_length=32)
    cancel_at_period_end = models.BooleanField(default=False)
    # Set while collection is paused (pause_collection) or the subscription is paused.
    paused = models.BooleanField(default=False)
    resumes_at = models.DateTimeField(null=True, blank=True)
    mrr_amount = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "livemode", "event_id"], name="subscription_change_event_uniq"
            ),
        ]
        indexes = [
            models.Index(
                fields=["tenant", "livemode", "subscription_id", "occurred_at"],
                name="subscription_change_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subscription_id} {self.status} at {self.occurred_at:%Y-%m-%d %H:%M}"


class InvoicePaymentStatus(models.TextChoices):
    PAID = "paid"
    FAILED = "payment_failed"


class InvoicePayment(models.Model):
    """An invoice paid (or a payment that failed) on a subscription, from Stripe's events."""

    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    livemode = models.BooleanField()
    invoice_id = models.CharField(max_length=255)
    subscription_id = models.CharField(max_length=255)
    customer_id = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=16, choices=InvoicePaymentStatus.choices)
    amount = models.BigIntegerField(default=0)
    currency = models.CharField(max_length=3, blank=True)
    occurred_at = models.DateTimeField()
    event_id = models.CharField(max_length=255)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "livemode", "invoice_id", "status"],
                name="invoice_payment_uniq",
            ),
        ]
        indexes = [
            models.Index(
                fields=["tenant", "livemode", "subscription_id", "occurred_at"],
                name="invoice_payment_sub_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.invoice_id} {self.status}"
