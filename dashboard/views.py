"""Dashboard pages in admin: analytics, operations, the workspace switcher."""

from __future__ import annotations

import csv
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST
from django.views.static import serve

from mrrx.parallel import together
from sessions_app.presentation import money
from tenants.roles import page_allows
from tenants.workspace import workspace, workspace_switch

from . import charts, operations
from .analytics import (
    SOURCES,
    Report,
    analytics_default_mode,
    analytics_report,
    percent,
)
from .experiment_results import EXPERIMENT_DEFINITIONS, experiment_results, experiments_for
from .figures import Scope, all_definitions, retention_of, totals
from .forms import AnalyticsFilterForm
from .retention_page import experiment_charts, experiment_tables, retention_chart, retention_table
from .tables import report_tables


def _page_context(request: HttpRequest, title: str, **extra: Any) -> dict[str, Any]:
    return {**admin.site.each_context(request), "title": title, **extra}


def _require_page(request: HttpRequest, page: str) -> None:
    if not (request.user.is_superuser or page_allows(workspace(request).role, page)):
        raise PermissionDenied


def analytics_view(request: HttpRequest) -> HttpResponse:
    _require_page(request, "analytics")
    tenant = workspace(request).tenant
    if tenant is None:
        return TemplateResponse(
            request,
            "admin/dashboard/analytics.html",
            _page_context(request, "Analytics", no_workspace=True),
        )
    form = AnalyticsFilterForm(request.GET)
    if form.is_valid():
        period = form.cleaned_data["period"]
    else:
        period = AnalyticsFilterForm.default_period()
    # A mode asked for is shown even with bad dates; otherwise the one that has sessions.
    asked = form.cleaned_data.get("mode")
    if asked:
        livemode, mode_note = asked == "live", None
    else:
        livemode, mode_note = analytics_default_mode(tenant=tenant)
    # One source at a time, the cancel flow's by default: never added together.
    source = form.cleaned_data.get("source") or "flow"
    scope = Scope(tenant=tenant, livemode=livemode, period=period, source=source)
    # Three independent reads, at once on their own connections (mrrx.parallel).
    report, saves_retention, experiments = together(
        lambda: analytics_report(tenant=tenant, livemode=livemode, period=period, source=source),
        lambda: retention_of(scope.checkpoints()),
        lambda: [
            experiment_results(experiment=e)
            for e in experiments_for(tenant=tenant, livemode=livemode, period=period)
        ],
    )
    retention = totals(scope=scope, report=report, retention=saves_retention)
    tables = [*report_tables(report), retention_table(retention), *experiment_tables(experiments)]
    if request.GET.get("format") == "csv":
        return _csv(report, tables)
    query = {
        "start": period.start,
        "end": period.end,
        "mode": "live" if livemode else "test",
        "source": source,
    }
    context = _page_context(
        request,
        f"Analytics · {tenant.name}",
        form=form,
        report=report,
        mode_note=mode_note,
        tables=tables,
        headline=_headline(report),
        charts=_charts(report),
        retention_chart=retention_chart(retention),
        experiment_charts=experiment_charts(experiments),
        definitions=all_definitions() + EXPERIMENT_DEFINITIONS,
        sources=SOURCES,
        source_label=SOURCES[source],
        other_sources=[
            (name, SOURCES[name], count, f"?{urlencode({**query, 'source': name})}")
            for name, count in report.other_sources.items()
        ],
        csv_url=f"?{urlencode({**query, 'format': 'csv'})}",
        sessions_links=_session_links(report),
    )
    return TemplateResponse(request, "admin/dashboard/analytics.html", context)


def _headline(report: Report) -> list[dict[str, Any]]:
    c = report.counts
    cards: list[dict[str, Any]] = [
        {"label": "Sessions started", "value": c["started"], "definition": "sessions_started"},
        {
            "label": "Save rate",
            "definition": "save_rate",
            "value": percent(report.save_rate),
            "note": f"{c['saved']} saved of {c['completed']} completed",
        },
        {
            "label": "Deflected",
            "definition": "deflected",
            "value": c["deflected"],
            "note": "contact or redirect taken; not counted as saved",
        },
    ]
    for row in report.mrr:
        cards.append(
            {
                "label": f"MRR saved ({row.currency.upper()})",
                "definition": "mrr_saved",
                "value": money(row.saved, row.currency),
                "note": f"{row.saved_sessions} session(s)",
                "tone": "good",
            }
        )
        cards.append(
            {
                "label": f"MRR lost ({row.currency.upper()})",
                "definition": "mrr_lost",
                "value": money(row.lost, row.currency),
                "note": f"{row.canceled_sessions} session(s)",
                "tone": "bad",
            }
        )
    return cards


def _charts(report: Report) -> dict[str, Any]:
    labels = [day.day.strftime("%b %d") for day in report.trend]
    c = report.counts
    return {
        "trend": charts.line_chart(
            labels,
            [
                charts.Series("Started", [d.started for d in report.trend], charts.BLUE),
                charts.Series("Saved", [d.saved for d in report.trend], charts.GREEN),
                charts.Series("Canceled", [d.canceled for d in report.trend], charts.RED),
            ],
            title="Sessions per day",
        ),
        "reasons": charts.bar_chart(
            [(row.label, row.sessions) for row in report.reasons], title="Why subscribers leave"
        ),
        "funnel": charts.funnel_chart(
            [
                ("Started", c["started"]),
                ("Opened", c["opened"]),
                ("Gave a reason", c["reason_given"]),
                ("Completed", c["completed"]),
                ("Saved", c["saved"]),
            ],
            title="From cancel click to saved",
        ),
        "offers": charts.offer_chart(
            [(row.label, row.shown, row.accepted) for row in report.offers],
            title="Offers shown and accepted",
        ),
    }


def _session_links(report: Report) -> dict[str, str]:
    """Changelist URLs of the sessions behind each headline count."""
    if report.source == "custom":
        return {}  # Reported by the merchant's flow: their records are in the API.
    base = reverse("admin:sessions_app_session_changelist")
    common = {
        "livemode__exact": "1" if report.livemode else "0",
        "source__exact": report.source,
        "created_at__gte": report.period.start_at.isoformat(),
        "created_at__lt": report.period.end_at.isoformat(),
    }
    links = {"started": f"{base}?{urlencode(common)}"}
    for status in ("completed", "abandoned", "expired", "failed"):
        links[status] = f"{base}?{urlencode({**common, 'status__exact': status})}"
    return links


def _csv(report: Report, tables: list[Any]) -> HttpResponse:
    mode = "live" if report.livemode else "test"
    name = (
        f"mrrx-analytics-{report.tenant.slug}-{mode}-{report.source}-"
        f"{report.period.start}-{report.period.end}"
    )
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    writer = csv.writer(response)
    for table in tables:
        writer.writerow([table.title, *table.header])
        for row in table.rows:
            writer.writerow([table.title, *row])
    return response


def operations_view(request: HttpRequest) -> HttpResponse:
    if not request.user.is_superuser:
        raise PermissionDenied
    context = _page_context(request, "Operations", **operations.overview())
    return TemplateResponse(request, "admin/dashboard/operations.html", context)


@require_POST
def workspace_switch_view(request: HttpRequest) -> HttpResponse:
    if not workspace_switch(request, request.POST.get("workspace", "")):
        raise PermissionDenied
    # Back where the user was, unless that page belonged to the previous workspace.
    target = request.POST.get("next") or ""
    safe = url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    if not safe or not target.startswith(("/admin/analytics/", "/admin/operations/")):
        target = reverse("admin:index")
    return HttpResponseRedirect(target)


@require_GET
def media_view(request: HttpRequest, path: str) -> HttpResponse:
    """Uploaded files (workspace logos) in the embedded default and in DEBUG; production
    serves MEDIA_ROOT from the web server or a bucket."""
    if not (settings.EMBEDDED or settings.DEBUG):
        raise Http404("Media are served by the web server here.")
    response = serve(request, path, document_root=settings.MEDIA_ROOT)
    # An upload is shown, never run: no sniffing it into HTML or script.
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
