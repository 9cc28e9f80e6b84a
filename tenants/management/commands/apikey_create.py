from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from mrrx.formats import iso_timestamp
from tenants.models import ALL_SCOPES, DEFAULT_SCOPES, Tenant
from tenants.services import apikey_issue

from ._output import emit


class Command(BaseCommand):
    help = "Issue an API key for a workspace and print it (once)."

    def add_arguments(self, parser) -> None:  # type: ignore[no-untyped-def]
        parser.add_argument("--tenant", required=True, help="workspace id (ws_...) or slug")
        parser.add_argument("--mode", required=True, choices=["test", "live"])
        parser.add_argument("--scopes", nargs="+", choices=ALL_SCOPES, default=list(DEFAULT_SCOPES))
        parser.add_argument("--name", default="")
        parser.add_argument("--expires-in-days", type=int)
        parser.add_argument("--json", action="store_true", help="print JSON for scripts")

    def handle(self, *args, **options) -> None:  # type: ignore[no-untyped-def]
        tenant = (
            Tenant.objects.filter(pk=options["tenant"]).first()
            or Tenant.objects.filter(slug=options["tenant"]).first()
        )
        if tenant is None:
            raise CommandError(f"No workspace {options['tenant']!r}.")
        days = options["expires_in_days"]
        expires_at = timezone.now() + timedelta(days=days) if days else None
        key, plaintext = apikey_issue(
            tenant=tenant,
            livemode=options["mode"] == "live",
            scopes=options["scopes"],
            name=options["name"],
            expires_at=expires_at,
        )
        emit(
            self,
            options["json"],
            {
                "id": key.pk,
                "tenant": tenant.pk,
                "key": plaintext,
                "prefix": key.prefix,
                "mode": key.mode,
                "scopes": key.scopes,
                "expires_at": iso_timestamp(key.expires_at),
            },
            [plaintext, f"({key.mode} key for {tenant.name}; shown once, store it now)"],
        )
