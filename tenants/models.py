"""Workspaces, their members, and the API keys that act for them."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from mrrx.ids import PrefixedId

SCOPE_SESSIONS_WRITE = "sessions:write"
SCOPE_SESSIONS_READ = "sessions:read"
# Cancels subscriptions outright, without a subscriber in a flow: granted only when asked.
SCOPE_SUBSCRIPTIONS_WRITE = "subscriptions:write"
# Hands over or erases everything MRRX holds about a customer: granted only when asked.
SCOPE_PRIVACY_WRITE = "privacy:write"
# The workspace's aggregate figures (GET /api/v1/analytics): no customer's details.
SCOPE_ANALYTICS_READ = "analytics:read"
ALL_SCOPES = (
    SCOPE_SESSIONS_WRITE,
    SCOPE_SESSIONS_READ,
    SCOPE_SUBSCRIPTIONS_WRITE,
    SCOPE_PRIVACY_WRITE,
    SCOPE_ANALYTICS_READ,
)
DEFAULT_SCOPES = (SCOPE_SESSIONS_WRITE, SCOPE_SESSIONS_READ, SCOPE_ANALYTICS_READ)


class Tenant(models.Model):
    """A merchant's workspace. Everything else in MRRX hangs off one."""

    id = models.CharField(primary_key=True, max_length=40, default=PrefixedId("ws"), editable=False)
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=60, unique=True)
    # Branding for the hosted pages.
    brand_color = models.CharField(max_length=7, default="#4f46e5")
    logo = models.FileField(upload_to="logos/", blank=True)
    support_email = models.EmailField(blank=True)
    # Where subscribers may be sent back to: exact origins or origin + path prefixes.
    return_url_allowlist = models.JSONField(default=list, blank=True)
    default_return_url = models.URLField(max_length=2000, blank=True)
    # {"sessions.create": 500} or {"sessions.create": [500, 3600]}: limit (and window).
    rate_limit_overrides = models.JSONField(default=dict, blank=True)
    # Cancelling is never harder than three actions, and in live mode the reason for
    # leaving is optional (on for workspaces made since the setting exists).
    strict_click_to_cancel = models.BooleanField(default=True)
    # A written confirmation to the subscriber after each completed action.
    receipts_enabled = models.BooleanField(default=True)
    receipt_reply_to = models.EmailField(blank=True)
    # The hosted pages' and receipts' language when neither the session nor the browser
    # names one MRRX speaks.
    default_locale = models.CharField(max_length=10, default="en")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = "workspace"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner"
        ADMIN = "admin"
        VIEWER = "viewer"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)
    # Owners get the weekly analytics report by email unless they turn it off.
    weekly_report = models.BooleanField(
        default=True, help_text="Send this member the weekly retention report (owners only)."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "tenant"], name="one_membership_per_user")
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.tenant} ({self.role})"


class ApiKey(models.Model):
    """An API key, kept only as a keyed hash plus a short prefix to recognise it by."""

    id = models.CharField(
        primary_key=True, max_length=40, default=PrefixedId("key"), editable=False
    )
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, blank=True)
    livemode = models.BooleanField()
    prefix = models.CharField(max_length=24, unique=True, editable=False)
    hashed_key = models.CharField(max_length=64, unique=True, editable=False)
    scopes = models.JSONField(default=list)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = "API key"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.prefix}…"

    @property
    def mode(self) -> str:
        return "live" if self.livemode else "test"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and not self.is_expired

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()
