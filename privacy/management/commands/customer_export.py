from __future__ import annotations

import json

from django.core.management.base import BaseCommand

from ...services import customer_export
from ._customer import add_customer_arguments, customer_scope


class Command(BaseCommand):
    help = (
        "Print everything MRRX holds about a customer in one workspace and mode as one JSON "
        "document (as POST /api/v1/customers/<id>/export answers). Audited, as the system."
    )

    def add_arguments(self, parser) -> None:  # type: ignore[no-untyped-def]
        add_customer_arguments(parser)

    def handle(self, *args, **options) -> None:  # type: ignore[no-untyped-def]
        document = customer_export(**customer_scope(options))
        self.stdout.write(json.dumps(document, indent=2, ensure_ascii=False))
