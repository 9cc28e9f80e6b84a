from __future__ import annotations

from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "tenants"
    verbose_name = "Workspaces"

    def ready(self) -> None:
        from mrrx.recent import forget_on_change

        from .models import ApiKey, Tenant
        from .services import RECENT_KEYS

        # A key or workspace changed here is read afresh by this process's next request.
        forget_on_change(RECENT_KEYS, ApiKey, Tenant, uid="keys")
