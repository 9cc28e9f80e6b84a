"""The audit log: one row per change a person, an API key, a subscriber or MRRX itself made.

Rows are only ever added. The model refuses to save an existing row or delete one, its
queryset refuses ``update()`` and ``delete()``, and on PostgreSQL a trigger refuses
``UPDATE`` and ``DELETE`` from anywhere (migrations 0002 and 0004). There are two
exceptions, each a raw statement the trigger lets through for its rows only: the retention
prune (``audit.services.audit_entries_prune``) deletes rows older than ``AUDIT_RETENTION``,
and the erasure of a customer (``audit.services.audit_entries_redact``) rewrites what one
workspace's rows say about that person (``changes``, ``ip``, ``user_agent``) and nothing else.

The workspace is a plain ``tenant_id``, not a foreign key: ``audit`` sits below
``tenants`` so that every layer can record, and an entry outlives what it is about.
"""

from __future__ import annotations

from typing import Any, NoReturn

from django.db import models
from django.utils import timezone

from mrrx.ids import PrefixedId


class AuditEntryImmutable(Exception):
    """Someone tried to change or delete an audit entry."""


class ActorKind(models.TextChoices):
    USER = "user", "person in admin"
    API_KEY = "api_key", "API key"
    SUBSCRIBER = "subscriber", "subscriber"
    SYSTEM = "system", "system"


class AuditAction(models.TextChoices):
    # Any model admin page (tenants.admin_scoping mixes the recording in).
    ADMIN_ADDED = "admin.added", "added in admin"
    ADMIN_CHANGED = "admin.changed", "changed in admin"
    ADMIN_DELETED = "admin.deleted", "deleted in admin"
    # Credentials: never the secret itself, only that it was made or ended.
    API_KEY_ISSUED = "api_key.issued", "API key issued"
    API_KEY_REVOKED = "api_key.revoked", "API key revoked"
    WEBHOOK_SECRET_ISSUED = "webhook_secret.issued", "webhook signing secret issued"
    WEBHOOK_SECRET_ROTATED = "webhook_secret.rotated", "webhook signing secret rotated"
    # Disabled by a person, or by MRRX after days of failed deliveries (the system).
    WEBHOOK_ENDPOINT_DISABLED = "webhook_endpoint.disabled", "webhook endpoint disabled"
    WEBHOOK_ENDPOINT_ENABLED = "webhook_endpoint.enabled", "webhook endpoint enabled"
    STRIPE_CONNECTED = "stripe.connected", "Stripe connected"
    STRIPE_KEY_REPLACED = "stripe.key_replaced", "Stripe key replaced"
    STRIPE_WEBHOOK_SECRET_REPLACED = (
        "stripe.webhook_secret_replaced",
        "Stripe webhook signing secret replaced",
    )
    STRIPE_DISCONNECTED = "stripe.disconnected", "Stripe disconnected"
    # What subscribers see.
    FLOW_CONFIG_CHANGED = "flow_config.changed", "flow configuration changed"
    OFFER_ADDED = "offer.added", "offer added"
    OFFER_CHANGED = "offer.changed", "offer changed"
    OFFER_DELETED = "offer.deleted", "offer deleted"
    FLOW_ADDED = "flow.added", "segment flow added"
    FLOW_CHANGED = "flow.changed", "segment flow changed"
    FLOW_DELETED = "flow.deleted", "segment flow deleted"
    # Webhooks sent again by hand.
    WEBHOOK_EVENT_RESENT = "webhook.event_resent", "webhook event resent"
    WEBHOOK_FAILED_RESENT = "webhook.failed_resent", "failed webhook deliveries resent"
    # A session's steps, named by the status each one moves it to.
    SESSION_VIEWED = "session.viewed", "subscriber opened the flow"
    SESSION_OFFER_SHOWN = "session.offer_shown", "subscriber gave a reason, offers shown"
    SESSION_ACTION_SELECTED = "session.action_selected", "subscriber chose an action"
    SESSION_SURVEY_COMPLETED = "session.survey_completed", "subscriber completed the survey"
    SESSION_EXECUTING = "session.executing", "subscriber confirmed"
    SESSION_COMPLETED = "session.completed", "action executed"
    SESSION_FAILED = "session.failed", "action failed"
    # A change the customer asked for in the subscription hub, and how it ended.
    HUB_ACTION_REQUESTED = "hub_action.requested", "customer asked for a change in the hub"
    HUB_ACTION_COMPLETED = "hub_action.completed", "hub change made on Stripe"
    HUB_ACTION_FAILED = "hub_action.failed", "hub change failed"
    # What MRRX holds about one customer, handed over or erased on request (privacy).
    CUSTOMER_EXPORTED = "customer.exported", "customer's data exported"
    CUSTOMER_ERASED = "customer.erased", "customer's data erased"


class AuditEntryQuerySet(models.QuerySet["AuditEntry"]):
    """Reads only: bulk writes that would change or remove entries raise."""

    def update(self, **kwargs: Any) -> NoReturn:
        raise AuditEntryImmutable("Audit entries cannot be changed.")

    def bulk_update(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AuditEntryImmutable("Audit entries cannot be changed.")

    def delete(self) -> NoReturn:
        raise AuditEntryImmutable(
            "Audit entries cannot be deleted; old ones go by audit_entries_prune()."
        )


class AuditEntry(models.Model):
    id = models.CharField(
        primary_key=True, max_length=40, default=PrefixedId("aud"), editable=False
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    # The workspace the change belongs to; empty for what belongs to none (users, groups).
    tenant_id = models.CharField("workspace id", max_length=40, blank=True, editable=False)
    # None where a change is about no one mode (the workspace itself, a member).
    livemode = models.BooleanField(null=True, editable=False)
    actor_kind = models.CharField(max_length=16, choices=ActorKind.choices, editable=False)
    # The user's id, the API key's id, the subscriber's customer id; empty for the system.
    actor_id = models.CharField(max_length=255, blank=True, editable=False)
    # What a person reads: the username, the key's display prefix, the customer id.
    actor_label = models.CharField(max_length=255, blank=True, editable=False)
    action = models.CharField(max_length=64, choices=AuditAction.choices, editable=False)
    object_type = models.CharField(max_length=100, editable=False)  # "tenants.apikey"
    object_id = models.CharField(max_length=255, blank=True, editable=False)
    object_repr = models.CharField("object", max_length=200, blank=True, editable=False)
    # Field by field {"before": ..., "after": ...}, or what the action recorded; secrets
    # are masked before they get here.
    changes = models.JSONField(default=dict, blank=True, editable=False)
    # The caller's network only: /24 of an IPv4 address, /48 of an IPv6 one.
    ip = models.GenericIPAddressField("IP network", null=True, blank=True, editable=False)
    user_agent = models.CharField(max_length=400, blank=True, editable=False)

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        verbose_name = "audit log entry"
        verbose_name_plural = "audit log"
        ordering = ["-created_at", "-id"]
        # Related lookups and Model.delete() go through the base manager: the guarded one.
        base_manager_name = "objects"
        indexes = [
            # The admin's list: one workspace, newest first.
            models.Index(fields=["tenant_id", "-created_at"], name="audit_tenant_created_idx"),
            # The retention prune.
            models.Index(fields=["created_at"], name="audit_created_idx"),
            models.Index(fields=["object_type", "object_id"], name="audit_object_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.object_repr or self.object_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AuditEntryImmutable("Audit entries cannot be changed.")
        # An insert, always: a row with a taken id fails instead of overwriting it.
        kwargs.update(force_insert=True, force_update=False)
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AuditEntryImmutable(
            "Audit entries cannot be deleted; old ones go by audit_entries_prune()."
        )
