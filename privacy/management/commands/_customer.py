"""What ``customer_export`` and ``customer_erase`` share: the workspace, mode and customer."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from tenants.models import Tenant

from ...services import CUSTOMER_ID


def add_customer_arguments(parser: CommandParser) -> None:
    parser.add_argument("--tenant", required=True, help="workspace id (ws_...) or slug")
    parser.add_argument(
        "--live", action="store_true", help="the live-mode customer (default: test mode)"
    )
    parser.add_argument("customer_id", metavar="CUSTOMER_ID", help="the Stripe customer id")


def customer_scope(options: dict[str, Any]) -> dict[str, Any]:
    """``tenant``, ``livemode`` and ``customer_id`` from the options, or a CommandError."""
    tenant = (
        Tenant.objects.filter(pk=options["tenant"]).first()
        or Tenant.objects.filter(slug=options["tenant"]).first()
    )
    if tenant is None:
        raise CommandError(f"No workspace {options['tenant']!r} (give its id, ws_..., or slug).")
    if not CUSTOMER_ID.match(options["customer_id"]):
        raise CommandError("A customer id is 1 to 255 characters, without spaces.")
    return {"tenant": tenant, "livemode": options["live"], "customer_id": options["customer_id"]}
