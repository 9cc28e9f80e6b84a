"""The subscription hub: a customer's visit to the page listing their subscriptions, the
actions they took there, and the plan changes a workspace allows."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from mrrx.ids import PrefixedId
from offers.models import ProrationBehavior


class HubSession(models.Model):
    """One visit to the hub, created by the merchant's backend for one Stripe customer."""

    id = models.CharField(
        primary_key=True, max_length=40, default=PrefixedId("hub"), editable=False
    )
    # No index of its own: every index below starts with the workspace.
    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.CASCADE, related_name="hub_sessions", db_index=False
    )
    livemode = models.BooleanField()
    customer_id = models.CharField(max_length=255)
    # As the merchant sent it, when it did (the customer was found by it).
    customer_email = models.EmailField(max_length=254, blank=True)
    return_url = models.URLField(max_length=2000, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    # The language of the hub page and of the flows opened from it, when the visit was
    # created with one.
    locale = models.CharField(max_length=10, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField()
    # The first and latest time the customer opened the page, and how often.
    viewed_at = models.DateTimeField(null=True, blank=True)
    last_viewed_at = models.DateTimeField(null=True, blank=True)
    views = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = "hub session"
        indexes = [
            models.Index(fields=["tenant", "livemode", "-id"], name="hub_session_list_idx"),
            models.Index(fields=["tenant", "livemode", "customer_id"], name="hub_session_cus_idx"),
            # Analytics: visits in a date range.
            models.Index(fields=["tenant", "livemode", "viewed_at"], name="hub_session_viewed_idx"),
        ]

    def __str__(self) -> str:
        return self.id


class HubActionKind(models.TextChoices):
    # Opens (or continues) a cancellation session: the retention flow does the rest.
    CANCEL = "cancel"
    RESUME = "resume"
    REACTIVATE = "reactivate"
    CHANGE_PLAN = "change_plan"


class HubActionStatus(models.TextChoices):
    # Written by the customer's click; the same request claims it for a worker.
    REQUESTED = "requested"
    EXECUTING = "executing"
    COMPLETED = "completed"
    FAILED = "failed"
    # A cancel: the cancellation session it opened carries the outcome.
    OPENED = "opened"


class HubAction(models.Model):
    """One thing the customer did in the hub.

    Resume, reactivate and change plan are done once on Stripe by a worker: the row is
    unique per visit, action, subscription (and price), a double submit or a second tab
    finds it taken, and only the request whose conditional update moves it from
    ``requested`` to ``executing`` hands it to the worker. A cancel opens a cancellation
    session, at most one active per subscription (held by ``sessions_app``).
    """

    id = models.CharField(
        primary_key=True, max_length=40, default=PrefixedId("hba"), editable=False
    )
    hub_session = models.ForeignKey(HubSession, on_delete=models.CASCADE, related_name="actions")
    # The visit's workspace and mode, copied for scoping and analytics.
    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.CASCADE, related_name="hub_actions", db_index=False
    )
    livemode = models.BooleanField()
    kind = models.CharField(max_length=16, choices=HubActionKind.choices)
    subscription_id = models.CharField(max_length=255)
    # The price a plan change moves to; blank for the other actions.
    price_id = models.CharField(max_length=255, blank=True)
    # What the customer was shown and Stripe is sent (plan change: from_price_id,
    # proration_behavior, proration_date, preview amounts).
    params = models.JSONField(default=dict, blank=True)
    status = models.CharField(
        max_length=12, choices=HubActionStatus.choices, default=HubActionStatus.REQUESTED
    )
    # ``<hub id>:<action>:<subscription id>[:<price>]``: the same on every try.
    idempotency_key = models.CharField(max_length=600, blank=True)
    cancellation_session_id = models.CharField(max_length=40, blank=True)
    outcome = models.JSONField(null=True, blank=True)
    failure = models.JSONField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    executing_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "hub action"
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["hub_session", "kind", "subscription_id", "price_id"],
                condition=~Q(kind=HubActionKind.CANCEL),
                name="hub_action_once_per_visit",
            ),
            models.UniqueConstraint(
                fields=["hub_session", "cancellation_session_id"],
                condition=Q(kind=HubActionKind.CANCEL),
                name="hub_cancel_once_per_session",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=HubActionKind.values), name="hub_action_kind_known"
            ),
            models.CheckConstraint(
                condition=Q(status__in=HubActionStatus.values), name="hub_action_status_known"
            ),
        ]
        indexes = [
            # The requeue sweep: a handful executing at any time.
            models.Index(
                fields=["executing_at"],
                condition=Q(status=HubActionStatus.EXECUTING),
                name="hub_action_executing_idx",
            ),
            # Analytics: a workspace's completed actions of a kind in a date range.
            models.Index(
                fields=["tenant", "livemode", "kind", "completed_at"], name="hub_action_done_idx"
            ),
        ]

    def __str__(self) -> str:
        return self.id


class PlanChange(models.Model):
    """A plan change a workspace lets its customers make in the hub: from the price they
    are on to another, prorated as the merchant chose."""

    id = models.CharField(
        primary_key=True, max_length=40, default=PrefixedId("plc"), editable=False
    )
    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.CASCADE, related_name="plan_changes", db_index=False
    )
    livemode = models.BooleanField(
        default=False, help_text="Live mode prices (unticked: test mode)."
    )
    from_price_id = models.CharField(
        max_length=255, help_text="The Stripe price a customer is on (price_...)."
    )
    to_price_id = models.CharField(
        max_length=255, help_text="The Stripe price they may switch to (price_...)."
    )
    proration_behavior = models.CharField(
        max_length=20,
        choices=ProrationBehavior.choices,
        default=ProrationBehavior.CREATE_PRORATIONS,
        help_text="create_prorations: the difference on the next invoice; always_invoice: "
        "invoiced at once; none: the new price from the next period, no proration.",
    )
    # The order the options are listed in, lowest first.
    position = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = "allowed plan change"
        ordering = ["from_price_id", "position", "to_price_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "livemode", "from_price_id", "to_price_id"],
                name="plan_change_once",
            ),
            models.CheckConstraint(
                condition=~Q(from_price_id=models.F("to_price_id")),
                name="plan_change_to_another_price",
            ),
            models.CheckConstraint(
                condition=Q(proration_behavior__in=ProrationBehavior.values),
                name="plan_change_proration_known",
            ),
        ]
        indexes = [
            models.Index(
                fields=["tenant", "livemode", "from_price_id"], name="plan_change_from_idx"
            )
        ]

    def __str__(self) -> str:
        return f"{self.from_price_id} → {self.to_price_id}"
