from __future__ import annotations

from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "tenants"
    verbose_name = "Workspaces"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from .models import ApiKey, Tenant
        from .services import apikey_cache_clear

        # A key or workspace changed here is read afresh by this process's next request.
        for model in (ApiKey, Tenant):
            post_save.connect(apikey_cache_clear, sender=model, dispatch_uid=f"keys-{model}")
            post_delete.connect(apikey_cache_clear, sender=model, dispatch_uid=f"keys-{model}-d")
