"""A customer's whole footprint in MRRX, built through the product's own paths, and ways to
look at what the database holds afterwards."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from billing.models import StripeConnection
from billing.services import stripe_connection_connect_key
from hub.execution import hub_action_execute
from hub.models import HubAction
from sessions_app import execution, receipts
from sessions_app.models import CustomSession, Session
from tests.billing.conftest import (  # noqa: F401 - shared Stripe fixtures
    MERCHANT_KEY,
    SEED_KEY,
    emulator,
    event_body,
    seed,
    sign,
)
from tests.factories import TenantFactory
from tests.hub.conftest import HubClient
from tests.sessions.conftest import FlowClient
from tests.stripe_emulator_fixture import stripe_emulator  # noqa: F401
from tests.webhooks.conftest import Reply, make_endpoint, receiver  # noqa: F401
from webhooks.models import Delivery
from webhooks.services import delivery_attempt

# What the customer told MRRX, or what Stripe and the merchant told it about them. Each is
# searched for in every table after erasure.
EMAIL = "erin.quillfeather@example.com"
NAME = "Erin Quillfeather"
FEEDBACK = "Leaving because Dana Whitcombe in accounts cut our budget"
REASON_OTHER = "Moving to a spreadsheet my cousin Tobias built"
METADATA = {"user_id": "usr_erin_4411", "crm_note": "Enterprise lead since 2019"}
USER_AGENT = "QuillfeatherPhone/7.1 (Erin's own browser)"
PERSONAL = (EMAIL, NAME, FEEDBACK, REASON_OTHER, USER_AGENT, *METADATA.values())
STRIPE_WEBHOOK_SECRET = "whsec_privacy_tenant_secret"
RETURN_URL = "https://app.example.com/account"


@pytest.fixture(autouse=True)
def _loopback_receivers(settings):  # type: ignore[no-untyped-def]
    settings.WEBHOOK_ALLOW_LOOPBACK = True


def all_rows_in_database() -> list[str]:
    """Every row of every table, each as one text (``tests/test_api_keys.py``'s scan)."""
    rows = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f'SELECT * FROM "{table}"')  # noqa: S608 - names from the database
            rows.extend(f"{table}: {row!r}" for row in cursor.fetchall())
    return rows


def deliver_pending() -> list[str]:
    """Send every pending delivery once, as the worker's task does; returns their ids."""
    ids = list(Delivery.objects.filter(status="pending").values_list("pk", flat=True))
    for delivery_id in ids:
        delivery_attempt(delivery_id=delivery_id)
    return ids


@dataclass
class Footprint:
    """What one customer left in one workspace, and the same customer elsewhere."""

    client: Any  # KeyedClient of the workspace, test mode, every scope
    connection: StripeConnection
    customer_id: str
    subscription_id: str
    session_id: str
    custom_session_id: str
    hub_session_id: str
    endpoint_secret: str
    stripe_event_id: str
    # Rows with the same person in them that an erasure in ``client``'s workspace and mode
    # must leave alone: another workspace's, and this workspace's live mode.
    untouched: dict[str, Any] = field(default_factory=dict)

    @property
    def tenant(self):  # type: ignore[no-untyped-def]
        return self.client.tenant


def _walk_hosted_flow(client, seeded) -> str:  # type: ignore[no-untyped-def]
    created = client.post(
        "/api/v1/sessions",
        {
            "customer_id": seeded.customer_id,
            "subscription_id": seeded.subscription_id,
            "return_url": RETURN_URL,
            "metadata": METADATA,
            "context": {"plan": "pro", "mrr": 2900, "tenure_days": 412},
        },
        HTTP_IDEMPOTENCY_KEY="cancel-erin-1",
    )
    assert created.status_code == 201, created.content
    session_id = created.json()["id"]
    path = urlsplit(created.json()["url"]).path
    browser = FlowClient(HTTP_USER_AGENT=USER_AGENT)
    assert browser.get(path).status_code == 200
    steps = [
        {"step": "reason", "reason": "other", "reason_other": REASON_OTHER},
        {"step": "offer", "action": "cancel"},
        {"step": "confirm", "feedback": FEEDBACK},
    ]
    for step in steps:
        response = browser.post(path, step)
        assert response.status_code == 302, response.content.decode()[:2000]
    execution.session_execute(session_id=session_id)
    session = Session.objects.get(pk=session_id)
    assert (session.status, session.survey_feedback) == ("completed", FEEDBACK)
    receipt = receipts.receipt_send(receipt_id=session.receipt.id)
    assert receipt is not None and receipt.status == "sent"
    return session_id


def _report_custom_session(client, customer_id: str) -> str:  # type: ignore[no-untyped-def]
    response = client.post(
        "/api/v1/custom_sessions",
        {
            "external_id": "own-flow-erin",
            "customer_id": customer_id,
            "started_at": "2026-11-20T14:00:00Z",
            "reason": "other",
            "reason_other": REASON_OTHER,
            "outcome": {"action": "cancel"},
            "mrr": {"amount": 2900, "currency": "usd"},
            "metadata": METADATA,
        },
        # Its answer, the reported row, is kept for replays: erasure must reach it too.
        HTTP_IDEMPOTENCY_KEY="report-erin-1",
    )
    assert response.status_code == 201, response.content
    return response.json()["id"]


def _visit_hub(client, seeded) -> str:  # type: ignore[no-untyped-def]
    created = client.post(
        "/api/v1/hub_sessions",
        {"customer_email": EMAIL, "return_url": RETURN_URL, "metadata": METADATA},
        HTTP_IDEMPOTENCY_KEY="hub-erin-1",
    )
    assert created.status_code == 201, created.content
    path = urlsplit(created.json()["url"]).path
    browser = HubClient(HTTP_USER_AGENT=USER_AGENT)
    assert browser.get(path).status_code == 200
    # The cancel flow set the subscription to end with its period: keep it after all.
    response = browser.post(path, {"action": "reactivate", "subscription": seeded.subscription_id})
    assert response.status_code == 302, response.content.decode()[:2000]
    action = HubAction.objects.get(hub_session_id=created.json()["id"])
    hub_action_execute(action_id=action.pk)
    action.refresh_from_db()
    assert action.status == "completed", action.failure
    return created.json()["id"]


def _receive_stripe_event(connection: StripeConnection, customer_id: str) -> str:
    body = event_body(
        type="customer.updated",
        event_id="evt_privacy_customer_updated",
        obj={
            "id": customer_id,
            "object": "customer",
            "email": EMAIL,
            "name": NAME,
            "phone": "+44 20 7946 0321",
            "address": {"line1": "12 Quill Lane", "city": "London", "country": "GB"},
            "metadata": METADATA,
        },
    )
    response = Client().post(
        f"/api/stripe/webhook/{connection.pk}",
        data=body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=sign(body, STRIPE_WEBHOOK_SECRET),
    )
    assert response.status_code == 200, response.content
    return "evt_privacy_customer_updated"


def _the_same_person_elsewhere(tenant, customer_id: str, make_client) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """The same customer id, address and words in another workspace (reported through its
    own API) and in this workspace's live mode."""
    other = make_client(TenantFactory())
    reported = other.post(
        "/api/v1/custom_sessions",
        {
            "external_id": "their-flow-1",
            "customer_id": customer_id,
            "started_at": "2026-11-21T10:00:00Z",
            "reason": "other",
            "reason_other": REASON_OTHER,
            "metadata": METADATA,
        },
    )
    assert reported.status_code == 201, reported.content
    now = timezone.now()
    common = {
        "customer_id": customer_id,
        "subscription_id": "sub_elsewhere",
        "status": "completed",
        "subscription_snapshot": {"customer_email": EMAIL},
        "metadata": METADATA,
        "survey_reason": "other",
        "survey_reason_other": REASON_OTHER,
        "survey_feedback": FEEDBACK,
        "outcome_action": "cancel",
        "expires_at": now + timedelta(hours=1),
    }
    return {
        "other_tenant": other.tenant,
        "other_client": other,
        "other_session": Session.objects.create(tenant=other.tenant, livemode=False, **common),
        "other_custom_session": CustomSession.objects.get(pk=reported.json()["id"]),
        "live_session": Session.objects.create(tenant=tenant, livemode=True, **common),
    }


@pytest.fixture
def footprint(emulator, make_client, tenant, receiver, make_endpoint) -> Footprint:  # noqa: F811
    """Erin, a customer of ``tenant`` (test mode), as MRRX comes to know her: a session
    created with metadata and walked through the hosted flow (a reason of her own, feedback,
    cancel), its receipt sent, its webhooks delivered to a receiver that echoes her address,
    a cancellation reported from the merchant's own flow, a hub visit opened by her address
    in which she kept her subscription, and Stripe telling MRRX her address changed."""
    connection = stripe_connection_connect_key(
        tenant=tenant, livemode=False, key=MERCHANT_KEY, webhook_secret=STRIPE_WEBHOOK_SECRET
    ).connection
    seeded = seed(emulator, email=EMAIL)
    emulator.client(SEED_KEY).v1.customers.update(seeded.customer_id, {"name": NAME})
    _, endpoint_secret = make_endpoint(tenant)
    receiver.default = Reply(body=json.dumps({"received": True, "for": EMAIL}).encode())
    client = make_client(tenant)

    session_id = _walk_hosted_flow(client, seeded)
    custom_session_id = _report_custom_session(client, seeded.customer_id)
    hub_session_id = _visit_hub(client, seeded)
    stripe_event_id = _receive_stripe_event(connection, seeded.customer_id)
    assert deliver_pending()
    return Footprint(
        client=client,
        connection=connection,
        customer_id=seeded.customer_id,
        subscription_id=seeded.subscription_id,
        session_id=session_id,
        custom_session_id=custom_session_id,
        hub_session_id=hub_session_id,
        endpoint_secret=endpoint_secret,
        stripe_event_id=stripe_event_id,
        untouched=_the_same_person_elsewhere(tenant, seeded.customer_id, make_client),
    )
