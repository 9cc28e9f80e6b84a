"""Events are delivered to registered endpoints, signed exactly like Stripe signs them."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import stripe


class Receiver:
    """A tiny local webhook receiver collecting (payload, Stripe-Signature)."""

    def __init__(self) -> None:
        self.received: queue.Queue[tuple[str, str]] = queue.Queue()
        self.seen: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                outer.received.put((body, self.headers.get("Stripe-Signature", "")))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/stripe/webhook"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def next(self, event_type: str, timeout: float = 5.0) -> tuple[str, str]:
        deadline = time.monotonic() + timeout
        while True:
            payload, signature = self.received.get(timeout=max(0.01, deadline - time.monotonic()))
            self.seen.append(json.loads(payload)["type"])
            if self.seen[-1] == event_type:
                return payload, signature

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def test_event_is_delivered_and_verifies(client, emu, receiver):
    secret = "whsec_test_secret"
    endpoint = emu.add_webhook(receiver.url, secret=secret)
    assert endpoint["secret"] == secret
    customer = client.v1.customers.create(params={"email": "hook@example.com"})
    payload, signature = receiver.next("customer.created")
    assert signature.startswith("t=") and ",v1=" in signature
    event = stripe.Webhook.construct_event(payload, signature, secret)
    assert isinstance(event, stripe.Event)
    assert event.data.object.id == customer.id
    assert event.type == "customer.created"
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(
            payload.replace(customer.id, "cus_forged"), signature, secret
        )
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(payload, signature, "whsec_wrong")


def test_generated_secret_and_subscription_events(client, emu, receiver):
    endpoint = emu.add_webhook(receiver.url)
    assert endpoint["secret"].startswith("whsec_")
    customer = client.v1.customers.create()
    price = client.v1.prices.create(
        params={
            "currency": "usd",
            "unit_amount": 100,
            "recurring": {"interval": "month"},
            "product_data": {"name": "P"},
        }
    )
    sub = client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": price.id}], "trial_period_days": 1}
    )
    payload, signature = receiver.next("customer.subscription.created")
    event = stripe.Webhook.construct_event(payload, signature, endpoint["secret"])
    assert event.data.object.status == "trialing"
    emu.advance(2 * 86400)  # events made by the clock are signed with real time too
    payload, signature = receiver.next("customer.subscription.updated")
    event = stripe.Webhook.construct_event(payload, signature, endpoint["secret"])
    assert event.data.object.id == sub.id
    assert event.data.previous_attributes.status == "trialing"
    deliveries = emu.deliveries()
    assert any(d["status"] == 200 for d in deliveries)


def test_connect_endpoints_get_connected_account_events(client, emu, receiver):
    platform_rx = Receiver()
    try:
        emu.add_webhook(platform_rx.url, secret="whsec_platform")
        emu.add_webhook(receiver.url, secret="whsec_connect", connect=True)
        acct = emu.mint_oauth_code()["account"]
        client.v1.customers.create(options={"stripe_account": acct})
        payload, signature = receiver.next("customer.created")
        event = stripe.Webhook.construct_event(payload, signature, "whsec_connect")
        assert event.account == acct
        assert receiver.seen == ["customer.created"]
        client.v1.customers.create()
        payload, _ = platform_rx.next("customer.created")
        assert "account" not in json.loads(payload)
        assert platform_rx.seen == ["customer.created"]
        # One dispatcher thread delivers in order, so a misrouted platform event would
        # already have reached the Connect receiver.
        assert receiver.received.empty()
    finally:
        platform_rx.close()


def test_v1_webhook_endpoint_delivery(client, receiver):
    endpoint = client.v1.webhook_endpoints.create(
        params={"url": receiver.url, "enabled_events": ["coupon.created"]}
    )
    client.v1.customers.create()  # not subscribed to this type
    client.v1.coupons.create(params={"id": "HOOK", "percent_off": 5})
    payload, signature = receiver.next("coupon.created")
    event = stripe.Webhook.construct_event(payload, signature, endpoint.secret)
    assert event.data.object.id == "HOOK"
    assert receiver.seen == ["coupon.created"]
