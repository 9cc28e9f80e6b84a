"""The admin side of the audit log.

- ``AuditedAdminMixin`` records every add, change and delete made on a model admin page,
  with each field before and after. ``tenants.admin_scoping`` mixes it into every model
  admin (workspace-scoped and operators-only alike), so no admin is left out.
- ``AuditEntryAdminBase`` is the log's own page: read-only, filterable, exported as CSV.
  It is registered by ``tenants.admin``, which lays the workspace scoping and the role
  table over it (``audit`` sits below ``tenants`` and cannot import them).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.contrib import admin
from django.db import models, router, transaction
from django.forms import ModelForm
from django.http import HttpRequest
from django.utils.html import format_html

from mrrx.admin_csv import CsvExportAdminMixin

from .changes import fields_diff, snapshot
from .context import Actor
from .models import AuditAction, AuditEntry
from .services import audit_record

logger = logging.getLogger(__name__)

_BEFORE = "_audit_before"


class AuditedAdminMixin:
    """Writes an audit entry for each object an admin page adds, changes or deletes, in
    the page's own transaction. Reads the "before" from the database just before the form
    is saved, and the "after" once everything (inlines, services) is done."""

    def audit_tenant_id(self, obj: models.Model) -> str:
        """The workspace an object belongs to; scoped admins say which."""
        return ""

    def save_form(self, request: HttpRequest, form: ModelForm, change: bool) -> Any:
        obj = super().save_form(request, form, change)  # type: ignore[misc]
        if change and obj.pk is not None:
            stored = type(obj)._base_manager.filter(pk=obj.pk).first()
            setattr(obj, _BEFORE, snapshot(stored) if stored is not None else None)
        return obj

    def log_addition(self, request: HttpRequest, obj: models.Model, message: Any) -> Any:
        logged = super().log_addition(request, obj, message)  # type: ignore[misc]
        self._audit(request, obj, AuditAction.ADMIN_ADDED, message, before={}, deleted=False)
        return logged

    def log_change(self, request: HttpRequest, obj: models.Model, message: Any) -> Any:
        logged = super().log_change(request, obj, message)  # type: ignore[misc]
        # Pages that save without a form (a password change) leave no "before": the
        # entry then carries admin's own message of what changed.
        before = getattr(obj, _BEFORE, None)
        self._audit(request, obj, AuditAction.ADMIN_CHANGED, message, before, deleted=False)
        return logged

    def delete_model(self, request: HttpRequest, obj: models.Model) -> None:
        with transaction.atomic(using=router.db_for_write(type(obj))):
            self._audit(request, obj, AuditAction.ADMIN_DELETED, None, None, deleted=True)
            super().delete_model(request, obj)  # type: ignore[misc]

    def delete_queryset(self, request: HttpRequest, queryset: models.QuerySet) -> None:
        # Here rather than in log_deletions(): an admin may narrow the queryset first
        # (a workspace keeps its last owner), and only what goes is recorded.
        with transaction.atomic(using=router.db_for_write(queryset.model)):
            for obj in queryset:
                self._audit(request, obj, AuditAction.ADMIN_DELETED, None, None, deleted=True)
            super().delete_queryset(request, queryset)  # type: ignore[misc]

    def _audit(
        self,
        request: HttpRequest,
        obj: models.Model,
        action: str,
        message: Any,
        before: dict[str, Any] | None,
        *,
        deleted: bool,
    ) -> None:
        try:
            if deleted:
                before, after = snapshot(obj), {}
            else:
                stored = type(obj)._base_manager.filter(pk=obj.pk).first()
                after = snapshot(stored if stored is not None else obj)
            changes: dict[str, Any] = {}
            if before is not None:
                changes["fields"] = fields_diff(before, after)
            if message:
                changes["message"] = _message(message)
            audit_record(
                action=action,
                target=obj,
                tenant_id=self.audit_tenant_id(obj),
                actor=Actor.user(request.user),  # type: ignore[arg-type]
                changes=changes,
            )
        except Exception:  # the entry is not worth the change it records
            logger.exception("Could not record the admin's %s of %r", action, obj)


def _message(message: Any) -> Any:
    """Admin's change message: a JSON list as the pages make it, or a custom view's text."""
    if isinstance(message, str):
        try:
            return json.loads(message)
        except ValueError:
            return message
    return message


class AuditEntryAdminBase(CsvExportAdminMixin, admin.ModelAdmin):
    """The audit log in admin: nothing on it can be added, changed or deleted."""

    list_display = ["created_at", "action", "actor", "object_type", "object_display", "livemode",
                    "ip"]  # fmt: skip
    list_display_links = ["created_at"]
    list_filter = ["action", "actor_kind", "livemode", "object_type"]
    search_fields = ["object_id", "object_repr", "actor_id", "actor_label"]
    date_hierarchy = "created_at"
    actions = ["export_selected_csv"]
    fields = ["created_at", "action", "actor_kind", "actor_id", "actor_label", "tenant_id",
              "livemode", "object_type", "object_id", "object_repr", "changes_display", "ip",
              "user_agent"]  # fmt: skip
    readonly_fields = fields
    change_list_template = "admin/audit/auditentry/change_list.html"

    csv_filename = "audit-log"
    csv_noun = "the audit log"
    csv_columns = ["created_at", "tenant_id", "livemode", "actor_kind", "actor_id",
                   "actor_label", "action", "object_type", "object_id", "object_repr",
                   "changes", "ip", "user_agent", "id"]  # fmt: skip

    @admin.display(description="actor", ordering="actor_label")
    def actor(self, obj: AuditEntry) -> str:
        return f"{obj.get_actor_kind_display()}: {obj.actor_label or obj.actor_id or '-'}"

    @admin.display(description="object", ordering="object_id")
    def object_display(self, obj: AuditEntry) -> str:
        return obj.object_repr or obj.object_id

    @admin.display(description="changes")
    def changes_display(self, obj: AuditEntry) -> str:
        return format_html(
            "<pre style='white-space: pre-wrap'>{}</pre>", json.dumps(obj.changes, indent=2)
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    # CSV -----------------------------------------------------------------------------------
