from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from mrrx.catalogues import catalogues_compile


class Command(BaseCommand):
    help = (
        "Compile the subscriber's pages' translations (locale/<ll>/LC_MESSAGES/django.po) to "
        "the .mo files Django reads. Part of every deployment's release step; `make "
        "install` does the same in development."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        for path in catalogues_compile():
            if options["verbosity"] > 0:
                self.stdout.write(f"{path}")
