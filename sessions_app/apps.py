from __future__ import annotations

from django.apps import AppConfig


class SessionsAppConfig(AppConfig):
    name = "sessions_app"
    verbose_name = "Cancellation sessions"

    def ready(self) -> None:
        from . import stripe_events  # noqa: F401 - registers the Stripe event handlers
