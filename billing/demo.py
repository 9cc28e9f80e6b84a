"""The demo workspace's Stripe: connected to the emulator, with a catalog and a subscriber.

``make run`` calls :func:`demo_stripe_setup` (from ``demo_setup``) once the emulator is up.
It reuses whatever already exists, found by lookup key and email, so it can run on every
start; the emulator keeps its state in ``var/`` between runs.
"""

from __future__ import annotations

import secrets
from typing import Any

from tenants.models import Tenant

from .gateway import StripeGateway, gateway_for
from .models import StripeConnection
from .services import (
    stripe_connection_connect_key,
    stripe_connection_set_webhook_secret,
    stripe_connection_webhook_url,
)

# The emulator accepts any well-formed key; this one only names what it is for.
DEMO_KEY = "rk_test_mrrx_demo_emulator_key"
DEMO_PRODUCT = "MRRX Demo App"
DEMO_PRICES = {
    # name: (lookup key, amount in cents, nickname)
    "pro": ("mrrx_demo_pro_monthly", 2900, "Pro"),
    "basic": ("mrrx_demo_basic_monthly", 1900, "Basic"),
}
DEMO_SUBSCRIBER_EMAIL = "demo.subscriber@example.com"
# Those the sessions and save verification read (README: Save verification).
DEMO_WEBHOOK_EVENTS = [
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "customer.subscription.paused",
    "customer.subscription.resumed",
    "invoice.paid",
    "invoice.payment_failed",
]


def _prices(gw: StripeGateway, key_prefix: str) -> dict[str, Any]:
    found = {name: gw.price_find_by_lookup_key(spec[0]) for name, spec in DEMO_PRICES.items()}
    product_id = next((p.product_id for p in found.values() if p is not None), None)
    if product_id is None:
        product_id = gw.product_create(name=DEMO_PRODUCT, idempotency_key=f"{key_prefix}:product")
    for name, (lookup_key, amount, nickname) in DEMO_PRICES.items():
        if found[name] is None:
            found[name] = gw.price_create(
                product_id=product_id,
                amount=amount,
                currency="usd",
                interval="month",
                lookup_key=lookup_key,
                nickname=nickname,
                idempotency_key=f"{key_prefix}:price:{name}",
            )
    return {"product_id": product_id, **{name: price.id for name, price in found.items()}}


def _webhook(gw: StripeGateway, connection: StripeConnection, key_prefix: str) -> str:
    """Have the emulator post subscription events to the workspace's own endpoint."""
    url = stripe_connection_webhook_url(connection)
    if connection.has_webhook_secret and gw.webhook_endpoint_ids(url=url):
        return url
    _, secret = gw.webhook_endpoint_create(
        url=url, events=DEMO_WEBHOOK_EVENTS, idempotency_key=f"{key_prefix}:webhook:{url}"
    )
    stripe_connection_set_webhook_secret(connection=connection, secret=secret)
    return url


def demo_stripe_setup(*, tenant: Tenant) -> dict[str, Any]:
    """Connect ``tenant`` (test mode) to the emulator and give it a catalog and a subscriber.

    Idempotent. Returns the ids: ``connection_id``, ``product_id``, ``price_ids``
    (``{"pro", "basic"}``), ``customer_id``, ``customer_email``, ``subscription_id`` (on
    Pro) and ``webhook_url``. Raises ``billing.services.StripeConnectError`` or
    ``billing.gateway.StripeGatewayError`` when the emulator cannot be reached.
    """
    connection = StripeConnection.objects.filter(tenant=tenant, livemode=False).first()
    if connection is None:
        connection = stripe_connection_connect_key(
            tenant=tenant, livemode=False, key=DEMO_KEY
        ).connection
    gw = gateway_for(tenant=tenant, livemode=False)
    key_prefix = f"mrrx-demo:{tenant.pk}"
    prices = _prices(gw, key_prefix)
    customer_id = gw.customer_find_by_email(DEMO_SUBSCRIBER_EMAIL)
    if customer_id is None:
        customer_id = gw.customer_create(
            email=DEMO_SUBSCRIBER_EMAIL,
            name="Demo Subscriber",
            idempotency_key=f"{key_prefix}:customer",
        )
    live = gw.subscriptions_live_for_customer(customer_id)
    subscription = next((s for s in live if s.price_id == prices["pro"]), None) or (
        live[0] if live else None
    )
    if subscription is None:
        subscription = gw.subscription_create(
            customer_id=customer_id,
            price_id=prices["pro"],
            # Fresh each time: a replay could hand back a subscription canceled since.
            idempotency_key=f"{key_prefix}:subscription:{secrets.token_hex(8)}",
        )
    webhook_url = _webhook(gw, connection, key_prefix)
    return {
        "connection_id": connection.pk,
        "product_id": prices["product_id"],
        "price_ids": {"pro": prices["pro"], "basic": prices["basic"]},
        "customer_id": customer_id,
        "customer_email": DEMO_SUBSCRIBER_EMAIL,
        "subscription_id": subscription.id,
        "webhook_url": webhook_url,
    }
