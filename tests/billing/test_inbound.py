"""Inbound Stripe webhooks: verified, stored first, de-duplicated, dispatched to handlers."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from billing.gateway import StripeGateway
from billing.inbound import InboundEvent, on_stripe_event
from billing.models import StripeConnection, StripeEvent
from billing.services import (
    stripe_connection_set_webhook_secret,
    stripe_events_process_stale,
)
from tenants.models import Tenant
from tests.factories import TenantFactory, UserFactory

from .conftest import (
    MERCHANT_KEY,
    PLATFORM_WEBHOOK_SECRET,
    event_body,
    seed,
    sign,
    stripe_subscription,
)

PLATFORM_URL = "/api/stripe/webhook"
ACCOUNT = "acct_1Merchant000000000"
EVENTS_ADMIN = "/admin/billing/stripeevent/"


def post(client: Client, url: str, body: str, signature: str | None):  # type: ignore[no-untyped-def]
    headers = {"HTTP_STRIPE_SIGNATURE": signature} if signature is not None else {}
    return client.post(url, data=body, content_type="application/json", **headers)


@pytest.fixture
def connect_connection(db, tenant) -> StripeConnection:  # type: ignore[no-untyped-def]
    return StripeConnection.objects.create(
        tenant=tenant, livemode=False, method="oauth", account_id=ACCOUNT
    )


def test_a_connect_event_reaches_the_handler_with_its_workspace_and_subscription(
    emulator, client, tenant, connect_connection, received
):
    @on_stripe_event("customer.subscription.deleted")
    def handler(event: InboundEvent) -> None:
        received.append(event)

    s = seed(emulator, account=ACCOUNT)
    obj = stripe_subscription(emulator, s.subscription_id, account=ACCOUNT)
    body = event_body(account=ACCOUNT, obj=obj, event_id="evt_connect_1")

    response = post(client, PLATFORM_URL, body, sign(body, PLATFORM_WEBHOOK_SECRET))

    assert response.status_code == 200
    (event,) = received
    assert (event.id, event.type, event.tenant, event.livemode, event.account_id) == (
        "evt_connect_1",
        "customer.subscription.deleted",
        tenant,
        False,
        ACCOUNT,
    )
    assert event.subscription is not None
    assert (event.subscription.id, event.subscription.customer_id) == (
        s.subscription_id,
        s.customer_id,
    )
    assert (event.subscription.price_id, event.subscription.amount) == (s.pro_price_id, 2900)
    stored = StripeEvent.objects.get()
    assert (stored.stripe_event_id, stored.status, stored.signature_valid) == (
        "evt_connect_1",
        "processed",
        True,
    )
    assert (stored.tenant, stored.connection, stored.attempts) == (tenant, connect_connection, 1)
    assert json.loads(stored.payload)["id"] == "evt_connect_1"


@pytest.mark.parametrize(
    "signature",
    [
        None,
        "garbage",
        sign("a different body", PLATFORM_WEBHOOK_SECRET),
        "SIGN_WITH_WRONG_SECRET",
        "SIGN_TOO_OLD",
    ],
)
def test_a_bad_signature_is_rejected_stored_as_such_and_never_processed(
    client, connect_connection, received, signature
):
    on_stripe_event("customer.subscription.deleted")(received.append)
    body = event_body(account=ACCOUNT, event_id="evt_forged")
    if signature == "SIGN_WITH_WRONG_SECRET":
        signature = sign(body, "whsec_not_the_secret")
    elif signature == "SIGN_TOO_OLD":
        signature = sign(body, PLATFORM_WEBHOOK_SECRET, timestamp=int(time.time()) - 3600)

    response = post(client, PLATFORM_URL, body, signature)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"
    stored = StripeEvent.objects.get()
    assert (stored.stripe_event_id, stored.signature_valid, stored.status) == (
        "evt_forged",
        False,
        "ignored",
    )
    assert stored.payload == body
    assert "Signature verification failed" in stored.error
    assert received == []


def test_a_forged_copy_does_not_block_the_genuine_event(client, connect_connection, received):
    on_stripe_event("customer.subscription.deleted")(received.append)
    body = event_body(account=ACCOUNT, event_id="evt_same")
    post(client, PLATFORM_URL, body, sign(body, "whsec_attacker"))

    response = post(client, PLATFORM_URL, body, sign(body, PLATFORM_WEBHOOK_SECRET))

    assert response.status_code == 200
    assert len(received) == 1
    assert StripeEvent.objects.filter(stripe_event_id="evt_same").count() == 2


def test_a_duplicate_is_answered_200_and_processed_once(client, connect_connection, received):
    on_stripe_event("customer.subscription.deleted")(received.append)
    body = event_body(account=ACCOUNT, event_id="evt_dup")

    first = post(client, PLATFORM_URL, body, sign(body, PLATFORM_WEBHOOK_SECRET))
    second = post(client, PLATFORM_URL, body, sign(body, PLATFORM_WEBHOOK_SECRET))

    assert (first.status_code, second.status_code) == (200, 200)
    assert (first.json()["duplicate"], second.json()["duplicate"]) == (False, True)
    assert len(received) == 1
    assert StripeEvent.objects.count() == 1


def test_an_event_without_handlers_is_stored_and_ignored(client, connect_connection, received):
    body = event_body(type="customer.created", account=ACCOUNT, event_id="evt_nohandler")

    response = post(client, PLATFORM_URL, body, sign(body, PLATFORM_WEBHOOK_SECRET))

    assert response.status_code == 200
    assert StripeEvent.objects.get().status == "ignored"


def test_an_event_for_an_unconnected_account_is_ignored(client, db, received):
    on_stripe_event("customer.subscription.deleted")(received.append)
    body = event_body(account="acct_1Stranger0000000", event_id="evt_stranger")

    response = post(client, PLATFORM_URL, body, sign(body, PLATFORM_WEBHOOK_SECRET))

    assert response.status_code == 200
    stored = StripeEvent.objects.get()
    assert stored.status == "ignored"
    assert "acct_1Stranger0000000" in stored.error
    assert received == []


def test_a_live_event_does_not_reach_the_test_mode_connection(client, connect_connection, received):
    on_stripe_event("customer.subscription.deleted")(received.append)
    body = event_body(account=ACCOUNT, event_id="evt_live", livemode=True)

    post(client, PLATFORM_URL, body, sign(body, PLATFORM_WEBHOOK_SECRET))

    assert StripeEvent.objects.get().status == "ignored"
    assert received == []


def test_a_failing_handler_is_rolled_back_recorded_and_retryable_from_admin(
    client, connect_connection, received
):
    calls = []

    @on_stripe_event("customer.subscription.deleted")
    def flaky(event: InboundEvent) -> None:
        TenantFactory(name="made by the handler")
        calls.append(event)
        if len(calls) == 1:
            raise RuntimeError("database was busy")

    body = event_body(account=ACCOUNT, event_id="evt_flaky")
    response = post(client, PLATFORM_URL, body, sign(body, PLATFORM_WEBHOOK_SECRET))

    assert response.status_code == 200  # stored: Stripe need not resend it
    stored = StripeEvent.objects.get()
    assert (stored.status, stored.attempts) == ("failed", 1)
    assert stored.error == "RuntimeError: database was busy"
    assert not Tenant.objects.filter(name="made by the handler").exists()

    admin = Client()
    admin.force_login(UserFactory(is_superuser=True))
    admin.post(
        "/admin/billing/stripeevent/", {"action": "reprocess", "_selected_action": [stored.pk]}
    )

    stored.refresh_from_db()
    assert (stored.status, stored.attempts, stored.error) == ("processed", 2, "")
    assert Tenant.objects.filter(name="made by the handler").count() == 1

    # Processed events are not run again.
    admin.post(
        "/admin/billing/stripeevent/", {"action": "reprocess", "_selected_action": [stored.pk]}
    )
    assert len(calls) == 2


def test_the_event_admin_is_read_only(client, connect_connection, received):
    body = event_body(account=ACCOUNT, event_id="evt_ro")
    post(client, PLATFORM_URL, body, sign(body, PLATFORM_WEBHOOK_SECRET))
    stored = StripeEvent.objects.get()
    admin = Client()
    admin.force_login(UserFactory(is_superuser=True))

    page = admin.get(f"/admin/billing/stripeevent/{stored.pk}/change/")
    attempt = admin.post(f"/admin/billing/stripeevent/{stored.pk}/change/", {"status": "processed"})

    assert page.status_code == 200
    assert "evt_ro" in page.content.decode()
    assert attempt.status_code == 403
    assert admin.get("/admin/billing/stripeevent/add/").status_code == 403


# --- key-connected workspaces: their own endpoint and secret ----------------------------
def test_a_key_connected_workspace_verifies_with_its_own_secret(
    client, key_connection, tenant, received
):
    on_stripe_event("customer.subscription.deleted")(received.append)
    url = f"/api/stripe/webhook/{key_connection.pk}"
    body = event_body(event_id="evt_key_1")

    platform_signed = post(client, url, body, sign(body, PLATFORM_WEBHOOK_SECRET))
    own_signed = post(client, url, body, sign(body, "whsec_tenant_secret_1"))

    assert (platform_signed.status_code, own_signed.status_code) == (400, 200)
    (event,) = received
    assert (event.tenant, event.account_id, event.subscription) == (tenant, None, None)


def test_an_unknown_connection_endpoint_rejects_and_stores(client, db):
    body = event_body(event_id="evt_nowhere")

    response = post(client, "/api/stripe/webhook/stc_nope", body, sign(body, "whsec_x"))

    assert response.status_code == 400
    stored = StripeEvent.objects.get()
    assert (stored.signature_valid, stored.endpoint_connection_id) == (False, "stc_nope")


def test_a_revoked_connect_authorization_forgets_the_connection(client, connect_connection):
    body = event_body(
        type="account.application.deauthorized",
        account=ACCOUNT,
        obj={"id": "ca_test_mrrx_platform", "object": "application", "name": None},
        event_id="evt_deauth",
    )

    response = post(client, PLATFORM_URL, body, sign(body, PLATFORM_WEBHOOK_SECRET))

    assert response.status_code == 200
    assert StripeConnection.objects.count() == 0
    stored = StripeEvent.objects.get()
    assert (stored.status, stored.connection) == ("processed", None)


def test_get_is_not_allowed(client, db):
    assert client.get(PLATFORM_URL).status_code == 405


# --- end to end: the emulator posts to a running server ----------------------------------
@pytest.mark.django_db(transaction=True)
def test_the_emulator_delivers_a_cancellation_to_the_workspace_endpoint(
    emulator, live_server, received
):
    on_stripe_event("customer.subscription.deleted")(received.append)
    tenant = TenantFactory()
    from billing.services import stripe_connection_connect_key

    connection = stripe_connection_connect_key(tenant=tenant, key=MERCHANT_KEY).connection
    gw = StripeGateway(api_key=MERCHANT_KEY, livemode=False)
    endpoint_id, secret = gw.webhook_endpoint_create(
        url=f"{live_server.url}/api/stripe/webhook/{connection.pk}",
        events=["customer.subscription.deleted"],
        idempotency_key="e2e-endpoint",
    )
    stripe_connection_set_webhook_secret(connection=connection, secret=secret)
    s = seed(emulator)

    emulator.client(MERCHANT_KEY).v1.subscriptions.cancel(s.subscription_id)

    deadline = time.monotonic() + 15
    while not StripeEvent.objects.filter(status="processed").exists():
        assert time.monotonic() < deadline, emulator.deliveries()
        time.sleep(0.05)
    (event,) = received
    assert event.tenant == tenant
    assert event.subscription is not None
    assert (event.subscription.id, event.subscription.status) == (s.subscription_id, "canceled")
    ours = [d for d in emulator.deliveries() if d["endpoint"] == endpoint_id]
    assert [d["status"] for d in ours] == [200]


def test_an_event_stored_but_never_processed_is_picked_up_later(
    client, connect_connection, received
):
    on_stripe_event("customer.subscription.deleted")(received.append)
    body = event_body(account=ACCOUNT, event_id="evt_stranded")
    # As if the process died between storing and processing.
    stored = StripeEvent.objects.create(
        stripe_event_id="evt_stranded",
        type="customer.subscription.deleted",
        account_id=ACCOUNT,
        livemode=False,
        payload=body,
        signature_valid=True,
        received_at=timezone.now() - timedelta(minutes=10),
    )
    fresh = StripeEvent.objects.create(
        stripe_event_id="evt_just_now",
        type="customer.subscription.deleted",
        account_id=ACCOUNT,
        livemode=False,
        payload=body,
        signature_valid=True,
    )

    assert stripe_events_process_stale() == 1

    stored.refresh_from_db()
    fresh.refresh_from_db()
    assert (stored.status, fresh.status) == ("processed", "received")
    assert [e.id for e in received] == ["evt_stranded"]


@pytest.mark.parametrize(
    ("body", "missing"),
    [
        ("{}", "no event id"),
        ('{"id": "evt_1", "data": {"object": {}}}', "no type"),
        ('{"id": "evt_1", "type": "customer.subscription.deleted"}', "no data.object"),
        ('{"id": "sub_1", "type": "x", "data": {"object": {}}}', "no event id"),
    ],
)
def test_a_signed_body_that_is_not_an_event_is_refused_and_never_processed(
    client, connect_connection, received, body, missing
):
    on_stripe_event("customer.subscription.deleted")(received.append)

    response = post(client, PLATFORM_URL, body, sign(body, PLATFORM_WEBHOOK_SECRET))

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert (
        error["message"].startswith("invalid_request: the body is not a Stripe event")
        and missing in error["message"]
    )
    stored = StripeEvent.objects.get()
    assert (stored.signature_valid, stored.status, stored.payload) == (False, "ignored", body)
    assert stored.error.startswith("The signature verifies, but the body is not a Stripe event")
    assert received == []
    # The same body again is stored again and refused again: nothing blocks a real event.
    assert post(client, PLATFORM_URL, body, sign(body, PLATFORM_WEBHOOK_SECRET)).status_code == 400
    assert StripeEvent.objects.count() == 2
