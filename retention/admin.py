"""Saves in admin: read-only, each with its 30/60/90-day checkpoints and its timeline."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html_join

from tenants.admin_scoping import ReadOnlyInline, TenantScopedAdminMixin

from .models import InvoicePayment, Save, SaveCheckpoint, SubscriptionChange


class CheckpointInline(ReadOnlyInline):
    model = SaveCheckpoint
    fields = [
        "day",
        "due_at",
        "status",
        "settled_at",
        "settled_by",
        "subscription_status",
        "revenue_amount",
        "mrr_amount",
    ]
    readonly_fields = fields


@admin.register(Save)
class SaveAdmin(TenantScopedAdminMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "saved_at",
        "outcome_action",
        "subscription_id",
        "day_30",
        "day_60",
        "day_90",
        "revenue",
        "livemode",
    ]
    list_filter = ["livemode", "outcome_action", "checkpoints__status"]
    search_fields = ["=id", "=customer_id", "=subscription_id"]
    date_hierarchy = "saved_at"
    inlines = [CheckpointInline]
    fields = [
        "id",
        "livemode",
        "session",
        "custom_session",
        "customer_id",
        "subscription_id",
        "outcome_action",
        "saved_at",
        "paused_until",
        "mrr_amount",
        "currency",
        "revenue_amount",
        "last_checked_at",
        "timeline",
    ]
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[Save]:
        return super().get_queryset(request).prefetch_related("checkpoints")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Save | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Save | None = None) -> bool:
        return False

    def _day(self, obj: Save, day: int) -> str:
        for checkpoint in obj.checkpoints.all():
            if checkpoint.day == day:
                return checkpoint.status
        return "-"

    @admin.display(description="30 days")
    def day_30(self, obj: Save) -> str:
        return self._day(obj, 30)

    @admin.display(description="60 days")
    def day_60(self, obj: Save) -> str:
        return self._day(obj, 60)

    @admin.display(description="90 days")
    def day_90(self, obj: Save) -> str:
        return self._day(obj, 90)

    @admin.display(description="Revenue since the save")
    def revenue(self, obj: Save) -> str:
        return f"{obj.revenue_amount} {obj.currency}".strip()

    @admin.display(description="Stripe timeline (events since the save)")
    def timeline(self, obj: Save) -> str:
        scope = {
            "tenant_id": obj.tenant_id,
            "livemode": obj.livemode,
            "subscription_id": obj.subscription_id,
            "occurred_at__gte": obj.saved_at,
        }
        changes = [
            (c.occurred_at.isoformat(), c.event_type, c.status, c.event_id)
            for c in SubscriptionChange.objects.filter(**scope).order_by("occurred_at")[:200]
        ]
        invoices = [
            (
                p.occurred_at.isoformat(),
                f"invoice {p.status}",
                f"{p.amount} {p.currency}",
                p.event_id,
            )
            for p in InvoicePayment.objects.filter(**scope).order_by("occurred_at")[:200]
        ]
        rows = sorted(changes + invoices)
        if not rows:
            return "No Stripe events received for this subscription since the save."
        return format_html_join("", "<div>{} · {} · {} <small>({})</small></div>", rows)
