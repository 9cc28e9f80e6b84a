from __future__ import annotations

from django.apps import AppConfig

_hook_registered = False


class OffersConfig(AppConfig):
    name = "offers"
    verbose_name = "Offers"

    def ready(self) -> None:
        from mrrx.recent import forget_on_change
        from tenants.services import on_tenant_created

        from .models import Flow, FlowConfig
        from .segments import RECENT_FLOWS
        from .selectors import RECENT_CONFIGS
        from .services import flow_configs_create_for_tenant

        # A flow or configuration changed here: this process's next session sees it.
        forget_on_change(RECENT_FLOWS, Flow, FlowConfig, uid="flows")
        forget_on_change(RECENT_CONFIGS, Flow, FlowConfig, uid="flow-configs")

        # ready() can run twice (some test runners): one flow per mode, not two.
        global _hook_registered
        if not _hook_registered:
            on_tenant_created(flow_configs_create_for_tenant)
            _hook_registered = True
