"""Sessions in admin: read-only, searchable, with the snapshot, survey and outcome."""

from __future__ import annotations

import json

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join

from mrrx.admin_csv import CsvExportAdminMixin
from mrrx.formats import iso_timestamp
from offers.segments import match_explained
from tenants.admin_scoping import TenantScopedAdminMixin

from .models import Receipt, Session, SessionStatus


def _pretty(value: object) -> str:
    return format_html("<pre style='margin:0'>{}</pre>", json.dumps(value, indent=2))


# The sessions CSV: one row per session, as filtered on the list.
CSV_COLUMNS = [
    "id",
    "created_at",
    "livemode",
    "source",
    "status",
    "customer_id",
    "subscription_id",
    "product_name",
    "price_amount",
    "price_currency",
    "price_interval",
    "survey_reason",
    "selected_action",
    "outcome_action",
    "executed_at",
    "end_reason",
    "ended_at",
    "flow_id",
    "experiment_id",
    "experiment_arm",
]


@admin.register(Session)
class SessionAdmin(CsvExportAdminMixin, TenantScopedAdminMixin, admin.ModelAdmin):
    change_list_template = "admin/sessions_app/session/change_list.html"
    csv_columns = CSV_COLUMNS
    csv_filename = "sessions"
    csv_noun = "sessions"
    list_display = [
        "id",
        "status",
        "livemode",
        "customer_id",
        "subscription_id",
        "survey_reason",
        "outcome_action",
        "created_at",
    ]
    list_filter = ["status", "source", "livemode", "outcome_action", "survey_reason"]
    search_fields = ["=id", "=customer_id", "=subscription_id"]
    date_hierarchy = "created_at"
    list_select_related = ["tenant"]
    fieldsets = [
        (None, {"fields": ["id", "tenant", "livemode", "status", "end_reason", "failure_shown"]}),
        (
            "Subscription at the start",
            {
                "fields": [
                    "customer_id",
                    "subscription_id",
                    "product_name",
                    "price_shown",
                    "snapshot_shown",
                ]
            },
        ),
        (
            "Survey",
            {"fields": ["survey_reason", "survey_reason_other", "survey_feedback", "offers_shown"]},
        ),
        (
            "Outcome",
            {"fields": ["selected_action", "outcome_action", "outcome_shown", "executed_at"]},
        ),
        ("Segment flow", {"fields": ["flow_id", "flow_match_shown"]}),
        ("Experiment", {"fields": ["experiment_id", "experiment_arm"]}),
        ("Receipt to the subscriber", {"fields": ["receipt_shown"]}),
        ("Integration", {"fields": ["return_url", "metadata_shown", "context_shown"]}),
        (
            "Timeline",
            {
                "fields": [
                    "created_at",
                    "viewed_at",
                    "offer_shown_at",
                    "action_selected_at",
                    "survey_completed_at",
                    "executing_at",
                    "completed_at",
                    "failed_at",
                    "ended_at",
                    "expires_at",
                ]
            },
        ),
    ]

    def get_readonly_fields(self, request: HttpRequest, obj: Session | None = None) -> list[str]:
        return [f for fieldset in self.fieldsets for f in fieldset[1]["fields"]]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Session | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Session | None = None) -> bool:
        return False

    # CSV ---------------------------------------------------------------------------------

    @admin.display(description="price")
    def price_shown(self, obj: Session) -> str:
        if obj.price_amount is None:
            return "-"
        return f"{obj.price_amount / 100:.2f} {obj.price_currency.upper()} / {obj.price_interval}"

    @admin.display(description="snapshot")
    def snapshot_shown(self, obj: Session) -> str:
        return _pretty(obj.subscription_snapshot)

    @admin.display(description="why this flow")
    def flow_match_shown(self, obj: Session) -> str:
        lines = match_explained(obj.flow_match) if obj.flow_match else []
        return format_html_join("", "<div>{}</div>", ((line,) for line in lines)) or "-"

    @admin.display(description="offers considered")
    def offers_shown(self, obj: Session) -> str:
        return _pretty(obj.offers_considered)

    @admin.display(description="outcome details")
    def outcome_shown(self, obj: Session) -> str:
        return _pretty(obj.outcome_details)

    @admin.display(description="failure")
    def failure_shown(self, obj: Session) -> str:
        return _pretty(obj.failure) if obj.failure else "-"

    @admin.display(description="metadata")
    def metadata_shown(self, obj: Session) -> str:
        return _pretty(obj.metadata)

    @admin.display(description="context")
    def context_shown(self, obj: Session) -> str:
        return _pretty(obj.context)

    @admin.display(description="receipt")
    def receipt_shown(self, obj: Session) -> str:
        receipt = Receipt.objects.filter(session=obj).first()
        if receipt is None:
            # Turned off for the workspace, or completed before receipts existed.
            return "-" if obj.status != SessionStatus.COMPLETED else "none"
        rows = [
            ("status", receipt.get_status_display()),
            ("to", receipt.to_email or "-"),
            ("subject", receipt.subject or "-"),
            ("sent at", iso_timestamp(receipt.sent_at) if receipt.sent_at else "-"),
            ("attempts", str(receipt.attempts)),
        ]
        if receipt.last_error:
            rows.append(("last error", receipt.last_error))
        return format_html_join(
            "", "<div><strong>{}</strong>: {}</div>", ((label, value) for label, value in rows)
        )
