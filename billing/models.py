"""A workspace's Stripe connections and the Stripe events MRRX received."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from mrrx.ids import PrefixedId
from tenants.models import Tenant


class StripeConnection(models.Model):
    """How one workspace reaches its Stripe account in one mode (test or live).

    Either Stripe Connect OAuth (``account_id``; calls use the platform key and carry
    ``Stripe-Account``) or a pasted key (``encrypted_key``; never shown again, only its last
    four characters). Key-connected workspaces receive Stripe events on their own endpoint,
    signed with their own secret (``encrypted_webhook_secret``).
    """

    class Method(models.TextChoices):
        OAUTH = "oauth", "Stripe Connect (OAuth)"
        KEY = "key", "API key"

    class KeyKind(models.TextChoices):
        RESTRICTED = "rk", "restricted key"
        SECRET = "sk", "secret key"

    id = models.CharField(
        primary_key=True, max_length=40, default=PrefixedId("stc"), editable=False
    )
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="stripe_connections")
    livemode = models.BooleanField()
    method = models.CharField(max_length=8, choices=Method.choices)
    account_id = models.CharField(max_length=64, blank=True)
    oauth_scope = models.CharField(max_length=32, blank=True)
    encrypted_key = models.TextField(blank=True, editable=False)
    key_kind = models.CharField(max_length=2, choices=KeyKind.choices, blank=True)
    key_last4 = models.CharField(max_length=4, blank=True)
    encrypted_webhook_secret = models.TextField(blank=True, editable=False)
    connected_at = models.DateTimeField(default=timezone.now)
    connected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_check_error = models.CharField(max_length=500, blank=True)

    class Meta:
        verbose_name = "Stripe connection"
        ordering = ["tenant", "livemode"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "livemode"], name="one_stripe_connection_per_mode"
            ),
            # Connect events name only the account: it must lead to exactly one workspace.
            models.UniqueConstraint(
                fields=["account_id", "livemode"],
                condition=~Q(account_id=""),
                name="one_workspace_per_stripe_account",
            ),
            models.CheckConstraint(
                condition=(Q(method="oauth") & ~Q(account_id=""))
                | (Q(method="key") & ~Q(encrypted_key="") & ~Q(key_kind="")),
                name="stripe_connection_has_credentials",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.tenant} ({self.mode}, {self.get_method_display()})"

    @property
    def mode(self) -> str:
        return "live" if self.livemode else "test"

    @property
    def key_hint(self) -> str:
        """What an admin may see of a pasted key: its kind and mode and last four characters."""
        if self.method != self.Method.KEY:
            return ""
        return f"{self.key_kind}_{self.mode}_…{self.key_last4}"

    @property
    def has_webhook_secret(self) -> bool:
        return bool(self.encrypted_webhook_secret)


class StripeOAuthStateUse(models.Model):
    """A consumed OAuth ``state`` nonce: inserting it is what makes a state single-use."""

    nonce = models.CharField(primary_key=True, max_length=64)
    used_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return self.nonce


class StripeEvent(models.Model):
    """An inbound Stripe webhook, stored before anything else is done with it."""

    class Status(models.TextChoices):
        RECEIVED = "received"
        PROCESSED = "processed"
        FAILED = "failed"
        IGNORED = "ignored"

    id = models.CharField(
        primary_key=True, max_length=40, default=PrefixedId("sev"), editable=False
    )
    # Blank when the body was not a Stripe event at all.
    stripe_event_id = models.CharField(max_length=255, blank=True, db_index=True)
    type = models.CharField(max_length=100, blank=True)
    account_id = models.CharField(max_length=64, blank=True)
    livemode = models.BooleanField(null=True)
    # Which endpoint it came in on: the key-connected workspace's, or the platform's (null).
    endpoint_connection_id = models.CharField(max_length=40, blank=True)
    connection = models.ForeignKey(
        StripeConnection, null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )
    tenant = models.ForeignKey(
        Tenant, null=True, blank=True, on_delete=models.CASCADE, related_name="stripe_events"
    )
    # The raw body as received: it is what the signature covers.
    payload = models.TextField()
    signature_valid = models.BooleanField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RECEIVED)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "Stripe event"
        ordering = ["-received_at"]
        constraints = [
            # Only genuine events de-duplicate: a forged body must not block the real one.
            models.UniqueConstraint(
                fields=["stripe_event_id"],
                condition=Q(signature_valid=True),
                name="one_genuine_stripe_event",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type or 'unknown'} {self.stripe_event_id or self.pk}"
