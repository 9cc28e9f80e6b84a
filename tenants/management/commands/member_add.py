"""Give someone a role in a workspace so they can sign in to the dashboard (operators)."""

from __future__ import annotations

import sys
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from tenants.members import member_add
from tenants.models import Membership, Tenant

from ._output import emit


class Command(BaseCommand):
    # Tests (and callers of call_command) may hand in their own stdin.
    stealth_options = ("stdin",)
    help = (
        "Add a member (owner, admin or viewer) to a workspace, creating their user. The "
        "password is read from stdin with --password-stdin; otherwise someone without a "
        "password gets a one-time link to choose one."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True, help="workspace id (ws_...) or slug")
        parser.add_argument("--email", required=True)
        parser.add_argument("--role", required=True, choices=Membership.Role.values)
        parser.add_argument(
            "--password-stdin",
            action="store_true",
            help="read the password from the first line of stdin (never from the command line)",
        )
        parser.add_argument("--json", action="store_true", help="print JSON for scripts")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = (
            Tenant.objects.filter(pk=options["tenant"]).first()
            or Tenant.objects.filter(slug=options["tenant"]).first()
        )
        if tenant is None:
            raise CommandError(f"No workspace {options['tenant']!r}.")
        password = None
        if options["password_stdin"]:
            password = options.get("stdin", sys.stdin).readline().rstrip("\r\n")
            if not password:
                raise CommandError("--password-stdin given but stdin had no password.")
        try:
            added = member_add(
                tenant=tenant, email=options["email"], role=options["role"], password=password
            )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        user = added.membership.user
        login = f"{settings.PUBLIC_BASE_URL}/admin/"
        lines = [
            f"{user.email} is {added.membership.role} of {tenant.name} ({tenant.pk})"
            + (" (new user)." if added.user_created else "."),
            f"Sign in at {login} as {user.get_username()}.",
        ]
        if added.set_password_url:
            lines.append(f"One-time link to choose a password: {added.set_password_url}")
        emit(
            self,
            options["json"],
            {
                "tenant": tenant.pk,
                "email": user.email,
                "username": user.get_username(),
                "role": added.membership.role,
                "user_created": added.user_created,
                "login_url": login,
                "set_password_url": added.set_password_url,
            },
            lines,
        )
