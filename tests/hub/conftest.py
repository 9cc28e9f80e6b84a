"""A workspace connected to the emulator with a customer who has two subscriptions, and a
browser for the hub page that sends the page's form token as its forms do."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import jwt
import pytest
from django.test import Client

from hub.models import PlanChange
from hub.tokens import hub_csrf_token
from tests.flow_worker.conftest import celery_worker_env  # noqa: F401
from tests.sessions.conftest import (  # noqa: F401
    MERCHANT_KEY,
    SEED_KEY,
    FlowClient,
    Seeded,
    connect,
    emulator,
    seed,
    stripe_emulator,
    stripe_subscription,
)
from tests.webhooks.conftest import make_endpoint, receiver  # noqa: F401
from tests.worker_fixture import celery_broker, celery_worker_process  # noqa: F401


@dataclass
class Customer:
    """What the emulator holds for one customer: a Pro Plan subscription (2900/month, with
    a cheaper 1900 price beside it) and a Team Add-on subscription (900/month)."""

    seeded: Seeded
    addon_product_id: str
    addon_price_id: str
    addon_subscription_id: str

    @property
    def customer_id(self) -> str:
        return self.seeded.customer_id

    @property
    def pro_subscription_id(self) -> str:
        return self.seeded.subscription_id


def seed_customer(emulator, *, email: str = "subscriber@example.com") -> Customer:  # type: ignore[no-untyped-def]
    seeded = seed(emulator, email=email)
    stripe = emulator.client(SEED_KEY)
    product = stripe.v1.products.create({"name": "Team Add-on"})
    price = stripe.v1.prices.create(
        {
            "product": product.id,
            "unit_amount": 900,
            "currency": "usd",
            "recurring": {"interval": "month"},
        }
    )
    sub = stripe.v1.subscriptions.create(
        {"customer": seeded.customer_id, "items": [{"price": price.id}]}
    )
    return Customer(
        seeded=seeded,
        addon_product_id=product.id,
        addon_price_id=price.id,
        addon_subscription_id=sub.id,
    )


def pause(emulator, subscription_id: str, *, days: int = 30) -> int:  # type: ignore[no-untyped-def]
    """Pause collection in Stripe directly (as the cancel flow's pause offer does)."""
    resumes_at = emulator.now() + days * 86400
    emulator.client(SEED_KEY).v1.subscriptions.update(
        subscription_id, {"pause_collection": {"behavior": "void", "resumes_at": resumes_at}}
    )
    return resumes_at


def schedule_cancel(emulator, subscription_id: str) -> None:  # type: ignore[no-untyped-def]
    emulator.client(SEED_KEY).v1.subscriptions.update(
        subscription_id, {"cancel_at_period_end": True}
    )


@dataclass
class HubShop:
    client: Any  # KeyedClient, test mode
    customer: Customer

    @property
    def tenant(self):  # type: ignore[no-untyped-def]
        return self.client.tenant

    def create(self, **body: Any):  # type: ignore[no-untyped-def]
        payload = {"customer_id": self.customer.customer_id, **body}
        return self.client.post(
            "/api/v1/hub_sessions", {k: v for k, v in payload.items() if v is not None}
        )

    def open(self, **body: Any) -> dict[str, Any]:
        response = self.create(**body)
        assert response.status_code == 201, response.content
        return response.json()

    def allow_plan_change(
        self, from_price: str, to_price: str, proration: str = "create_prorations"
    ) -> PlanChange:
        return PlanChange.objects.create(
            tenant=self.tenant,
            livemode=False,
            from_price_id=from_price,
            to_price_id=to_price,
            proration_behavior=proration,
        )


@pytest.fixture
def hub_shop(emulator, make_client, tenant) -> HubShop:  # noqa: F811
    connect(tenant)
    return HubShop(client=make_client(tenant), customer=seed_customer(emulator))


def page_path(url: str) -> str:
    return urlsplit(url).path


class HubClient(FlowClient):
    """A customer's browser: hub posts carry the page's form token, as its forms do (and
    flow posts theirs, through ``FlowClient``)."""

    def post(self, path, data=None, *args, **kwargs):  # type: ignore[no-untyped-def]
        if path.startswith("/h/") and isinstance(data, dict) and "hub_csrf" not in data:
            token = path.removeprefix("/h/").split("/")[0]
            try:
                hub_id = jwt.decode(token, options={"verify_signature": False})["hid"]
            except jwt.PyJWTError:
                hub_id = ""
            data = {**data, "hub_csrf": hub_csrf_token(hub_id)}
        return super().post(path, data, *args, **kwargs)


@pytest.fixture
def browser() -> Client:
    return HubClient()
