"""Webhook endpoints, events, deliveries and their attempt log in admin.

A signing secret is shown once, on the page that answers its creation or rotation, and is
kept nowhere in plaintext (not in the session, not in a message cookie). Every write goes
through ``webhooks.services``; querysets stay plain so that workspace scoping can be laid
over them.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from mrrx.admin_pages import secret_shown_once
from tenants.admin_scoping import ReadOnlyInline, TenantScopedAdminMixin

from .events import event_type_choices
from .models import Delivery, DeliveryAttempt, Endpoint, Event
from .services import (
    endpoint_create,
    endpoint_disable,
    endpoint_enable,
    endpoint_resend_failed,
    endpoint_rotate_secret,
    endpoint_update,
    endpoint_validate,
    event_resend,
)


def _pretty_json(value: Any) -> str:
    return format_html("<pre style='white-space: pre-wrap'>{}</pre>", json.dumps(value, indent=2))


class EndpointForm(forms.ModelForm):
    url = forms.URLField(max_length=2000, assume_scheme="https", label="URL")
    event_types = forms.MultipleChoiceField(
        choices=event_type_choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Tick none to receive every event type, including ones added later.",
    )

    class Meta:
        model = Endpoint
        fields = ["tenant", "livemode", "url", "description", "event_types"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if "url" not in cleaned:
            return cleaned
        adding = self.instance._state.adding
        livemode = cleaned.get("livemode", False) if adding else self.instance.livemode
        try:
            cleaned["url"], cleaned["event_types"] = endpoint_validate(
                livemode=bool(livemode), url=cleaned["url"], event_types=cleaned.get("event_types")
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                self.add_error(field if field in self.fields else None, errors)
        return cleaned


class ResendSinceForm(forms.Form):
    since = forms.SplitDateTimeField(
        label="Resend failed deliveries of events created since (UTC)",
        widget=admin.widgets.AdminSplitDateTime,
    )


@admin.register(Endpoint)
class EndpointAdmin(TenantScopedAdminMixin, admin.ModelAdmin):
    form = EndpointForm
    change_form_template = "admin/webhooks/endpoint/change_form.html"
    list_display = ["url", "tenant", "livemode", "enabled", "event_types_display", "created_at"]
    list_filter = ["livemode", "enabled"]
    search_fields = ["url", "description", "id", "tenant__name"]
    list_select_related = ["tenant"]
    autocomplete_fields = ["tenant"]
    actions = ["disable_endpoints", "enable_endpoints", "resend_failed_since"]

    def get_fields(self, request: HttpRequest, obj: Endpoint | None = None) -> list[str]:
        if obj is None:
            return ["tenant", "livemode", "url", "description", "event_types"]
        return [
            "id", "tenant", "livemode", "url", "description", "event_types", "enabled",
            "disabled_at", "disabled_reason", "failing_since", "secret_status", "created_at",
            "updated_at", "created_by",
        ]  # fmt: skip

    def get_readonly_fields(self, request: HttpRequest, obj: Endpoint | None = None) -> list[str]:
        if obj is None:
            return []
        return [
            "id", "tenant", "livemode", "enabled", "disabled_at", "disabled_reason",
            "failing_since", "secret_status", "created_at", "updated_at", "created_by",
        ]  # fmt: skip

    @admin.display(description="event types")
    def event_types_display(self, obj: Endpoint) -> str:
        return ", ".join(obj.event_types) or "all"

    @admin.display(description="signing secret")
    def secret_status(self, obj: Endpoint) -> str:
        # Never the secret itself: it was shown once, when made.
        text = "Set; shown only when made. Use “Rotate secret” for a new one."
        if obj.secret_rotated_at:
            text += f" Last rotated {obj.secret_rotated_at:%Y-%m-%d %H:%M} UTC."
        if obj.previous_secret_expires_at and obj.previous_secret_expires_at > timezone.now():
            text += (
                " The previous secret also signs until "
                f"{obj.previous_secret_expires_at:%Y-%m-%d %H:%M} UTC."
            )
        return text

    def save_model(self, request: HttpRequest, obj: Endpoint, form, change: bool) -> None:  # type: ignore[no-untyped-def]
        data = form.cleaned_data
        if change:
            endpoint_update(
                endpoint=obj,
                url=data["url"],
                description=data.get("description", ""),
                event_types=data.get("event_types", []),
            )
            return
        endpoint, secret = endpoint_create(
            tenant=data["tenant"],
            livemode=data["livemode"],
            url=data["url"],
            description=data.get("description", ""),
            event_types=data.get("event_types", []),
            created_by=request.user,
        )
        obj.pk, obj._state.adding, obj._state.db = endpoint.pk, False, endpoint._state.db
        # Held on this request only, for the page that answers it.
        request._new_webhook_secret = secret  # type: ignore[attr-defined]

    def response_add(
        self, request: HttpRequest, obj: Endpoint, post_url_continue=None
    ) -> HttpResponse:  # type: ignore[no-untyped-def]
        secret = getattr(request, "_new_webhook_secret", None)
        if secret is None:
            return super().response_add(request, obj, post_url_continue)
        return self._secret_response(request, obj, secret, rotated=False)

    def _secret_response(
        self, request: HttpRequest, endpoint: Endpoint, secret: str, *, rotated: bool
    ) -> HttpResponse:
        endpoint.refresh_from_db()
        return secret_shown_once(
            self,
            request,
            template="admin/webhooks/endpoint/secret.html",
            title="Copy the new signing secret" if rotated else "Copy the signing secret",
            endpoint=endpoint,
            secret=secret,
            rotated=rotated,
        )

    def get_urls(self):  # type: ignore[no-untyped-def]
        wrap = self.admin_site.admin_view
        return [
            path(
                "<path:object_id>/rotate-secret/",
                wrap(self.rotate_secret_view),
                name="webhooks_endpoint_rotate_secret",
            ),
            path(
                "<path:object_id>/resend-failed/",
                wrap(self.resend_failed_view),
                name="webhooks_endpoint_resend_failed",
            ),
            *super().get_urls(),
        ]

    def _endpoint_for_change(self, request: HttpRequest, object_id: str) -> Endpoint:
        endpoint = get_object_or_404(self.get_queryset(request), pk=object_id)
        if not self.has_change_permission(request, endpoint):
            raise PermissionDenied
        return endpoint

    def rotate_secret_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        endpoint = self._endpoint_for_change(request, object_id)
        if request.method == "POST":
            secret = endpoint_rotate_secret(endpoint=endpoint)
            return self._secret_response(request, endpoint, secret, rotated=True)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "endpoint": endpoint,
            "title": "Rotate the signing secret?",
        }
        return TemplateResponse(request, "admin/webhooks/endpoint/rotate_confirm.html", context)

    def resend_failed_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        endpoint = self._endpoint_for_change(request, object_id)
        queryset = self.get_queryset(request).filter(pk=endpoint.pk)
        response = self._resend_failed(request, queryset, action_form=False)
        if response is None:
            return HttpResponseRedirect(
                reverse("admin:webhooks_endpoint_change", args=[endpoint.pk])
            )
        return response

    @admin.action(description="Disable selected endpoints", permissions=["change"])
    def disable_endpoints(self, request: HttpRequest, queryset: QuerySet[Endpoint]) -> None:
        count = sum(
            endpoint_disable(endpoint=endpoint, reason=f"Disabled by {request.user} in admin.")
            for endpoint in queryset.filter(enabled=True)
        )
        self.message_user(request, f"Disabled {count} endpoint(s).", messages.SUCCESS)

    @admin.action(description="Enable selected endpoints", permissions=["change"])
    def enable_endpoints(self, request: HttpRequest, queryset: QuerySet[Endpoint]) -> None:
        endpoints = list(queryset.filter(enabled=False))
        for endpoint in endpoints:
            endpoint_enable(endpoint=endpoint)
        self.message_user(request, f"Enabled {len(endpoints)} endpoint(s).", messages.SUCCESS)

    @admin.action(description="Resend failed deliveries since…", permissions=["change"])
    def resend_failed_since(
        self, request: HttpRequest, queryset: QuerySet[Endpoint]
    ) -> HttpResponse | None:
        return self._resend_failed(request, queryset, action_form=True)

    def _resend_failed(
        self, request: HttpRequest, queryset: QuerySet[Endpoint], *, action_form: bool
    ) -> HttpResponse | None:
        """Ask for the date-time; once given, resend and return None (back to the list)."""
        form = ResendSinceForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            since = form.cleaned_data["since"]
            total = 0
            for endpoint in queryset:
                try:
                    total += endpoint_resend_failed(endpoint=endpoint, since=since)
                except ValidationError as exc:
                    self.message_user(request, f"{endpoint.url}: {exc.messages[0]}",
                                      messages.ERROR)  # fmt: skip
            self.message_user(
                request, f"Queued {total} failed deliveries to be sent again.", messages.SUCCESS
            )
            return None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Resend failed deliveries",
            "form": form,
            "endpoints": queryset,
            "action_form": action_form,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/webhooks/endpoint/resend_failed.html", context)


class DeliveryInline(ReadOnlyInline):
    model = Delivery
    show_change_link = True
    fields = ["id", "endpoint", "status", "attempt_count", "last_status_code", "next_attempt_at",
              "last_error"]  # fmt: skip
    readonly_fields = fields


class ReadOnlyAdmin(TenantScopedAdminMixin, admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_resend_permission(self, request: HttpRequest) -> bool:
        # Resending is for whoever may act on the log (tenants.roles: admins and owners).
        return self.has_action_permission(request)


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ["id", "type", "tenant", "livemode", "session_id", "created_at"]
    list_filter = ["type", "livemode"]
    search_fields = ["id", "session_id", "tenant__name"]
    list_select_related = ["tenant"]
    fields = ["id", "tenant", "livemode", "type", "session_id", "created_at", "payload_display"]
    readonly_fields = fields
    inlines = [DeliveryInline]
    actions = ["resend_events"]

    @admin.display(description="payload")
    def payload_display(self, obj: Event) -> str:
        return _pretty_json(obj.payload)

    @admin.action(description="Resend selected events", permissions=["resend"])
    def resend_events(self, request: HttpRequest, queryset: QuerySet[Event]) -> None:
        count = sum(len(event_resend(event=event)) for event in queryset)
        self.message_user(request, f"Queued {count} deliveries.", messages.SUCCESS)


class DeliveryAttemptInline(ReadOnlyInline, admin.StackedInline):  # type: ignore[misc]
    model = DeliveryAttempt
    show_change_link = False
    fields = ["number", "started_at", "duration_ms", "succeeded", "status_code", "error",
              "request_url", "request_headers", "response_headers", "response_body"]  # fmt: skip
    readonly_fields = fields
    template = "admin/edit_inline/stacked.html"


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    tenant_path = "event__tenant"
    list_display = ["id", "event_type", "endpoint", "status", "attempt_count", "last_status_code",
                    "next_attempt_at", "created_at"]  # fmt: skip
    list_filter = ["status", "event__type"]
    search_fields = ["id", "event__id", "endpoint__url", "endpoint__id"]
    list_select_related = ["event", "endpoint"]
    fields = ["id", "event", "endpoint", "status", "attempt_count", "retry_base",
              "next_attempt_at", "last_attempt_at", "last_status_code", "last_error",
              "completed_at", "created_at"]  # fmt: skip
    readonly_fields = fields
    inlines = [DeliveryAttemptInline]
    actions = ["resend_events"]

    @admin.display(description="event type", ordering="event__type")
    def event_type(self, obj: Delivery) -> str:
        return obj.event.type

    @admin.action(description="Resend the events of selected deliveries", permissions=["resend"])
    def resend_events(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        events = Event.objects.filter(pk__in=queryset.values("event_id"))
        count = sum(len(event_resend(event=event)) for event in events)
        self.message_user(request, f"Queued {count} deliveries.", messages.SUCCESS)
