"""The demo workspace's Stripe set-up (make run)."""

from __future__ import annotations

from billing.demo import demo_stripe_setup
from billing.gateway import gateway_for
from billing.models import StripeConnection


def test_demo_setup_connects_and_seeds_a_catalog_and_a_subscriber_once(emulator, tenant):
    first = demo_stripe_setup(tenant=tenant)
    writes_after_first = len(emulator.requests(method="POST"))

    second = demo_stripe_setup(tenant=tenant)

    assert first == second
    assert len(emulator.requests(method="POST")) == writes_after_first
    connection = StripeConnection.objects.get(tenant=tenant, livemode=False)
    assert first["connection_id"] == connection.pk
    assert connection.has_webhook_secret
    assert first["webhook_url"] == f"http://localhost:8000/api/stripe/webhook/{connection.pk}"
    gw = gateway_for(tenant=tenant, livemode=False)
    pro, basic = gw.price_get(first["price_ids"]["pro"]), gw.price_get(first["price_ids"]["basic"])
    assert (pro.amount, pro.interval, basic.amount, basic.interval) == (
        2900,
        "month",
        1900,
        "month",
    )
    assert pro.product_id == basic.product_id == first["product_id"]
    sub = gw.subscription_get(first["subscription_id"])
    assert (sub.customer_id, sub.customer_email, sub.price_id, sub.status) == (
        first["customer_id"],
        "demo.subscriber@example.com",
        pro.id,
        "active",
    )
    endpoints = emulator.client("sk_test_seed").v1.webhook_endpoints.list().data
    assert [e.url for e in endpoints] == [first["webhook_url"]]


def test_demo_setup_replaces_a_canceled_demo_subscription(emulator, tenant):
    first = demo_stripe_setup(tenant=tenant)
    emulator.client("sk_test_seed").v1.subscriptions.cancel(first["subscription_id"])

    second = demo_stripe_setup(tenant=tenant)

    assert second["subscription_id"] != first["subscription_id"]
    assert second["customer_id"] == first["customer_id"]
    sub = gateway_for(tenant=tenant, livemode=False).subscription_get(second["subscription_id"])
    assert (sub.status, sub.price_id) == ("active", first["price_ids"]["pro"])
