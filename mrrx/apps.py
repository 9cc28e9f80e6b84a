from __future__ import annotations

import logging

from django.apps import AppConfig

logger = logging.getLogger("mrrx")


class MrrxConfig(AppConfig):
    name = "mrrx"
    verbose_name = "MRRX platform"

    def ready(self) -> None:
        from .api import schema  # noqa: F401 - registers the schema extension
        from .catalogues import catalogues_stale

        stale = catalogues_stale()
        if stale:
            # Subscribers would silently get English: say so where operators look.
            logger.warning(
                "translations not compiled for %s: run `python manage.py messages_compile` "
                "(the release step does)",
                ", ".join(stale),
            )
