from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from tenants.management.commands._output import emit
from tenants.models import Tenant
from webhooks.events import event_type_names
from webhooks.services import endpoint_create


class Command(BaseCommand):
    help = "Create a webhook endpoint for a workspace and print its id and secret (once)."

    def add_arguments(self, parser) -> None:  # type: ignore[no-untyped-def]
        parser.add_argument("--tenant", required=True, help="workspace id (ws_...) or slug")
        parser.add_argument("--mode", required=True, choices=["test", "live"])
        parser.add_argument("--url", required=True)
        parser.add_argument(
            "--events",
            nargs="+",
            default=[],
            metavar="TYPE",
            help=f"event types to send (default: all): {', '.join(event_type_names())}",
        )
        parser.add_argument("--description", default="")
        parser.add_argument("--json", action="store_true", help="print JSON for scripts")

    def handle(self, *args, **options) -> None:  # type: ignore[no-untyped-def]
        tenant = (
            Tenant.objects.filter(pk=options["tenant"]).first()
            or Tenant.objects.filter(slug=options["tenant"]).first()
        )
        if tenant is None:
            raise CommandError(f"No workspace {options['tenant']!r}.")
        try:
            endpoint, secret = endpoint_create(
                tenant=tenant,
                livemode=options["mode"] == "live",
                url=options["url"],
                description=options["description"],
                event_types=options["events"],
            )
        except ValidationError as exc:
            problems = "; ".join(
                f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items()
            )
            raise CommandError(problems) from None
        emit(
            self,
            options["json"],
            {
                "id": endpoint.pk,
                "tenant": tenant.pk,
                "mode": endpoint.mode,
                "url": endpoint.url,
                "event_types": endpoint.event_types or "all",
                "secret": secret,
            },
            [
                f"Endpoint: {endpoint.pk}",
                f"Secret:   {secret}",
                f"({endpoint.mode}-mode endpoint {endpoint.url} for {tenant.name}; "
                "the secret is shown once, store it now)",
            ],
        )
