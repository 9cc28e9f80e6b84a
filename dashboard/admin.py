"""Admin for models that belong to no workspace: operators (superusers) only."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth import admin as auth_admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.http import HttpRequest

from tenants.admin_scoping import OperatorOnlyAdminMixin

from .models import Heartbeat

User = get_user_model()

admin.site.unregister(User)
admin.site.unregister(Group)


@admin.register(User)
class UserAdmin(OperatorOnlyAdminMixin, auth_admin.UserAdmin):
    pass


@admin.register(Group)
class GroupAdmin(OperatorOnlyAdminMixin, auth_admin.GroupAdmin):
    pass


@admin.register(Heartbeat)
class HeartbeatAdmin(OperatorOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["name", "last_run_at", "last_state"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


admin.site.site_header = "MRRX"
admin.site.site_title = "MRRX"
admin.site.index_title = "Your workspace"
# The site root is no page of its own; the hosted pages live at /c/<token>.
admin.site.site_url = None
