from __future__ import annotations

from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"

    def ready(self) -> None:
        # Registers billing's own Stripe event handlers (a revoked Connect authorization).
        from . import services  # noqa: F401
