"""Sessions in admin: read-only, searchable, with the snapshot, survey and outcome."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from typing import Any

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.urls import path
from django.utils import timezone
from django.utils.html import format_html, format_html_join

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
# A cell a spreadsheet would run as a formula (a reason typed by a subscriber, say).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class _Line:
    def write(self, value: str) -> str:
        return value


def _cell(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return "" if value is None else value


def csv_lines(header: list[str], rows: Iterable[tuple[Any, ...]]) -> Iterator[str]:
    writer = csv.writer(_Line())
    yield writer.writerow(header)
    for row in rows:
        yield writer.writerow([_cell(value) for value in row])


@admin.register(Session)
class SessionAdmin(TenantScopedAdminMixin, admin.ModelAdmin):
    change_list_template = "admin/sessions_app/session/change_list.html"
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
    def get_urls(self) -> list[Any]:
        return [
            path(
                "export/",
                self.admin_site.admin_view(self.export_view),
                name="sessions_app_session_export",
            ),
            *super().get_urls(),
        ]

    def export_view(self, request: HttpRequest) -> HttpResponse:
        """Every session the list shows with its filters and search (all pages)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            return HttpResponseBadRequest("Those filters do not apply to sessions.")
        return self.csv_response(changelist.get_queryset(request))

    def csv_response(self, queryset: QuerySet) -> StreamingHttpResponse:
        rows = queryset.order_by("created_at", "id").values_list(*CSV_COLUMNS)
        response = StreamingHttpResponse(
            csv_lines(CSV_COLUMNS, rows.iterator(2000)), content_type="text/csv; charset=utf-8"
        )
        name = f"sessions-{timezone.now():%Y%m%d-%H%M%S}.csv"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        response["Cache-Control"] = "no-store"
        return response

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
