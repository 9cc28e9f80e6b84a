from __future__ import annotations

from django.apps import AppConfig

_hook_registered = False


class OffersConfig(AppConfig):
    name = "offers"
    verbose_name = "Offers"

    def ready(self) -> None:
        from tenants.services import on_tenant_created

        from .services import flow_configs_create_for_tenant

        # ready() can run twice (some test runners): one flow per mode, not two.
        global _hook_registered
        if not _hook_registered:
            on_tenant_created(flow_configs_create_for_tenant)
            _hook_registered = True
