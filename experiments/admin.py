"""Experiments in admin: owners create them with their arms, start and stop them, and
change the traffic split while one runs; admins and viewers read them.

A draft's arms may be edited freely. Once started, an arm's offers, kind and key stay as
they were (the sessions already assigned were shown them), and only the weights change;
a stopped experiment is read-only, its sessions and results kept.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from offers.models import FlowConfig
from offers.selectors import flow_config_get
from tenants.admin_scoping import TenantScopedAdminMixin, TenantScopedInlineMixin

from .models import Arm, Experiment, ExperimentStatus
from .services import (
    OFFERS_EXAMPLE,
    arm_audit,
    arm_fields,
    arm_offers_clean,
    arms_check,
    experiment_start,
    experiment_stop,
)

ARM_FIELDS = ["position", "key", "name", "kind", "weight", "offers"]
# What stays as it was once the experiment has started.
ARM_FIXED_ONCE_STARTED = ["position", "key", "name", "kind", "offers"]


class ArmForm(forms.ModelForm):
    class Meta:
        model = Arm
        fields = ARM_FIELDS
        help_texts = {
            "key": 'Recorded on each session and in the API, e.g. "pct20", "holdout".',
            "weight": "Its share of new sessions: 1, 1, 1 splits three ways.",
            "offers": "A variant's offers by reason, in place of the configured ones; a "
            f"reason left out keeps them. E.g. {OFFERS_EXAMPLE}. Empty for a holdout.",
        }

    def __init__(self, *args: Any, config: FlowConfig | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.config = config

    def clean_offers(self) -> dict[str, list[dict]]:
        return arm_offers_clean(self.cleaned_data.get("offers"), config=self.config)


class ArmFormSet(BaseInlineFormSet):
    """The arms together: two to ten, weights adding up to more than 0, one holdout."""

    def get_form_kwargs(self, index: int | None) -> dict[str, Any]:
        kwargs = super().get_form_kwargs(index)
        experiment = self.instance
        if experiment.tenant_id is not None and experiment.livemode is not None:
            kwargs["config"] = flow_config_get(
                tenant=experiment.tenant, livemode=experiment.livemode
            )
        return kwargs

    def clean(self) -> None:
        super().clean()
        if any(self.errors):
            return
        arms = []
        for form in self.forms:
            extra_left_blank = form.instance.pk is None and not form.has_changed()
            if form in self.deleted_forms or extra_left_blank:
                continue
            data = {name: form.cleaned_data.get(name, getattr(form.instance, name, None))
                    for name in ("key", "kind", "weight", "offers")}  # fmt: skip
            arms.append(data)
        errors = arms_check(arms)
        if errors:
            raise ValidationError(errors)


class ArmInline(TenantScopedInlineMixin, admin.TabularInline):
    model = Arm
    form = ArmForm
    formset = ArmFormSet
    fields = ARM_FIELDS
    extra = 0

    def get_extra(self, request: HttpRequest, obj: Experiment | None = None, **kwargs: Any) -> int:
        return 3 if obj is None else 0

    def get_readonly_fields(self, request: HttpRequest, obj: Experiment | None = None) -> list[str]:
        if obj is None or obj.status == ExperimentStatus.DRAFT:
            return []
        if obj.status == ExperimentStatus.RUNNING:
            return ARM_FIXED_ONCE_STARTED
        return ARM_FIELDS

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        started = obj is not None and obj.status != ExperimentStatus.DRAFT
        return not started and super().has_add_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        started = obj is not None and obj.status != ExperimentStatus.DRAFT
        return not started and super().has_delete_permission(request, obj)


class ExperimentForm(forms.ModelForm):
    class Meta:
        model = Experiment
        fields = ["tenant", "livemode", "name", "description"]


class StatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(value, value) for value in ExperimentStatus.values]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(status=self.value()) if self.value() else queryset


@admin.register(Experiment)
class ExperimentAdmin(TenantScopedAdminMixin, admin.ModelAdmin):
    form = ExperimentForm
    inlines = [ArmInline]
    list_display = ["name", "mode", "status", "arms_shown", "started_at", "stopped_at"]
    list_filter = [StatusFilter, "livemode"]
    search_fields = ["name", "=id"]
    list_select_related = ["tenant"]
    autocomplete_fields = ["tenant"]
    actions = ["start_selected", "stop_selected"]
    change_form_template = "admin/experiments/experiment/change_form.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).prefetch_related("arms")

    def formfield_for_dbfield(self, db_field, request: HttpRequest, **kwargs: Any):  # type: ignore[no-untyped-def]
        if db_field.name == "livemode":  # chosen once, when the experiment is added
            return forms.TypedChoiceField(
                label="Mode",
                choices=[(False, "Test"), (True, "Live")],
                coerce=lambda value: value in (True, "True"),
                help_text="Which sessions it splits: test or live mode.",
            )
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Experiment | None = None) -> list[str]:
        if obj is None:
            return ["tenant", "livemode", "name", "description"]
        return ["tenant", "mode", "name", "description", "status", "started_at", "stopped_at",
                "results"]  # fmt: skip

    def get_readonly_fields(self, request: HttpRequest, obj: Experiment | None = None) -> list[str]:
        if obj is None:
            return []
        return ["tenant", "mode", "status", "started_at", "stopped_at", "results"]

    # A stopped experiment is kept as it ended; a started one is never deleted.
    def has_change_permission(self, request: HttpRequest, obj: Experiment | None = None) -> bool:
        stopped = obj is not None and obj.status == ExperimentStatus.STOPPED
        return not stopped and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Experiment | None = None) -> bool:
        started = obj is not None and obj.status != ExperimentStatus.DRAFT
        return not started and super().has_delete_permission(request, obj)

    @admin.display(description="mode", ordering="livemode")
    def mode(self, obj: Experiment) -> str:
        return "live" if obj.livemode else "test"

    @admin.display(description="arms (kind, weight)")
    def arms_shown(self, obj: Experiment) -> str:
        return format_html_join(
            ", ", "{} ({}, {})", ((arm.key, arm.kind, arm.weight) for arm in obj.arms.all())
        )

    @admin.display(description="results")
    def results(self, obj: Experiment) -> str:
        if obj.status == ExperimentStatus.DRAFT:
            return "Not started: no session is assigned yet."
        sessions = reverse("admin:sessions_app_session_changelist")
        analytics = reverse("dashboard_analytics")
        since = obj.started_at.date().isoformat() if obj.started_at else ""
        query = {"mode": "live" if obj.livemode else "test", "from": since}
        return format_html(
            '<a href="{}?{}">Its sessions</a> · <a href="{}?{}#experiments">Results per arm '
            "on the analytics page</a>",
            sessions,
            urlencode({"experiment_id": obj.pk}),
            analytics,
            urlencode(query),
        )

    # Arms: each add, change and delete in the audit log ------------------------------------
    def save_formset(self, request: HttpRequest, form, formset, change: bool) -> None:  # type: ignore[no-untyped-def]
        if formset.model is not Arm:
            super().save_formset(request, form, formset, change)
            return
        before = {arm.pk: arm_fields(arm) for arm in Arm.objects.filter(experiment=form.instance)}
        for arm_form in formset.deleted_forms:
            if arm_form.instance.pk in before:
                arm_audit(arm=Arm.objects.get(pk=arm_form.instance.pk), before=None, deleted=True)
        super().save_formset(request, form, formset, change)
        for arm in formset.new_objects:
            arm_audit(arm=arm, before=None)
        for arm, _changed in formset.changed_objects:
            arm_audit(arm=arm, before=before.get(arm.pk))

    # Start and stop --------------------------------------------------------------------------
    def get_urls(self) -> list[Any]:
        opts = self.opts
        return [
            path(
                "<path:object_id>/start/",
                self.admin_site.admin_view(self.start_view),
                name=f"{opts.app_label}_{opts.model_name}_start",
            ),
            path(
                "<path:object_id>/stop/",
                self.admin_site.admin_view(self.stop_view),
                name=f"{opts.app_label}_{opts.model_name}_stop",
            ),
            *super().get_urls(),
        ]

    def may_start_or_stop(self, request: HttpRequest, obj: Experiment | None = None) -> bool:
        if request.user.is_superuser:
            return True
        return self.role_allows(request, "actions", obj)

    def _status_change(self, request: HttpRequest, object_id: str, *, start: bool) -> HttpResponse:
        experiment = get_object_or_404(self.get_queryset(request), pk=object_id)
        if not self.may_start_or_stop(request, experiment):
            raise PermissionDenied
        self._apply(request, experiment, start=start)
        return HttpResponseRedirect(
            reverse("admin:experiments_experiment_change", args=[experiment.pk])
        )

    def _apply(self, request: HttpRequest, experiment: Experiment, *, start: bool) -> bool:
        try:
            if start:
                experiment_start(experiment=experiment)
            else:
                experiment_stop(experiment=experiment)
        except ValidationError as exc:
            for message in exc.messages:
                self.message_user(request, message, messages.ERROR)
            return False
        if start:
            done = "started: new sessions are now split between its arms"
        else:
            done = "stopped: its sessions and results are kept"
        self.message_user(request, f"“{experiment.name}” {done}.", messages.SUCCESS)
        return True

    def start_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if request.method != "POST":
            return HttpResponse(status=405, headers={"Allow": "POST"})
        return self._status_change(request, object_id, start=True)

    def stop_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if request.method != "POST":
            return HttpResponse(status=405, headers={"Allow": "POST"})
        return self._status_change(request, object_id, start=False)

    @admin.action(description="Start the selected experiment", permissions=["start_stop"])
    def start_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        if queryset.count() != 1:
            self.message_user(request, "Start one experiment at a time.", messages.ERROR)
            return
        self._apply(request, queryset.get(), start=True)

    @admin.action(description="Stop the selected experiments", permissions=["start_stop"])
    def stop_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        for experiment in queryset:
            self._apply(request, experiment, start=False)

    def has_start_stop_permission(self, request: HttpRequest) -> bool:
        return self.may_start_or_stop(request)

    def render_change_form(self, request: HttpRequest, context: dict[str, Any], *args: Any,
                           **kwargs: Any) -> HttpResponse:  # fmt: skip
        obj = kwargs.get("obj")
        context["may_start_or_stop"] = obj is not None and self.may_start_or_stop(request, obj)
        return super().render_change_form(request, context, *args, **kwargs)
