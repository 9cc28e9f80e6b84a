"""Set up (once) the demo workspace that ``make run`` shows, and print a fresh demo key.

Keys are stored only as hashes, so the key printed by an earlier run cannot be shown
again: each run revokes the previous demo key and issues a new one. Under ``make run``
(``--wait``) the banner waits for the web server, the worker and beat, so that it is the
last thing start-up prints rather than scrolling away under their start-up output.
"""

from __future__ import annotations

import json
import os
import signal
import time

import httpx
from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

from billing.demo import demo_stripe_setup
from dashboard.services import DEMO_MERCHANT_EMAIL, demo_merchant_reset
from mrrx.celery import app as celery_app
from offers.selectors import flow_config_get
from offers.services import offer_update
from sessions_app.models import ACTIVE_STATUSES, Session
from sessions_app.services import session_create, session_url
from sessions_app.tokens import session_token
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


def _wait_for_worker_and_beat(timeout: float) -> bool:
    """Whether a worker and beat both answered a ping (beat as ``celerybeat@...``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        nodes = {name for reply in celery_app.control.ping(timeout=1.0) for name in reply}
        beat = {name for name in nodes if name.startswith("celerybeat@")}
        if beat and nodes - beat:
            return True
    return False


def _offer_the_cheaper_price(tenant: Tenant, stripe: dict) -> None:  # type: ignore[type-arg]
    """Downgrade offers in the demo flow move Pro subscribers to Basic."""
    pro, basic = stripe["price_ids"]["pro"], stripe["price_ids"]["basic"]
    config = flow_config_get(tenant=tenant, livemode=False)
    target = {
        "price_id": basic,
        "amount": 1900,
        "currency": "usd",
        "interval": "month",
        "product_name": "Basic",
        "from_amount": 2900,
    }
    for offer in config.offers.filter(action="downgrade"):
        offer_update(offer=offer, params={"targets": {pro: target}})


def _cancel_url(tenant: Tenant, stripe: dict) -> str:  # type: ignore[type-arg]
    """A hosted-flow link for the demo subscriber: their open session, or a new one."""
    session = Session.objects.filter(
        tenant=tenant,
        livemode=False,
        subscription_id=stripe["subscription_id"],
        status__in=ACTIVE_STATUSES,
    ).first()
    if session is None:
        session, token = session_create(
            tenant=tenant,
            livemode=False,
            customer_id=stripe["customer_id"],
            subscription_id=stripe["subscription_id"],
            metadata={"source": "make run"},
        )
    else:
        token = session_token(
            session_id=session.id,
            tenant_id=tenant.pk,
            livemode=False,
            expires_at=session.expires_at,
        )
    return session_url(token)


class Command(BaseCommand):
    help = "Create the demo workspace if missing and print a fresh demo test key."

    def add_arguments(self, parser) -> None:  # type: ignore[no-untyped-def]
        parser.add_argument("--json", action="store_true")
        parser.add_argument(
            "--wait",
            action="store_true",
            help="wait for the web server (and the Stripe emulator) first and print the "
            "banner once the worker and beat answer too; stay up after",
        )

    def handle(self, *args, **options) -> None:  # type: ignore[no-untyped-def]
        if options["wait"]:
            port = os.environ.get("MRRX_WEB_PORT") or os.environ.get("PORT", "8000")
            _wait_for(f"http://127.0.0.1:{port}/api/v1/health")
            if settings.STRIPE_API_BASE:
                _wait_for(f"{settings.STRIPE_API_BASE}/_emulator/clock")
        info = self._setup()
        if options["wait"] and not _wait_for_worker_and_beat(timeout=60):
            # The key is still worth showing; what is missing shows in the log above.
            self.stderr.write("The Celery worker or beat did not answer within 60 s.")
        self._print(info, as_json=options["json"])
        if options["wait"]:
            # A process of `make run`: leaving would stop the others.
            signal.pause()

    def _setup(self) -> dict[str, str]:
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
        stripe = demo_stripe_setup(tenant=tenant)
        _offer_the_cheaper_price(tenant, stripe)
        cancel_url = _cancel_url(tenant, stripe)
        # The merchant's dashboard login: a new password each run, like the key.
        merchant_password = demo_merchant_reset(tenant=tenant)
        return {
            "workspace": tenant.pk,
            "workspace_name": tenant.name,
            "test_key": plaintext,
            "base_url": settings.PUBLIC_BASE_URL,
            "cancel_url": cancel_url,
            "customer_id": stripe["customer_id"],
            "subscription_id": stripe["subscription_id"],
            "merchant_email": DEMO_MERCHANT_EMAIL,
            "merchant_password": merchant_password,
        }

    def _print(self, info: dict[str, str], *, as_json: bool) -> None:
        if as_json:
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
                    f"  Workspace:    {info['workspace_name']} ({info['workspace']})",
                    f"  Test API key: {info['test_key']}",
                    f"  Cancel URL:   {info['cancel_url']}",
                    f"  Subscriber:   {info['customer_id']} / {info['subscription_id']}",
                    f"  Try:          curl -H 'Authorization: Bearer {info['test_key']}' "
                    f"{base}/api/v1/workspace",
                    f"  API docs:     {base}/api/docs",
                    f"  Merchant login: {info['merchant_email']} / {info['merchant_password']} "
                    f"at {base}/admin/",
                    "=" * 72,
                    "",
                ]
            )
        )
        self.stdout.flush()
