"""Hub sessions in admin (read-only, with what the customer did) and the plan changes a
workspace allows its customers, editable by owners and admins."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from tenants.admin_scoping import TenantScopedAdminMixin, TenantScopedInlineMixin

from .models import HubAction, HubSession, PlanChange
from .selectors import hub_cancellation_sessions
from .services import plan_change_validate


def _pretty(value: object) -> str:
    return format_html("<pre style='margin:0'>{}</pre>", json.dumps(value, indent=2))


class HubActionInline(TenantScopedInlineMixin, admin.TabularInline):
    model = HubAction
    extra = 0
    can_delete = False
    fields = [
        "kind",
        "subscription_id",
        "price_id",
        "status",
        "cancellation_session_id",
        "outcome_shown",
        "failure_shown",
        "created_at",
        "completed_at",
        "failed_at",
    ]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="outcome")
    def outcome_shown(self, obj: HubAction) -> str:
        return _pretty(obj.outcome) if obj.outcome else "-"

    @admin.display(description="failure")
    def failure_shown(self, obj: HubAction) -> str:
        return _pretty(obj.failure) if obj.failure else "-"


@admin.register(HubSession)
class HubSessionAdmin(TenantScopedAdminMixin, admin.ModelAdmin):
    list_display = ["id", "livemode", "customer_id", "views", "action_count", "created_at"]
    list_filter = ["livemode"]
    search_fields = ["=id", "=customer_id", "customer_email"]
    date_hierarchy = "created_at"
    list_select_related = ["tenant"]
    inlines = [HubActionInline]
    fields = [
        "id",
        "tenant",
        "livemode",
        "customer_id",
        "customer_email",
        "return_url",
        "metadata_shown",
        "created_at",
        "expires_at",
        "viewed_at",
        "last_viewed_at",
        "views",
        "cancellation_sessions",
    ]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: HubSession | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: HubSession | None = None) -> bool:
        return False

    @admin.display(description="actions")
    def action_count(self, obj: HubSession) -> int:
        return obj.actions.count()

    @admin.display(description="metadata")
    def metadata_shown(self, obj: HubSession) -> str:
        return _pretty(obj.metadata)

    @admin.display(description="cancellation sessions opened")
    def cancellation_sessions(self, obj: HubSession) -> str:
        sessions = list(hub_cancellation_sessions(hub=obj))
        if not sessions:
            return "-"
        return format_html_join(
            ", ",
            '<a href="{}">{}</a> ({})',
            (
                (reverse("admin:sessions_app_session_change", args=[s.id]), s.id, s.status)
                for s in sessions
            ),
        )


class PlanChangeForm(forms.ModelForm):
    class Meta:
        model = PlanChange
        fields = [
            "tenant",
            "livemode",
            "from_price_id",
            "to_price_id",
            "proration_behavior",
            "position",
        ]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        tenant = cleaned.get("tenant")
        from_price, to_price = cleaned.get("from_price_id"), cleaned.get("to_price_id")
        if tenant is None or not from_price or not to_price:
            return cleaned
        try:
            plan_change_validate(
                tenant=tenant,
                livemode=bool(cleaned.get("livemode")),
                from_price_id=from_price,
                to_price_id=to_price,
            )
        except ValidationError as exc:
            if hasattr(exc, "error_dict"):
                for field, errors in exc.message_dict.items():
                    self.add_error(field, errors)
            else:
                self.add_error(None, exc)
        return cleaned


@admin.register(PlanChange)
class PlanChangeAdmin(TenantScopedAdminMixin, admin.ModelAdmin):
    form = PlanChangeForm
    list_display = [
        "from_price_id",
        "to_price_id",
        "proration_behavior",
        "position",
        "livemode",
        "tenant",
    ]
    list_filter = ["livemode", "proration_behavior"]
    search_fields = ["from_price_id", "to_price_id"]
    list_select_related = ["tenant"]
    autocomplete_fields = ["tenant"]
