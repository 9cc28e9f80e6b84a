"""Cancellation sessions: one subscriber's way through the hosted flow."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.db import models
from django.db.models import Q
from django.utils import timezone

from mrrx.ids import PrefixedId


class SessionStatus(models.TextChoices):
    CREATED = "created"
    VIEWED = "viewed"
    OFFER_SHOWN = "offer_shown"
    ACTION_SELECTED = "action_selected"
    SURVEY_COMPLETED = "survey_completed"
    EXECUTING = "executing"
    COMPLETED = "completed"
    FAILED = "failed"
    EXPIRED = "expired"
    ABANDONED = "abandoned"


# A session in one of these still holds its subscription: no second one may start.
ACTIVE_STATUSES = (
    SessionStatus.CREATED,
    SessionStatus.VIEWED,
    SessionStatus.OFFER_SHOWN,
    SessionStatus.ACTION_SELECTED,
    SessionStatus.SURVEY_COMPLETED,
    SessionStatus.EXECUTING,
)
# Opened but not finished: what becomes `abandoned` at expiry.
OPENED_STATUSES = (
    SessionStatus.VIEWED,
    SessionStatus.OFFER_SHOWN,
    SessionStatus.ACTION_SELECTED,
    SessionStatus.SURVEY_COMPLETED,
)
FINAL_STATUSES = (
    SessionStatus.COMPLETED,
    SessionStatus.FAILED,
    SessionStatus.EXPIRED,
    SessionStatus.ABANDONED,
)


class Action(models.TextChoices):
    PAUSE = "pause"
    DISCOUNT = "discount"
    DOWNGRADE = "downgrade"
    EXTEND_TRIAL = "extend_trial"
    # Deflections: nothing done on Stripe, the subscription left as it was.
    CONTACT = "contact"
    REDIRECT = "redirect"
    CANCEL = "cancel"


class Reason(models.TextChoices):
    TOO_EXPENSIVE = "too_expensive", "Too expensive"
    NOT_USING_ENOUGH = "not_using_enough", "Not using it enough"
    MISSING_FEATURES = "missing_features", "Missing features I need"
    SWITCHING_COMPETITOR = "switching_competitor", "Switching to a competitor"
    TECHNICAL_ISSUES = "technical_issues", "Technical issues"
    BUSINESS_CLOSING = "business_closing", "Business closing / project ended"
    OTHER = "other", "Other"


class EndReason(models.TextChoices):
    TIMED_OUT = "timed_out"
    SUBSCRIPTION_CANCELED = "subscription_canceled"
    # The merchant canceled the subscription through the direct cancel API meanwhile.
    CANCELED_DIRECTLY = "canceled_directly"


class Source(models.TextChoices):
    # Created for a subscriber to walk through, on the hosted page or the flow API.
    FLOW = "flow"
    # A direct cancellation by the merchant's backend: completed as it is recorded.
    API = "api"


class Session(models.Model):
    id = models.CharField(
        primary_key=True, max_length=40, default=PrefixedId("ses"), editable=False
    )
    # No index of its own: every index below starts with the workspace, and each extra
    # index is written again for every row the expiry sweep turns.
    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.CASCADE, related_name="sessions", db_index=False
    )
    livemode = models.BooleanField()
    status = models.CharField(
        max_length=20, choices=SessionStatus.choices, default=SessionStatus.CREATED
    )
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.FLOW)

    customer_id = models.CharField(max_length=255)
    subscription_id = models.CharField(max_length=255)
    # The subscription as Stripe described it when the session began.
    product_name = models.CharField(max_length=255, blank=True)
    price_id = models.CharField(max_length=255, blank=True)
    price_amount = models.BigIntegerField(null=True)
    price_currency = models.CharField(max_length=3, blank=True)
    price_interval = models.CharField(max_length=10, blank=True)
    price_interval_count = models.PositiveSmallIntegerField(default=1)
    subscription_snapshot = models.JSONField(default=dict)

    return_url = models.URLField(max_length=2000, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    context = models.JSONField(default=dict, blank=True)
    # The language of the hosted pages and receipt, when the session was created with one.
    locale = models.CharField(max_length=10, blank=True)
    # The subscription hub visit this session was opened from, if any.
    hub_session_id = models.CharField(max_length=40, blank=True)
    # The segment flow chosen at creation ("" for the default flow) and why
    # (``offers.segments``: each flow tried, matched or the first condition that failed).
    flow_id = models.CharField(max_length=40, blank=True)
    flow_match = models.JSONField(default=dict, blank=True)
    # The experiment and arm (its key) the session was assigned to, if one was running.
    experiment_id = models.CharField(max_length=40, blank=True)
    experiment_arm = models.CharField(max_length=40, blank=True)

    survey_reason = models.CharField(max_length=32, choices=Reason.choices, blank=True)
    survey_reason_other = models.CharField(max_length=500, blank=True)
    survey_feedback = models.TextField(blank=True)
    # Each offer considered for the chosen reason: shown, or why not.
    offers_considered = models.JSONField(default=list, blank=True)
    # What analytics groups the offers by (``offers_key_of``): sessions that considered the
    # same offers, each shown or not, share it. Kept in step with ``offers_considered``.
    offers_key = models.CharField(max_length=32, blank=True, default="")
    selected_action = models.CharField(max_length=20, choices=Action.choices, blank=True)
    action_params = models.JSONField(default=dict, blank=True)

    outcome_action = models.CharField(max_length=20, choices=Action.choices, blank=True)
    outcome_details = models.JSONField(null=True, blank=True)
    executed_at = models.DateTimeField(null=True, blank=True)
    failure = models.JSONField(null=True, blank=True)
    execution_attempts = models.PositiveSmallIntegerField(default=0)
    end_reason = models.CharField(max_length=32, choices=EndReason.choices, blank=True)
    # Set in the same statement that ends a session in bulk, cleared when its
    # session.expired event is written: the row is its own outbox.
    end_event_pending = models.BooleanField(default=False)

    created_at = models.DateTimeField(default=timezone.now, editable=False)
    viewed_at = models.DateTimeField(null=True, blank=True)
    offer_shown_at = models.DateTimeField(null=True, blank=True)
    action_selected_at = models.DateTimeField(null=True, blank=True)
    survey_completed_at = models.DateTimeField(null=True, blank=True)
    executing_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "livemode", "subscription_id"],
                condition=Q(status__in=ACTIVE_STATUSES),
                name="one_active_session_per_subscription",
            ),
            models.CheckConstraint(
                condition=Q(status__in=SessionStatus.values), name="session_status_known"
            ),
        ]
        indexes = [
            # Listing newest first within a workspace and mode.
            models.Index(fields=["tenant", "livemode", "-id"], name="session_list_idx"),
            # The expiry sweep (and the requeue of stuck executions): due sessions by
            # status. Active ones only: a session leaving them (a million at a time in a
            # sweep) adds no entry here.
            models.Index(
                fields=["status", "expires_at"],
                condition=Q(status__in=ACTIVE_STATUSES),
                name="session_due_idx",
            ),
            models.Index(fields=["tenant", "livemode", "subscription_id"], name="session_sub_idx"),
            models.Index(fields=["tenant", "livemode", "customer_id"], name="session_cus_idx"),
            # Sessions whose session.expired event is still owed: a handful at any time.
            models.Index(
                fields=["id"], condition=Q(end_event_pending=True), name="session_end_event_idx"
            ),
            # Analytics (dashboard): a workspace's sessions started in a date range, with
            # every column the aggregates read, so that they never visit the table: the
            # figures, the hub's count, experiment arms, and the id that joins the saves.
            # One index for all of them, written once per row as before.
            models.Index(
                fields=[
                    "tenant",
                    "livemode",
                    "created_at",
                    "status",
                    "outcome_action",
                    "survey_reason",
                    "price_currency",
                    "price_interval",
                    "price_interval_count",
                    "price_amount",
                    "viewed_at",
                    # After the date range: it stays the scanned prefix for every source.
                    "source",
                    # Carried for index-only reads (experiment arms, hub visits, joins to
                    # checkpoints); key columns rather than INCLUDE, which SQLite lacks.
                    "experiment_id",
                    "experiment_arm",
                    "hub_session_id",
                    # Offer acceptance: counted per list of offers, each list read once.
                    "offers_key",
                    "id",
                ],
                name="session_analytics_idx",
            ),
            # Experiment results: an experiment's sessions by arm, over its whole run,
            # read from the index alone. Only sessions in an experiment have an entry.
            models.Index(
                fields=[
                    "tenant",
                    "livemode",
                    "experiment_id",
                    "experiment_arm",
                    "status",
                    "outcome_action",
                    "price_currency",
                    "price_interval",
                    "price_interval_count",
                    "price_amount",
                    "viewed_at",
                    "created_at",
                    "survey_reason",
                ],
                condition=~Q(experiment_id=""),
                name="session_experiment_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.id

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.offers_key = offers_key_of(self.offers_considered)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "offers_considered" in update_fields:
            kwargs["update_fields"] = {*update_fields, "offers_key"}
        super().save(*args, **kwargs)

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES


def offers_key_of(offers_considered: Any) -> str:
    """The key analytics counts a session's offers under: a digest of each offer
    considered (its id, action and whether it was shown, in order), "" for none.
    Sessions with the same key considered the same offers, so the offer figures read one
    list per key instead of one per session. The offers' parameters are left out: a
    downgrade's preview differs in every session and is never counted."""
    if not isinstance(offers_considered, list) or not offers_considered:
        return ""
    projection = [
        [o.get("offer_id"), o.get("action"), o.get("shown")] if isinstance(o, dict) else o
        for o in offers_considered
    ]
    encoded = json.dumps(projection, separators=(",", ":"), sort_keys=True, default=str)
    return hashlib.sha256(encoded.encode()).hexdigest()[:32]


class CustomSession(models.Model):
    """A cancellation that happened in the merchant's own flow, as the merchant reports it.

    Recorded for analytics only: nothing is done on Stripe. The merchant's ``external_id``
    identifies it, so that a retried or later report updates the same row.
    """

    id = models.CharField(
        primary_key=True, max_length=40, default=PrefixedId("csn"), editable=False
    )
    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.CASCADE, related_name="custom_sessions", db_index=False
    )
    livemode = models.BooleanField()
    external_id = models.CharField(max_length=255)
    customer_id = models.CharField(max_length=255)
    subscription_id = models.CharField(max_length=255, blank=True)
    started_at = models.DateTimeField()
    survey_reason = models.CharField(max_length=32, choices=Reason.choices, blank=True)
    survey_reason_other = models.CharField(max_length=500, blank=True)
    # [{"action", "label"}] in the order the merchant's flow showed them.
    offers_shown = models.JSONField(default=list, blank=True)
    outcome_action = models.CharField(max_length=20, choices=Action.choices, blank=True)
    outcome_details = models.JSONField(null=True, blank=True)
    # The subscription's monthly amount as the merchant states it, in minor units.
    mrr_amount = models.BigIntegerField(null=True, blank=True)
    mrr_currency = models.CharField(max_length=3, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "livemode", "external_id"], name="custom_session_external_uniq"
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "livemode", "-id"], name="custom_session_list_idx"),
            models.Index(
                fields=["tenant", "livemode", "started_at"], name="custom_session_started_idx"
            ),
        ]

    def __str__(self) -> str:
        return self.id


class ReceiptStatus(models.TextChoices):
    # Written with the completed session; a worker sends it (again after a failure).
    PENDING = "pending"
    # Claimed by a worker that is sending it now.
    SENDING = "sending"
    SENT = "sent"
    # Every attempt failed, or a worker stopped mid-send: never tried again.
    FAILED = "failed"
    # Stripe knows no email address for the customer: nothing to send.
    NO_ADDRESS = "no_address", "No email address"


class Receipt(models.Model):
    """The email telling the subscriber what a completed session changed, sent once.

    Written in the transaction that completes the session (it is its own outbox) and sent
    by a worker that first claims it with a conditional update, so a duplicated or
    retried task never sends it twice.
    """

    id = models.CharField(
        primary_key=True, max_length=40, default=PrefixedId("rcp"), editable=False
    )
    # One per session at most: the unique key that makes "sent once" hold.
    session = models.OneToOneField(Session, on_delete=models.CASCADE, related_name="receipt")
    status = models.CharField(
        max_length=12, choices=ReceiptStatus.choices, default=ReceiptStatus.PENDING
    )
    to_email = models.EmailField(max_length=254, blank=True)
    # The language it is (or was) written in.
    locale = models.CharField(max_length=10, blank=True)
    subject = models.CharField(max_length=255, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # Pending: when it is next handed to a worker (a retry's backoff, or the moment its
    # message counts as lost). Sending: when the worker holding it counts as gone.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    sending_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=ReceiptStatus.values), name="receipt_status_known"
            ),
        ]
        indexes = [
            # The dispatcher's scan: the few receipts still owed, by when they are due.
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status__in=["pending", "sending"]),
                name="receipt_due_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.id
