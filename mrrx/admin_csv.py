"""CSV downloads of an admin list: every row the list shows with its filters and search.

A model admin mixes in ``CsvExportAdminMixin`` and names its ``csv_columns``,
``csv_filename`` (the file's prefix) and ``csv_noun`` (for the error on filters that do
not apply); the list then answers at ``<changelist>/export/``, streamed, and a selection
through the "Export selected as CSV" action where the admin lists it.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from typing import Any, ClassVar

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.urls import path
from django.utils import timezone

# A cell a spreadsheet would run as a formula (text a subscriber or user agent chose) is
# quoted.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class _Line:
    def write(self, value: str) -> str:
        return value


def _cell(value: Any) -> Any:
    if isinstance(value, dict | list):
        value = json.dumps(value, sort_keys=True)
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


class CsvExportAdminMixin:
    csv_columns: ClassVar[list[str]] = []
    csv_filename: ClassVar[str] = "export"
    csv_noun: ClassVar[str] = "this list"

    def get_urls(self) -> list[Any]:
        meta = self.model._meta  # type: ignore[attr-defined]
        return [
            path(
                "export/",
                self.admin_site.admin_view(self.export_view),  # type: ignore[attr-defined]
                name=f"{meta.app_label}_{meta.model_name}_export",
            ),
            *super().get_urls(),  # type: ignore[misc]
        ]

    def export_view(self, request: HttpRequest) -> HttpResponse:
        """The whole list as filtered and searched on the page (every page of it)."""
        if not self.has_view_permission(request):  # type: ignore[attr-defined]
            raise PermissionDenied
        try:
            changelist = self.get_changelist_instance(request)  # type: ignore[attr-defined]
        except IncorrectLookupParameters:
            return HttpResponseBadRequest(f"Those filters do not apply to {self.csv_noun}.")
        return self.csv_response(changelist.get_queryset(request))

    @admin.action(description="Export selected as CSV", permissions=["view"])
    def export_selected_csv(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse:
        return self.csv_response(queryset)

    def csv_response(self, queryset: QuerySet) -> StreamingHttpResponse:
        rows = queryset.order_by("created_at", "id").values_list(*self.csv_columns)
        response = StreamingHttpResponse(
            csv_lines(self.csv_columns, rows.iterator(2000)), content_type="text/csv; charset=utf-8"
        )
        name = f"{self.csv_filename}-{timezone.now():%Y%m%d-%H%M%S}.csv"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        response["Cache-Control"] = "no-store"
        return response
