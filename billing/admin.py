"""Admin for Stripe connections (connect by OAuth or key, test, disconnect) and Stripe events.

Writes go through ``billing.services``; this module only parses forms and shows results.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from tenants.admin_scoping import TenantScopedAdminMixin, scoped_choices
from tenants.models import Tenant

from . import gateway
from .gateway import StripeGatewayError
from .models import StripeConnection, StripeEvent
from .services import (
    StripeConnectError,
    oauth_authorize_url,
    stripe_connection_check,
    stripe_connection_connect_key,
    stripe_connection_disconnect,
    stripe_connection_set_webhook_secret,
    stripe_connection_webhook_url,
    stripe_event_process,
)

MODE_CHOICES = [("test", "Test mode"), ("live", "Live mode")]


class ConnectByKeyForm(forms.Form):
    tenant = forms.ModelChoiceField(queryset=Tenant.objects.none(), label="Workspace")
    mode = forms.ChoiceField(choices=MODE_CHOICES)
    key = forms.CharField(
        label="Restricted key",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="rk_test_… or rk_live_… (read and write on customers, products, prices, "
        "coupons and subscriptions). Stored encrypted; never shown again.",
    )
    webhook_secret = forms.CharField(
        label="Webhook signing secret",
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Optional: whsec_… of the endpoint you add in Stripe for this workspace "
        "(its URL is shown once connected).",
    )

    def __init__(self, *args: Any, tenants: QuerySet[Tenant], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["tenant"].queryset = tenants  # type: ignore[attr-defined]


class ConnectByOAuthForm(forms.Form):
    tenant = forms.ModelChoiceField(queryset=Tenant.objects.none(), label="Workspace")
    mode = forms.ChoiceField(choices=MODE_CHOICES)

    def __init__(self, *args: Any, tenants: QuerySet[Tenant], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["tenant"].queryset = tenants  # type: ignore[attr-defined]


class ConnectionChangeForm(forms.ModelForm):
    webhook_secret = forms.CharField(
        label="New webhook signing secret",
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="whsec_… of this workspace's endpoint in Stripe. Leave empty to keep.",
    )

    class Meta:
        model = StripeConnection
        fields: list[str] = []

    def clean_webhook_secret(self) -> str:
        secret = self.cleaned_data["webhook_secret"].strip()
        if secret and not secret.startswith("whsec_"):
            raise forms.ValidationError("A webhook signing secret starts with whsec_.")
        return secret


@admin.register(StripeConnection)
class StripeConnectionAdmin(TenantScopedAdminMixin, admin.ModelAdmin):
    form = ConnectionChangeForm
    list_display = [
        "tenant",
        "mode",
        "method",
        "account_id",
        "key_hint",
        "has_webhook_secret",
        "connected_at",
        "last_checked_at",
        "last_check_error",
    ]
    list_filter = ["livemode", "method"]
    search_fields = ["tenant__name", "tenant__slug", "account_id"]
    readonly_fields = [
        "tenant",
        "mode",
        "method",
        "account_id",
        "oauth_scope",
        "key_hint",
        "webhook_url",
        "has_webhook_secret",
        "connected_at",
        "connected_by",
        "last_checked_at",
        "last_check_error",
    ]
    actions = ["test_connection", "disconnect"]

    @admin.display(description="Key")
    def key_hint(self, obj: StripeConnection) -> str:
        return obj.key_hint

    @admin.display(boolean=True, description="Webhook secret set")
    def has_webhook_secret(self, obj: StripeConnection) -> bool:
        return obj.has_webhook_secret

    @admin.display(description="Stripe webhook URL")
    def webhook_url(self, obj: StripeConnection) -> str:
        return stripe_connection_webhook_url(obj)

    def get_queryset(self, request: HttpRequest) -> QuerySet[StripeConnection]:
        return super().get_queryset(request).select_related("tenant")

    def connectable_tenants(self, request: HttpRequest) -> QuerySet[Tenant]:
        """The workspaces this user may connect: the current one (operators: any)."""
        return scoped_choices(self.admin_site, Tenant, request)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fields = list(self.readonly_fields)
        if obj is not None and obj.method == StripeConnection.Method.KEY:
            fields.append("webhook_secret")
        return fields

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # disconnect instead: it deauthorizes too
        return actions

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        secret = form.cleaned_data.get("webhook_secret")
        if change and secret:
            stripe_connection_set_webhook_secret(connection=obj, secret=secret)

    # Connecting ----------------------------------------------------------------------------
    def get_urls(self) -> list[Any]:
        return [
            path(
                "connect-oauth/",
                self.admin_site.admin_view(self.connect_oauth_view),
                name="billing_stripeconnection_connect_oauth",
            ),
            *super().get_urls(),
        ]

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        """ "Add" is connecting: Stripe Connect, or a pasted restricted key."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        key_form = ConnectByKeyForm(request.POST or None, tenants=self.connectable_tenants(request))
        if request.method == "POST" and key_form.is_valid():
            try:
                result = stripe_connection_connect_key(
                    tenant=key_form.cleaned_data["tenant"],
                    livemode=key_form.cleaned_data["mode"] == "live",
                    key=key_form.cleaned_data["key"],
                    webhook_secret=key_form.cleaned_data["webhook_secret"] or None,
                    user=request.user,
                )
            except StripeConnectError as exc:
                key_form.add_error("key", str(exc))
            else:
                for warning in result.warnings:
                    messages.warning(request, warning)
                connection = result.connection
                messages.success(
                    request,
                    f"Connected {connection.tenant} ({connection.mode} mode) with key "
                    f"{connection.key_hint}. Stripe webhook URL for this workspace: "
                    f"{stripe_connection_webhook_url(connection)}",
                )
                return HttpResponseRedirect(
                    reverse("admin:billing_stripeconnection_change", args=[connection.pk])
                )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Connect Stripe",
            "key_form": key_form,
            "oauth_form": ConnectByOAuthForm(tenants=self.connectable_tenants(request)),
            "oauth_test": gateway.connect_configured(False),
            "oauth_live": gateway.connect_configured(True),
            "oauth_url": reverse("admin:billing_stripeconnection_connect_oauth"),
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/billing/stripeconnection/connect.html", context)

    def connect_oauth_view(self, request: HttpRequest) -> HttpResponse:
        """Send the merchant to Stripe's Connect authorize page."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = ConnectByOAuthForm(request.GET, tenants=self.connectable_tenants(request))
        changelist = reverse("admin:billing_stripeconnection_changelist")
        if not form.is_valid():
            messages.error(request, "Choose a workspace you manage and a mode.")
            return HttpResponseRedirect(changelist)
        try:
            url = oauth_authorize_url(
                tenant=form.cleaned_data["tenant"],
                livemode=form.cleaned_data["mode"] == "live",
                user=request.user,
            )
        except StripeGatewayError as exc:
            messages.error(request, exc.message)
            return HttpResponseRedirect(changelist)
        return HttpResponseRedirect(url)

    # Actions -------------------------------------------------------------------------------
    @admin.action(description="Test the connection (a harmless read)")
    def test_connection(self, request: HttpRequest, queryset: QuerySet[StripeConnection]) -> None:
        for connection in queryset:
            error = stripe_connection_check(connection=connection)
            if error:
                messages.error(request, f"{connection}: {error}")
            else:
                messages.success(request, f"{connection}: Stripe answered.")

    @admin.action(description="Disconnect (deauthorizes Stripe Connect)")
    def disconnect(self, request: HttpRequest, queryset: QuerySet[StripeConnection]) -> None:
        for connection in queryset:
            label = str(connection)
            try:
                stripe_connection_disconnect(connection=connection)
            except StripeGatewayError as exc:
                messages.error(request, f"{label}: not disconnected: {exc.message}")
            else:
                messages.success(request, f"{label}: disconnected.")


@admin.register(StripeEvent)
class StripeEventAdmin(TenantScopedAdminMixin, admin.ModelAdmin):
    list_display = [
        "received_at",
        "type",
        "stripe_event_id",
        "tenant",
        "livemode",
        "signature_valid",
        "status",
        "attempts",
    ]
    list_filter = ["status", "signature_valid", "livemode", "type"]
    search_fields = ["stripe_event_id", "account_id", "type"]
    date_hierarchy = "received_at"
    actions = ["reprocess"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in self.model._meta.fields] + ["payload_pretty"]

    @admin.display(description="Payload")
    def payload_pretty(self, obj: StripeEvent) -> str:
        return format_html("<pre style='white-space: pre-wrap'>{}</pre>", obj.payload)

    def get_queryset(self, request: HttpRequest) -> QuerySet[StripeEvent]:
        return super().get_queryset(request).select_related("tenant")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Reprocess (failed, or ignored before a workspace connected)")
    def reprocess(self, request: HttpRequest, queryset: QuerySet[StripeEvent]) -> None:
        done = skipped = 0
        for event in queryset:
            if not event.signature_valid or event.status == StripeEvent.Status.PROCESSED:
                skipped += 1
                continue
            event = stripe_event_process(event_id=event.pk)
            done += 1
            level = messages.ERROR if event.status == StripeEvent.Status.FAILED else messages.INFO
            messages.add_message(request, level, f"{event}: {event.status}. {event.error}")
        if skipped:
            messages.info(
                request, f"Skipped {skipped} (already processed, or not signed by Stripe)."
            )
