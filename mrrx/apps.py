from __future__ import annotations

from django.apps import AppConfig


class MrrxConfig(AppConfig):
    name = "mrrx"
    verbose_name = "MRRX platform"
