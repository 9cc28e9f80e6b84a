from __future__ import annotations

from django.apps import AppConfig


class RetentionConfig(AppConfig):
    name = "retention"
    verbose_name = "Save verification"

    def ready(self) -> None:
        from sessions_app.outcomes import on_outcome_recorded

        from . import stripe_events  # noqa: F401 - registers the Stripe event handlers
        from .services import save_record_listener

        on_outcome_recorded(save_record_listener)
