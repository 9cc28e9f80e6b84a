from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any

import pytest

from billing import inbound
from billing.gateway import StripeGateway
from billing.models import StripeConnection
from billing.services import stripe_connection_connect_key
from tests.stripe_emulator_fixture import stripe_emulator  # noqa: F401

PLATFORM_WEBHOOK_SECRET = "whsec_platform_test_secret_0123456789"
PLATFORM_TEST_KEY = "sk_test_mrrx_platform"
SEED_KEY = "sk_test_seed"  # the emulator's platform namespace, as a merchant's key sees it
MERCHANT_KEY = "rk_test_merchant_restricted_key_1234"


def platform_settings(settings) -> None:  # type: ignore[no-untyped-def]
    """This installation's Stripe platform settings, the same on every backend."""
    settings.STRIPE_TEST_CLIENT_ID = "ca_test_mrrx_platform"
    settings.STRIPE_CLIENT_ID = "ca_live_mrrx_platform"
    settings.STRIPE_PLATFORM_TEST_SECRET_KEY = PLATFORM_TEST_KEY
    settings.STRIPE_PLATFORM_SECRET_KEY = "sk_live_mrrx_platform"
    settings.STRIPE_WEBHOOK_SECRET = [PLATFORM_WEBHOOK_SECRET]
    settings.STRIPE_TIMEOUT_SECONDS = 10
    settings.PUBLIC_BASE_URL = "http://localhost:8000"


@pytest.fixture(autouse=True)
def stripe_platform(settings):  # type: ignore[no-untyped-def]
    platform_settings(settings)


@pytest.fixture
def emulator(stripe_emulator, settings):  # noqa: F811
    """The emulator, emptied, with the product's Stripe settings pointing at it."""
    stripe_emulator.reset()
    platform_settings(settings)  # also for test packages that import only this fixture
    settings.STRIPE_API_BASE = stripe_emulator.base_url
    settings.STRIPE_CONNECT_BASE = stripe_emulator.base_url
    return stripe_emulator


def clear_requests(emulator) -> None:  # type: ignore[no-untyped-def]
    emulator.http.delete("/_emulator/requests").raise_for_status()


@dataclass
class Seeded:
    """Objects made directly in the emulator (through a separate stripe-python client)."""

    product_id: str
    pro_price_id: str
    basic_price_id: str
    customer_id: str
    subscription_id: str
    item_id: str


def seed(
    emulator,  # type: ignore[no-untyped-def]
    *,
    account: str | None = None,
    trial_days: int | None = None,
    email: str = "subscriber@example.com",
) -> Seeded:
    client = (
        emulator.client(SEED_KEY, stripe_account=account) if account else emulator.client(SEED_KEY)
    )
    product = client.v1.products.create({"name": "Pro Plan"})
    pro = client.v1.prices.create(
        {
            "product": product.id,
            "unit_amount": 2900,
            "currency": "usd",
            "recurring": {"interval": "month"},
        }
    )
    basic = client.v1.prices.create(
        {
            "product": product.id,
            "unit_amount": 1900,
            "currency": "usd",
            "recurring": {"interval": "month"},
        }
    )
    customer = client.v1.customers.create({"email": email, "name": "Sam Subscriber"})
    params: dict[str, Any] = {"customer": customer.id, "items": [{"price": pro.id}]}
    if trial_days:
        params["trial_period_days"] = trial_days
    sub = client.v1.subscriptions.create(params)
    return Seeded(
        product_id=product.id,
        pro_price_id=pro.id,
        basic_price_id=basic.id,
        customer_id=customer.id,
        subscription_id=sub.id,
        item_id=sub["items"]["data"][0]["id"],
    )


def stripe_subscription(emulator, subscription_id: str, account: str | None = None) -> dict:  # type: ignore[no-untyped-def]
    """The subscription as Stripe holds it, read with a separate stripe-python client."""
    client = (
        emulator.client(SEED_KEY, stripe_account=account) if account else emulator.client(SEED_KEY)
    )
    sub = client.v1.subscriptions.retrieve(subscription_id, {"expand": ["discounts"]})
    # Through JSON, as Stripe sent it (stripe-python turns decimal fields into Decimal).
    return json.loads(json.dumps(sub.to_dict(), default=float))


@pytest.fixture
def gw(emulator) -> StripeGateway:  # type: ignore[no-untyped-def]
    """A key-connected gateway on the emulator's platform namespace."""
    return StripeGateway(api_key=MERCHANT_KEY, livemode=False)


@pytest.fixture
def key_connection(emulator, tenant) -> StripeConnection:  # type: ignore[no-untyped-def]
    return stripe_connection_connect_key(
        tenant=tenant, livemode=False, key=MERCHANT_KEY, webhook_secret="whsec_tenant_secret_1"
    ).connection


def sign(payload: str, secret: str, timestamp: int | None = None) -> str:
    """A Stripe-Signature header, computed here independently of stripe-python."""
    ts = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{ts}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={ts},v1={mac}"


def event_body(
    *,
    type: str = "customer.subscription.deleted",
    account: str | None = None,
    obj: dict[str, Any] | None = None,
    event_id: str = "evt_test_1",
    livemode: bool = False,
) -> str:
    event: dict[str, Any] = {
        "id": event_id,
        "object": "event",
        "api_version": "2026-10-28.endive",
        "created": int(time.time()),
        "data": {"object": obj or {"id": "cus_1", "object": "customer"}},
        "livemode": livemode,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": type,
    }
    if account:
        event["account"] = account
    return json.dumps(event)


@pytest.fixture
def received(monkeypatch) -> list:  # type: ignore[no-untyped-def]
    """Handlers registered in a test see only that test: the registry is isolated, and
    the events a test's handler records land in this list."""
    monkeypatch.setattr(inbound, "_handlers", {})
    return []
