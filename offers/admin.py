"""Flow configurations and their offers in admin. Every write goes through the services,
so admin checks parameters exactly as the code does."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from tenants.admin_scoping import TenantScopedAdminMixin, TenantScopedInlineMixin

from .models import Flow, FlowConfig, Offer
from .params import offer_params_clean, reasons_clean
from .segments import RULE_HELP, rule_clean
from .services import (
    FLOW_CONFIG_EDITABLE,
    FLOW_EDITABLE,
    OFFER_EDITABLE,
    flow_config_update,
    flow_create,
    flow_delete,
    flow_update,
    offer_create,
    offer_delete,
    offer_update,
)


class OfferForm(forms.ModelForm):
    class Meta:
        model = Offer
        fields = list(OFFER_EDITABLE)
        help_texts = {
            "params": 'pause {"months_options": [1, 2, 3]}, optionally "method": '
            '"pause_collection" (the default: payments stop but the subscription stays active, '
            'so access stays on in your product; with "behavior": "void" (default), '
            '"keep_as_draft" or "mark_uncollectible" for its invoices) or '
            '"subscription_pause" (Stripe\'s pause: status paused, no invoices; MRRX resumes '
            'it on the date) · discount {"percent_off": 25, '
            '"duration_months": 3} or {"amount_off": 500, "currency": "usd", '
            '"duration_months": 3} or {"coupon_id": "SAVE25", "label": "..."}, optionally '
            '"policy": "skip_if_discounted" (the default: not offered while a discount is on '
            'the subscription or customer), "replace" or "stack" · downgrade '
            '{"targets": {"price_pro": {"price_id": "price_basic", "amount": 1900, '
            '"currency": "usd", "interval": "month", "product_name": "Basic", '
            '"from_amount": 2900}}} · extend_trial {"days": 14} · contact {"message": "Tell '
            'us what is missing first", "link": "help@example.com" (or an https:// link), '
            '"scheduling_url": "https://cal.example.com/you" (optional), "label": "Talk to us '
            'first" (optional)} · redirect {"url": "https://example.com/help/downgrade" (https, '
            'on the return URL allowlist), "label": "...", "message": "..." (both optional)}',
        }

    def clean(self) -> dict:
        cleaned = super().clean()
        action = cleaned.get("action")
        if action and "params" not in self.errors:
            params = cleaned.get("params")
            try:
                cleaned["params"] = offer_params_clean(
                    action=action,
                    params={} if params is None else params,
                    # Set by the inline before it cleans: a redirect's URL is checked
                    # against this configuration's workspace allowlist.
                    config=self.instance.config if self.instance.config_id else None,
                )
            except ValidationError as exc:
                self.add_error("params", exc)
        return cleaned


class OfferInline(TenantScopedInlineMixin, admin.TabularInline):
    model = Offer
    form = OfferForm
    extra = 1
    fields = list(OFFER_EDITABLE)

    def get_formset(self, request: HttpRequest, obj: FlowConfig | None = None, **kwargs):  # type: ignore[no-untyped-def]
        formset = super().get_formset(request, obj, **kwargs)
        # A new form class per call: its flow choices are this configuration's flows
        # (empty: the default flow).
        field = formset.form.base_fields.get("flow")
        if field is not None:
            field.queryset = Flow.objects.filter(config=obj) if obj else Flow.objects.none()
            field.empty_label = "Default flow"
            field.help_text = "The segment flow it is offered in; empty: the default flow."
        return formset


class FlowForm(forms.ModelForm):
    class Meta:
        model = Flow
        fields = list(FLOW_EDITABLE)
        help_texts = {"rule": RULE_HELP}

    def clean_rule(self) -> dict:
        return rule_clean(self.cleaned_data.get("rule"))

    def clean_reasons(self) -> list[str]:
        return reasons_clean(self.cleaned_data.get("reasons"))


class FlowInline(TenantScopedInlineMixin, admin.StackedInline):
    """Segment flows, tried by priority; a subscription none matches gets the default
    flow (the reasons above and the offers without a flow)."""

    model = Flow
    form = FlowForm
    extra = 0
    fields = list(FLOW_EDITABLE)
    verbose_name = "segment flow"
    verbose_name_plural = (
        "Segment flows (tried by priority, lowest first; no match: the default flow above)"
    )


class FlowConfigForm(forms.ModelForm):
    class Meta:
        model = FlowConfig
        fields = list(FLOW_CONFIG_EDITABLE)

    def clean_reasons(self) -> list[str]:
        return reasons_clean(self.cleaned_data.get("reasons"))


class ModeFilter(admin.SimpleListFilter):
    title = "mode"
    parameter_name = "mode"

    def lookups(self, request: HttpRequest, model_admin) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
        return [("test", "Test"), ("live", "Live")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() in ("test", "live"):
            return queryset.filter(livemode=self.value() == "live")
        return queryset


@admin.register(FlowConfig)
class FlowConfigAdmin(TenantScopedAdminMixin, admin.ModelAdmin):
    form = FlowConfigForm
    inlines = [FlowInline, OfferInline]
    list_display = ["tenant", "mode", "cancel_timing", "offer_count", "updated_at"]
    list_filter = [ModeFilter]
    list_select_related = ["tenant"]
    search_fields = ["tenant__name", "tenant__slug", "tenant__id"]
    readonly_fields = ["tenant", "mode", "updated_at"]
    fieldsets = [
        (None, {"fields": ["tenant", "mode", "updated_at"]}),
        ("Survey", {"fields": ["reasons", "ask_feedback"]}),
        (
            "Offers",
            {
                "fields": [
                    "trial_extension_first",
                    "trial_extension_days",
                    "discount_cooldown_months",
                    "proration_behavior",
                ]
            },
        ),
        ("Cancellation", {"fields": ["cancel_timing"]}),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(offer_count=Count("offers"))

    @admin.display(description="offers", ordering="offer_count")
    def offer_count(self, obj: FlowConfig) -> int:
        return obj.offer_count  # type: ignore[attr-defined]

    # Every workspace gets its configurations when it is made (or on first use).
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: FlowConfig | None = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: FlowConfig, form, change: bool) -> None:  # type: ignore[no-untyped-def]
        changes = {name: form.cleaned_data[name] for name in form.changed_data}
        if changes:
            flow_config_update(config=obj, **changes)

    def save_formset(self, request: HttpRequest, form, formset, change: bool) -> None:  # type: ignore[no-untyped-def]
        if formset.model is Flow:
            self._save_flows(form, formset)
            return
        if formset.model is not Offer:
            super().save_formset(request, form, formset, change)
            return
        # What admin's change message reads, as formset.save() would have set it.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for offer_form in formset.deleted_forms:
            if offer_form.instance.pk and not offer_form.instance._state.adding:
                offer_delete(offer=offer_form.instance)
                formset.deleted_objects.append(offer_form.instance)
        for offer_form in formset.forms:
            if offer_form in formset.deleted_forms or not offer_form.has_changed():
                continue
            fields = {name: offer_form.cleaned_data[name] for name in OFFER_EDITABLE}
            if offer_form.instance._state.adding:
                offer = offer_create(config=form.instance, **fields)
                formset.new_objects.append(offer)
            else:
                offer = offer_update(offer=offer_form.instance, **fields)
                formset.changed_objects.append((offer, offer_form.changed_data))

    def _save_flows(self, form, formset) -> None:  # type: ignore[no-untyped-def]
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for flow_form in formset.deleted_forms:
            if flow_form.instance.pk and not flow_form.instance._state.adding:
                flow_delete(flow=flow_form.instance)
                formset.deleted_objects.append(flow_form.instance)
        for flow_form in formset.forms:
            if flow_form in formset.deleted_forms or not flow_form.has_changed():
                continue
            fields = {name: flow_form.cleaned_data[name] for name in FLOW_EDITABLE}
            if flow_form.instance._state.adding:
                formset.new_objects.append(flow_create(config=form.instance, **fields))
            else:
                flow = flow_update(flow=flow_form.instance, **fields)
                formset.changed_objects.append((flow, flow_form.changed_data))
