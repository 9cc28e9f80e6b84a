"""Connect a workspace's Stripe with a pasted key, from the command line (operators)."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Q

from billing.models import StripeConnection
from billing.services import (
    StripeConnectError,
    stripe_connection_connect_key,
    stripe_connection_set_webhook_secret,
    stripe_connection_webhook_url,
)
from tenants.models import Tenant


class Command(BaseCommand):
    help = (
        "Connect a workspace's Stripe (one mode) with a restricted key, and/or set the signing "
        "secret of its Stripe webhook endpoint. The key is checked with a harmless read first."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True, help="Workspace id (ws_...) or slug.")
        parser.add_argument("--mode", required=True, choices=["test", "live"])
        parser.add_argument("--key", help="rk_test_/rk_live_ key (sk_ accepted with a warning).")
        parser.add_argument("--webhook-secret", help="whsec_... of the workspace's endpoint.")
        parser.add_argument("--json", action="store_true", help="Print the result as JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = Tenant.objects.filter(Q(pk=options["tenant"]) | Q(slug=options["tenant"])).first()
        if tenant is None:
            raise CommandError(f"No workspace {options['tenant']!r}.")
        livemode = options["mode"] == "live"
        key, secret = options.get("key"), options.get("webhook_secret")
        if not key and not secret:
            raise CommandError("Give --key, --webhook-secret, or both.")
        warnings: list[str] = []
        try:
            if key:
                result = stripe_connection_connect_key(
                    tenant=tenant, livemode=livemode, key=key, webhook_secret=secret
                )
                connection, warnings = result.connection, result.warnings
            else:
                connection = StripeConnection.objects.filter(
                    tenant=tenant, livemode=livemode, method=StripeConnection.Method.KEY
                ).first()
                if connection is None:
                    raise CommandError(
                        f"{tenant} has no key connection in {options['mode']} mode; give --key."
                    )
                stripe_connection_set_webhook_secret(connection=connection, secret=secret or "")
        except StripeConnectError as exc:
            raise CommandError(str(exc)) from exc
        info = {
            "connection_id": connection.pk,
            "workspace": tenant.pk,
            "mode": connection.mode,
            "method": connection.method,
            "key": connection.key_hint,
            "webhook_url": stripe_connection_webhook_url(connection),
            "webhook_secret_set": connection.has_webhook_secret,
            "warnings": warnings,
        }
        if options["json"]:
            self.stdout.write(json.dumps(info))
            return
        for warning in warnings:
            self.stderr.write(f"Warning: {warning}")
        self.stdout.write(
            f"Connected {tenant} ({connection.mode} mode) with key {connection.key_hint}.\n"
            f"Add a Stripe webhook endpoint at {info['webhook_url']} and set its signing "
            "secret with --webhook-secret."
            if not connection.has_webhook_secret
            else f"Connected {tenant} ({connection.mode} mode) with key {connection.key_hint}; "
            f"Stripe events go to {info['webhook_url']}."
        )
