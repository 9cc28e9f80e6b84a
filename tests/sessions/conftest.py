from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from django.test import Client

from billing.models import StripeConnection
from billing.services import stripe_connection_connect_key
from sessions_app.tokens import flow_csrf_token
from tests.billing.conftest import (  # noqa: F401 - shared Stripe fixtures
    MERCHANT_KEY,
    SEED_KEY,
    Seeded,
    emulator,
    seed,
    stripe_subscription,
)
from tests.stripe_emulator_fixture import stripe_emulator  # noqa: F401


@dataclass
class Shop:
    """A workspace connected to the emulator, with a subscriber on the dearer price."""

    client: Any  # KeyedClient, test mode
    seeded: Seeded
    connection: StripeConnection

    @property
    def tenant(self):  # type: ignore[no-untyped-def]
        return self.client.tenant

    def create(self, **body: Any):  # type: ignore[no-untyped-def]
        payload = {
            "customer_id": self.seeded.customer_id,
            "subscription_id": self.seeded.subscription_id,
            **body,
        }
        return self.client.post(
            "/api/v1/sessions", {k: v for k, v in payload.items() if v is not None}
        )


def connect(tenant, *, livemode: bool = False) -> StripeConnection:  # type: ignore[no-untyped-def]
    key = MERCHANT_KEY if not livemode else MERCHANT_KEY.replace("rk_test_", "rk_live_")
    return stripe_connection_connect_key(tenant=tenant, livemode=livemode, key=key).connection


@pytest.fixture
def shop(emulator, make_client, tenant) -> Shop:  # noqa: F811
    connection = connect(tenant)
    return Shop(client=make_client(tenant), seeded=seed(emulator), connection=connection)


@pytest.fixture
def trial_shop(emulator, make_client, tenant) -> Shop:  # noqa: F811
    connection = connect(tenant)
    return Shop(
        client=make_client(tenant), seeded=seed(emulator, trial_days=7), connection=connection
    )


class FlowClient(Client):
    """A subscriber's browser: posts carry the page's form token, as the forms do."""

    def post(self, path, data=None, *args, **kwargs):  # type: ignore[no-untyped-def]
        if path.startswith("/c/") and isinstance(data, dict) and "flow_csrf" not in data:
            token = path.removeprefix("/c/").split("/")[0]
            try:
                session_id = jwt.decode(token, options={"verify_signature": False})["sid"]
            except jwt.PyJWTError:
                session_id = ""
            data = {**data, "flow_csrf": flow_csrf_token(session_id)}
        return super().post(path, data, *args, **kwargs)
