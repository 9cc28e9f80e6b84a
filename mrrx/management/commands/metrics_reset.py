from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Empty PROMETHEUS_MULTIPROC_DIR of the previous run's metric files. Run it before "
        "starting the web, worker and beat processes, never while they run: it erases "
        "their counts."
    )

    def handle(self, *args, **options) -> None:  # type: ignore[no-untyped-def]
        # Only prometheus-client's files: the directory may be one an operator shares.
        removed = 0
        for path in settings.PROMETHEUS_MULTIPROC_DIR.glob("*.db"):
            path.unlink(missing_ok=True)
            removed += 1
        if options["verbosity"] > 1:
            self.stdout.write(f"Removed {removed} files from {settings.PROMETHEUS_MULTIPROC_DIR}")
