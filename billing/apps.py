from __future__ import annotations

from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"

    def ready(self) -> None:
        # Registers billing's own Stripe event handlers (a revoked Connect authorization).
        from django.db.models.signals import post_delete, post_save

        from . import services  # noqa: F401
        from .gateway.connections import gateways_forget
        from .models import StripeConnection

        # A connection changed here is read afresh by this process's next gateway_for.
        post_save.connect(gateways_forget, sender=StripeConnection, dispatch_uid="gw-save")
        post_delete.connect(gateways_forget, sender=StripeConnection, dispatch_uid="gw-delete")
