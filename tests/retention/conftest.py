"""Saves against the emulator: a workspace connected by key, its subscriber, sessions that
ran their action on Stripe, and the emulator's events delivered to the inbound webhook."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from billing.models import StripeConnection
from billing.services import stripe_connection_connect_key
from sessions_app.execution import session_execute
from sessions_app.models import Session, SessionStatus
from tests.billing.conftest import (  # noqa: F401 - shared Stripe fixtures
    MERCHANT_KEY,
    SEED_KEY,
    Seeded,
    emulator,
    seed,
    sign,
)
from tests.stripe_emulator_fixture import stripe_emulator  # noqa: F401

DAY = 86400
WEBHOOK_SECRET = "whsec_retention_secret_1"


@dataclass
class Shop:
    """A workspace connected to the emulator by key, with its own webhook endpoint."""

    tenant: Any
    connection: StripeConnection
    seeded: Seeded

    @property
    def webhook_url(self) -> str:
        return f"/api/stripe/webhook/{self.connection.pk}"


def connect(  # type: ignore[no-untyped-def]
    tenant, *, key: str = MERCHANT_KEY, livemode: bool = False
) -> StripeConnection:
    """Connected by key, with the inbound webhook's secret (live mode: the key's live twin)."""
    if livemode:
        key = key.replace("_test_", "_live_", 1)
    return stripe_connection_connect_key(
        tenant=tenant, livemode=livemode, key=key, webhook_secret=WEBHOOK_SECRET
    ).connection


@pytest.fixture
def shop(emulator, tenant) -> Shop:  # noqa: F811
    return Shop(tenant=tenant, connection=connect(tenant), seeded=seed(emulator))


def run_session(
    shop: Shop, action: str, params: dict[str, Any], capture: Any, **fields: Any
) -> Session:
    """A session that chose ``action`` and ran it on Stripe now, as a worker does; the
    outcome's listeners run when its transaction commits (``capture``)."""
    session = Session.objects.create(
        tenant=shop.tenant,
        livemode=False,
        status=SessionStatus.EXECUTING,
        customer_id=shop.seeded.customer_id,
        subscription_id=shop.seeded.subscription_id,
        price_id=shop.seeded.pro_price_id,
        price_amount=2900,
        price_currency="usd",
        price_interval="month",
        survey_reason="too_expensive",
        selected_action=action,
        action_params=params,
        executing_at=timezone.now(),
        expires_at=timezone.now() + timedelta(hours=1),
        **fields,
    )
    with capture(execute=True):
        session_execute(session_id=session.pk)
    session.refresh_from_db()
    assert session.status == SessionStatus.COMPLETED, session.failure
    return session


def emulator_events(  # noqa: F811
    emulator, since: int = 0, *, livemode: bool = False
) -> list[dict[str, Any]]:
    """The platform account's events (of one mode) in the order the emulator emitted them."""
    namespace = "platform:live" if livemode else "platform:test"
    tables = emulator.state()["namespaces"][namespace]["tables"]
    return [e for e in tables["events"].values() if e["created"] >= since]


def deliver(client: Client, shop: Shop, events: list[dict[str, Any]]) -> list[int]:
    """POST each event to the workspace's inbound endpoint, signed as Stripe signs."""
    statuses = []
    for event in events:
        body = json.dumps(event)
        response = client.post(
            shop.webhook_url,
            data=body,
            content_type="application/json",
            HTTP_STRIPE_SIGNATURE=sign(body, WEBHOOK_SECRET),
        )
        statuses.append(response.status_code)
    return statuses


def scrambled(events: list[dict[str, Any]], seed_value: int = 7) -> list[dict[str, Any]]:
    """The events shuffled, with every third one sent twice."""
    doubled = events + events[::3]
    random.Random(seed_value).shuffle(doubled)
    return doubled


def emulator_now(emulator) -> datetime:  # noqa: F811
    return datetime.fromtimestamp(emulator.now(), UTC)
