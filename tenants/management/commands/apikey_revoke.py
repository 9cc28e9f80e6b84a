from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from mrrx.formats import iso_timestamp
from tenants.models import ApiKey
from tenants.services import apikey_revoke

from ._output import emit


class Command(BaseCommand):
    help = "Revoke an API key by its display prefix (mrrx_test_XXXXXXXX)."

    def add_arguments(self, parser) -> None:  # type: ignore[no-untyped-def]
        parser.add_argument("prefix")
        parser.add_argument("--json", action="store_true", help="print JSON for scripts")

    def handle(self, *args, **options) -> None:  # type: ignore[no-untyped-def]
        prefix = options["prefix"].rstrip("…. ")
        matches = list(ApiKey.objects.filter(prefix__startswith=prefix)[:2])
        if len(prefix) < len("mrrx_test_") + 4 or not matches:
            raise CommandError(f"No API key with prefix {prefix!r}.")
        if len(matches) > 1:
            raise CommandError(f"Prefix {prefix!r} matches several keys; give more characters.")
        key = apikey_revoke(api_key=matches[0])
        emit(
            self,
            options["json"],
            {"id": key.pk, "prefix": key.prefix, "revoked_at": iso_timestamp(key.revoked_at)},
            [f"Revoked {key.prefix}… ({key.tenant.name})"],
        )
