"""Admin page: which segment flow a subscription would get, and why.

The subscription is read from Stripe as a session would read it, and matched against the
configuration's flows exactly as ``session_create`` matches (``flow_fields``); nothing is
written.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache

from billing.gateway import StripeGatewayError, gateway_for
from offers.models import FlowConfig
from offers.segments import DEFAULT_FLOW_NAME, match_explained, monthly_amount, tenure_days
from sessions_app.presentation import money
from sessions_app.services import flow_fields
from tenants.roles import page_allows
from tenants.workspace import current_role


class FlowMatchForm(forms.Form):
    subscription_id = forms.RegexField(
        regex=r"^sub_[A-Za-z0-9_]{1,250}$",
        label="Subscription id",
        error_messages={"invalid": "A Stripe subscription id, such as sub_1PqR2s..."},
    )
    context = forms.JSONField(
        required=False,
        label="Context (optional)",
        help_text='The session\'s context, as your backend would send it: {"plan": "pro"}.',
    )
    metadata = forms.JSONField(
        required=False,
        label="Metadata (optional)",
        help_text='The session\'s metadata: {"source": "app"} (texts).',
    )

    def _object(self, name: str) -> dict[str, Any]:
        value = self.cleaned_data.get(name)
        if value in (None, ""):
            return {}
        if not isinstance(value, dict):
            raise forms.ValidationError(
                f'{name.capitalize()} must be a JSON object, e.g. {{"plan": "pro"}}.'
            )
        return value

    def clean_context(self) -> dict[str, Any]:
        return self._object("context")

    def clean_metadata(self) -> dict[str, Any]:
        metadata = self._object("metadata")
        if not all(isinstance(v, str) for v in metadata.values()):
            raise forms.ValidationError(
                "Metadata values are texts, as the sessions API takes them."
            )
        return metadata


def _facts(snapshot: dict[str, Any], now: Any) -> list[tuple[str, str]]:
    """What the rules look at, as the subscription shows it."""
    monthly = monthly_amount(
        snapshot.get("amount"), snapshot.get("interval"), snapshot.get("interval_count")
    )
    facts = [
        ("price_ids", snapshot.get("price_id") or "none"),
        ("product_ids", snapshot.get("product_id") or "none"),
        ("interval", f"{snapshot.get('interval')} (x{snapshot.get('interval_count') or 1})"),
        (
            "tenure_days",
            str(tenure_days(snapshot, now)) if snapshot.get("start_date") else "unknown",
        ),
        (
            "mrr",
            money(round(monthly), snapshot.get("currency") or "") + " per month"
            if monthly is not None
            else "unknown",
        ),
        ("trialing", "yes" if snapshot.get("status") == "trialing" else "no"),
        ("discounted", "yes" if snapshot.get("discount_coupon_ids") else "no"),
    ]
    if "customer_country" in snapshot:
        facts.append(("countries", snapshot.get("customer_country") or "unknown"))
    return facts


@never_cache
def flow_match_view(request: HttpRequest, config_id: str) -> HttpResponse:
    if not (request.user.is_superuser or page_allows(current_role(request), "flow_preview")):
        raise PermissionDenied
    # The admin's queryset: another workspace's configuration is a 404.
    config_admin = admin.site._registry[FlowConfig]
    config = get_object_or_404(config_admin.get_queryset(request), pk=config_id)
    form = FlowMatchForm(request.GET if "subscription_id" in request.GET else None)
    context: dict[str, Any] = {
        **admin.site.each_context(request),
        "title": "Which flow would a subscription get?",
        "config": config,
        "form": form,
        "change_url": reverse("admin:offers_flowconfig_change", args=[config.pk]),
    }
    if form.is_valid():
        now = timezone.now()
        try:
            gateway = gateway_for(tenant=config.tenant, livemode=config.livemode)
            subscription = gateway.subscription_get(form.cleaned_data["subscription_id"])
        except StripeGatewayError as exc:
            context["error"] = exc.message
        else:
            fields = flow_fields(
                tenant=config.tenant,
                livemode=config.livemode,
                subscription=subscription,
                context=form.cleaned_data["context"],
                metadata=form.cleaned_data["metadata"],
                now=now,
            )
            match = fields["flow_match"]
            preview = reverse("dashboard_flow_preview", args=[config.pk])
            context.update(
                subscription=subscription,
                facts=_facts(fields["subscription_snapshot"], now),
                tried=match["tried"],
                explanation=match_explained(match),
                flow_name=match["flow_name"] if match["flow_id"] else f"{DEFAULT_FLOW_NAME} flow",
                preview_url=f"{preview}?flow={match['flow_id']}" if match["flow_id"] else preview,
            )
    return render(request, "admin/offers/flowconfig/flow_match.html", context)
