from __future__ import annotations

from django.core.management.base import BaseCommand
from django.db import transaction

from tenants.services import apikey_issue, tenant_create

from ._output import emit


class Command(BaseCommand):
    help = "Create a workspace and print its id with one live and one test API key."

    def add_arguments(self, parser) -> None:  # type: ignore[no-untyped-def]
        parser.add_argument("name")
        parser.add_argument("--slug")
        parser.add_argument("--json", action="store_true", help="print JSON for scripts")

    def handle(self, *args, **options) -> None:  # type: ignore[no-untyped-def]
        with transaction.atomic():
            tenant = tenant_create(name=options["name"], slug=options["slug"])
            _live, live_plain = apikey_issue(tenant=tenant, livemode=True, name="initial live key")
            _test, test_plain = apikey_issue(tenant=tenant, livemode=False, name="initial test key")
        emit(
            self,
            options["json"],
            {
                "id": tenant.pk,
                "name": tenant.name,
                "slug": tenant.slug,
                "live_key": live_plain,
                "test_key": test_plain,
            },
            [
                f"Workspace {tenant.name} created: {tenant.pk}",
                f"Live key: {live_plain}",
                f"Test key: {test_plain}",
                "Keys are shown once; store them now.",
            ],
        )
