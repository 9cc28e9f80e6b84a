"""Workspace scoping for every model admin, in one place.

A model admin mixes in ``TenantScopedAdminMixin`` and declares how its model reaches its
workspace (``tenant_path = "tenant"``, ``"config__tenant"``, ``"event__tenant"``, or
``"pk"`` for the workspace itself). For merchants (staff, not superusers) the mixin then:

- filters every queryset admin builds from (changelists, change/delete/history pages,
  search, actions, autocompletes, raw-id popups) to the current workspace;
- answers a direct URL to another workspace's object with a 404, never a redirect that
  would tell "exists elsewhere" from "does not exist";
- limits the choices of every foreign key to what the merchant may see;
- grants view/add/change/delete/actions from ``tenants.roles`` and the member's role,
  never from Django's per-user permissions;
- records every add, change and delete in the audit log (``audit.admin``), in the
  workspace the object belongs to.

Operators (superusers) keep Django's behaviour unchanged. ``OperatorOnlyAdminMixin`` is
for models with no workspace (users, groups, heartbeats): merchants get a 403 there.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.utils import NotRelationField, get_fields_from_path
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.http import Http404, HttpRequest

from audit.admin import AuditedAdminMixin

from .roles import Operation, role_allows
from .workspace import current_role, current_tenant


def _is_merchant(request: HttpRequest) -> bool:
    return not request.user.is_superuser


def scoped_choices(
    admin_site: admin.AdminSite, model: type[models.Model], request: HttpRequest
) -> models.QuerySet:
    """The rows of ``model`` a merchant may pick in a form: its admin's scoped queryset."""
    related_admin = admin_site._registry.get(model)
    if isinstance(related_admin, TenantScopedAdminMixin):
        return related_admin.get_queryset(request)
    return model._default_manager.none()


class _ScopedFormFields:
    """Foreign-key and many-to-many choices limited to the merchant's workspace."""

    admin_site: admin.AdminSite

    def formfield_for_foreignkey(  # type: ignore[no-untyped-def]
        self, db_field, request: HttpRequest, **kwargs: Any
    ):
        if _is_merchant(request) and "queryset" not in kwargs:
            kwargs["queryset"] = scoped_choices(self.admin_site, db_field.related_model, request)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)  # type: ignore[misc]

    def formfield_for_manytomany(  # type: ignore[no-untyped-def]
        self, db_field, request: HttpRequest, **kwargs: Any
    ):
        if _is_merchant(request) and "queryset" not in kwargs:
            kwargs["queryset"] = scoped_choices(self.admin_site, db_field.related_model, request)
        return super().formfield_for_manytomany(db_field, request, **kwargs)  # type: ignore[misc]


class TenantScopedAdminMixin(AuditedAdminMixin, _ScopedFormFields):
    """Put first in a ModelAdmin's bases; declare ``tenant_path``."""

    tenant_path: str = "tenant"
    model: type[models.Model]
    opts: Any

    # Rows ----------------------------------------------------------------------------------
    def get_queryset(self, request: HttpRequest) -> models.QuerySet:
        queryset = super().get_queryset(request)  # type: ignore[misc]
        if not _is_merchant(request):
            return queryset
        tenant = current_tenant(request)
        if tenant is None:
            return queryset.none()
        return queryset.filter(**{self.tenant_path: tenant.pk})

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None):  # type: ignore[no-untyped-def]
        obj = super().get_object(request, object_id, from_field)  # type: ignore[misc]
        if obj is None:
            # Django would redirect with "doesn't exist"; another workspace's object is
            # simply not there.
            raise Http404(f"No {self.opts.verbose_name} with that id.")
        return obj

    def tenant_id_of(self, obj: models.Model) -> str:
        """The id of the workspace ``obj`` belongs to, following ``tenant_path``."""
        *hops, last = self.tenant_path.split("__")
        for hop in hops:
            obj = getattr(obj, hop)
        return obj.pk if last == "pk" else getattr(obj, f"{last}_id")

    def audit_tenant_id(self, obj: models.Model) -> str:
        return self.tenant_id_of(obj)

    def get_list_filter(self, request: HttpRequest) -> list[Any]:
        filters = super().get_list_filter(request)  # type: ignore[misc]
        if not _is_merchant(request):
            return filters
        return [self._scoped_filter(item) for item in filters]

    def _scoped_filter(self, item: Any) -> Any:
        # A plain relation filter would list every workspace's related rows as choices.
        if not isinstance(item, str):
            return item
        try:
            field = get_fields_from_path(self.model, item)[-1]
        except (FieldDoesNotExist, NotRelationField):
            return item
        return (item, admin.RelatedOnlyFieldListFilter) if field.is_relation else item

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        initial = super().get_changeform_initial_data(request)  # type: ignore[misc]
        tenant = current_tenant(request)
        if _is_merchant(request) and tenant is not None and self.tenant_path == "tenant":
            initial.setdefault("tenant", tenant.pk)
        return initial

    # Permissions ---------------------------------------------------------------------------
    def role_allows(self, request: HttpRequest, operation: Operation, obj: Any = None) -> bool:
        """Whether the merchant's role allows ``operation``, on ``obj`` if given."""
        if not role_allows(current_role(request), self.opts.label_lower, operation):
            return False
        if obj is None:
            return True
        tenant = current_tenant(request)
        return tenant is not None and self.tenant_id_of(obj) == tenant.pk

    def has_module_permission(self, request: HttpRequest) -> bool:
        if not _is_merchant(request):
            return super().has_module_permission(request)  # type: ignore[misc]
        return self.role_allows(request, "view")

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if not _is_merchant(request):
            return super().has_view_permission(request, obj)  # type: ignore[misc]
        return self.role_allows(request, "view", obj) or self.role_allows(request, "change", obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        if not _is_merchant(request):
            return super().has_add_permission(request)  # type: ignore[misc]
        return self.role_allows(request, "add")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if not _is_merchant(request):
            return super().has_change_permission(request, obj)  # type: ignore[misc]
        return self.role_allows(request, "change", obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if not _is_merchant(request):
            return super().has_delete_permission(request, obj)  # type: ignore[misc]
        return self.role_allows(request, "delete", obj)

    def has_action_permission(self, request: HttpRequest) -> bool:
        """May run this admin's actions at all (each action may also need more)."""
        return not _is_merchant(request) or self.role_allows(request, "actions")

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        if not self.has_action_permission(request):
            return {}
        return super().get_actions(request)  # type: ignore[misc]


class TenantScopedInlineMixin(_ScopedFormFields):
    """For inlines: rows come from the (already scoped) parent; grants follow the table."""

    opts: Any

    def _allows(self, request: HttpRequest, operation: Operation) -> bool:
        return role_allows(current_role(request), self.opts.label_lower, operation)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if not _is_merchant(request):
            return super().has_view_permission(request, obj)  # type: ignore[misc]
        return self._allows(request, "view") or self._allows(request, "change")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if not _is_merchant(request):
            return super().has_add_permission(request, obj)  # type: ignore[misc]
        return self._allows(request, "add")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if not _is_merchant(request):
            return super().has_change_permission(request, obj)  # type: ignore[misc]
        return self._allows(request, "change")

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if not _is_merchant(request):
            return super().has_delete_permission(request, obj)  # type: ignore[misc]
        return self._allows(request, "delete")


class OperatorOnlyAdminMixin(AuditedAdminMixin):
    """For models that belong to no workspace: superusers only, whatever else is granted."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_superuser and super().has_view_permission(request, obj)  # type: ignore[misc]

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return request.user.is_superuser and super().has_add_permission(request, *args)  # type: ignore[misc]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_superuser and super().has_change_permission(request, obj)  # type: ignore[misc]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_superuser and super().has_delete_permission(request, obj)  # type: ignore[misc]


class ReadOnlyInline(TenantScopedInlineMixin, admin.TabularInline):
    """Rows shown under their parent, never added, changed or deleted there (logs,
    checkpoints, deliveries)."""

    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
