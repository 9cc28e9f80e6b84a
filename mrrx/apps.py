from __future__ import annotations

from django.apps import AppConfig


class MrrxConfig(AppConfig):
    name = "mrrx"
    verbose_name = "MRRX platform"

    def ready(self) -> None:
        from .api import schema  # noqa: F401 - registers the schema extension
