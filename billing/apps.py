from __future__ import annotations

from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"

    def ready(self) -> None:
        # Registers billing's own Stripe event handlers (a revoked Connect authorization).
        from mrrx.recent import forget_on_change

        from . import services  # noqa: F401
        from .gateway.connections import RECENT_GATEWAYS
        from .models import StripeConnection

        # A connection changed here is read afresh by this process's next gateway_for.
        forget_on_change(RECENT_GATEWAYS, StripeConnection, uid="gateways")
