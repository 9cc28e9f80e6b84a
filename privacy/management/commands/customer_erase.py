from __future__ import annotations

import json

from django.core.management.base import BaseCommand

from ...services import customer_erase
from ._customer import add_customer_arguments, customer_scope


class Command(BaseCommand):
    help = (
        "Replace a customer's personal details with [erased] in every row about them in one "
        "workspace and mode, keeping the figures, and send customer.erased; prints what was "
        "erased as JSON (as POST /api/v1/customers/<id>/erase answers). Audited, as the "
        "system. Safe to repeat."
    )

    def add_arguments(self, parser) -> None:  # type: ignore[no-untyped-def]
        add_customer_arguments(parser)

    def handle(self, *args, **options) -> None:  # type: ignore[no-untyped-def]
        erasure = customer_erase(**customer_scope(options))
        self.stdout.write(json.dumps(erasure, indent=2))
