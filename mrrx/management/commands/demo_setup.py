"""Set up (once) the demo workspace that ``make run`` shows, and print a fresh demo key.

Keys are stored only as hashes, so the key printed by an earlier run cannot be shown
again: each run revokes the previous demo key and issues a new one.
"""

from __future__ import annotations

import json
import signal
import time

import httpx
from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

from tenants.models import ApiKey, Tenant
from tenants.services import apikey_issue, apikey_revoke, tenant_create

DEMO_SLUG = "demo"
DEMO_KEY_NAME = "demo key (make run)"


def _wait_for(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"{url} did not answer within {timeout:.0f} s")


class Command(BaseCommand):
    help = "Create the demo workspace if missing and print a fresh demo test key."

    def add_arguments(self, parser) -> None:  # type: ignore[no-untyped-def]
        parser.add_argument("--json", action="store_true")
        parser.add_argument(
            "--wait",
            action="store_true",
            help="wait for the web server (and the Stripe emulator) first, stay up after",
        )

    def handle(self, *args, **options) -> None:  # type: ignore[no-untyped-def]
        if options["wait"]:
            _wait_for(f"{settings.PUBLIC_BASE_URL}/api/v1/health")
            if settings.STRIPE_API_BASE:
                _wait_for(f"{settings.STRIPE_API_BASE}/_emulator/clock")
        self._setup(options)
        if options["wait"]:
            # A process of `make run`: leaving would stop the others.
            signal.pause()

    def _setup(self, options) -> None:  # type: ignore[no-untyped-def]
        with transaction.atomic():
            tenant = Tenant.objects.filter(slug=DEMO_SLUG).first()
            if tenant is None:
                tenant = tenant_create(
                    name="Demo Workspace",
                    slug=DEMO_SLUG,
                    return_url_allowlist=[settings.PUBLIC_BASE_URL],
                    default_return_url=f"{settings.PUBLIC_BASE_URL}/admin/",
                )
            for old in ApiKey.objects.filter(tenant=tenant, name=DEMO_KEY_NAME, revoked_at=None):
                apikey_revoke(api_key=old)
            _, plaintext = apikey_issue(tenant=tenant, livemode=False, name=DEMO_KEY_NAME)
        info = {"workspace": tenant.pk, "test_key": plaintext, "base_url": settings.PUBLIC_BASE_URL}
        if options["json"]:
            self.stdout.write(json.dumps(info))
            self.stdout.flush()
            return
        base = settings.PUBLIC_BASE_URL
        self.stdout.write(
            "\n".join(
                [
                    "",
                    "=" * 72,
                    "MRRX demo is ready.",
                    f"  Workspace:    {tenant.name} ({tenant.pk})",
                    f"  Test API key: {plaintext}",
                    f"  Try:          curl -H 'Authorization: Bearer {plaintext}' "
                    f"{base}/api/v1/workspace",
                    f"  API docs:     {base}/api/docs",
                    f"  Admin:        {base}/admin/",
                    "=" * 72,
                    "",
                ]
            )
        )
        self.stdout.flush()
