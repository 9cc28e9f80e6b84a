"""Every object the emulator returns has Stripe's shape for the pinned API version."""

from __future__ import annotations

import stripe

from . import helpers
from .helpers import assert_shape, fixture_resources, make_subscription, raw

# Keys Stripe sends that fixtures3's single example object does not show: `account` on
# events from connected accounts, `previous_attributes` on *.updated events, and the
# signing `secret` that only a webhook endpoint create response reveals.
EVENT_EXTRA = frozenset({"account", "data.previous_attributes", "data.object.status_details"})
# Added with the pause endpoint (2026-09-30.endive), after fixtures3's example was taken;
# stripe-python 16.1.0 annotates it.
SUBSCRIPTION_EXTRA = frozenset({"status_details"})


def test_api_version_is_the_one_stripe_python_pins(client):
    customer = client.v1.customers.create()
    assert customer.last_response.headers["stripe-version"] == stripe.api_version
    event = client.v1.events.list().data[0]
    assert event.api_version == stripe.api_version == "2026-10-28.endive"


def test_customer_shape(client):
    customer = client.v1.customers.create(
        params={"email": "a@example.com", "name": "Ann", "metadata": {"k": "v"}}
    )
    assert isinstance(customer, stripe.Customer)
    assert customer.id.startswith("cus_")
    assert_shape(raw(customer), "customer")
    assert_shape(raw(client.v1.customers.retrieve(customer.id)), "customer")


def test_product_and_price_shape(client):
    product = client.v1.products.create(params={"name": "Pro"})
    assert product.id.startswith("prod_")
    assert_shape(raw(product), "product")
    price = client.v1.prices.create(
        params={
            "currency": "usd",
            "unit_amount": 1500,
            "product": product.id,
            "recurring": {"interval": "month", "interval_count": 1},
            "lookup_key": "pro_monthly",
        }
    )
    assert price.id.startswith("price_")
    assert isinstance(price, stripe.Price)
    assert_shape(raw(price), "price")
    expanded = client.v1.prices.retrieve(price.id, params={"expand": ["product"]})
    assert isinstance(expanded.product, stripe.Product)
    assert_shape(raw(expanded), "price")


def test_coupon_shape(client):
    coupon = client.v1.coupons.create(
        params={"id": "SAVE20", "percent_off": 20, "duration": "repeating", "duration_in_months": 3}
    )
    assert isinstance(coupon, stripe.Coupon)
    assert coupon.percent_off == 20.0
    assert_shape(raw(coupon), "coupon")


def test_subscription_item_discount_shapes(client):
    client.v1.coupons.create(params={"id": "TEN", "amount_off": 1000, "currency": "usd"})
    _, _, sub = make_subscription(client, discounts=[{"coupon": "TEN"}])
    assert isinstance(sub, stripe.Subscription)
    assert sub.id.startswith("sub_")
    assert_shape(raw(sub), "subscription", SUBSCRIPTION_EXTRA)
    item = sub["items"].data[0]
    assert isinstance(item, stripe.SubscriptionItem)
    assert item.id.startswith("si_")
    # The current API keeps billing periods on items, not on the subscription.
    assert item.current_period_end > item.current_period_start
    assert "current_period_end" not in raw(sub)
    assert_shape(raw(sub)["items"]["data"][0], "subscription_item")

    full = client.v1.subscriptions.retrieve(
        sub.id,
        params={
            "expand": [
                "customer",
                "items.data.price.product",
                "discounts",
                "discounts.source.coupon",
                "latest_invoice",
            ]
        },
    )
    assert isinstance(full.customer, stripe.Customer)
    assert isinstance(full["items"].data[0].price.product, stripe.Product)
    assert full.latest_invoice is None
    discount = full.discounts[0]
    assert isinstance(discount, stripe.Discount)
    assert discount.id.startswith("di_")
    assert discount.source.type == "coupon"
    assert isinstance(discount.source.coupon, stripe.Coupon)
    assert discount.source.coupon.id == "TEN"
    assert_shape(raw(full), "subscription", SUBSCRIPTION_EXTRA)
    assert_shape(raw(full)["discounts"][0], "discount")
    item_view = client.v1.subscription_items.retrieve(item.id)
    assert_shape(raw(item_view), "subscription_item")


def test_event_shapes(client, emu):
    _, _, sub = make_subscription(client)
    client.v1.subscriptions.update(sub.id, params={"metadata": {"a": "b"}})
    events = client.v1.events.list()
    assert {e.type for e in events.data} >= {
        "customer.created",
        "customer.subscription.created",
        "customer.subscription.updated",
    }
    for event in events.data:
        assert isinstance(event, stripe.Event)
        assert event.id.startswith("evt_")
    body = raw(events)
    for event in body["data"]:
        allowed = (
            EVENT_EXTRA
            if "previous_attributes" in event["data"]
            else frozenset({"data.object.status_details"})
        )
        assert_shape(event, "event", allowed)
        assert "account" not in event  # platform events carry no account
    updated = next(e for e in body["data"] if e["type"] == "customer.subscription.updated")
    assert updated["data"]["previous_attributes"] == {"metadata": {"a": None}}
    retrieved = client.v1.events.retrieve(updated["id"])
    assert retrieved.data.object.id == sub.id
    assert_shape(raw(retrieved), "event", EVENT_EXTRA)


def test_connected_event_has_account(client, emu):
    acct = emu.mint_oauth_code()["account"]
    client.v1.customers.create(options={"stripe_account": acct})
    event = client.v1.events.list(options={"stripe_account": acct}).data[0]
    assert event.account == acct
    assert_shape(
        raw(client.v1.events.retrieve(event.id, options={"stripe_account": acct})),
        "event",
        EVENT_EXTRA,
    )


def test_account_and_webhook_endpoint_shapes(client):
    account = client.v1.accounts.retrieve_current()
    assert isinstance(account, stripe.Account)
    assert account.id.startswith("acct_")
    assert_shape(raw(account), "account")
    endpoint = client.v1.webhook_endpoints.create(
        params={"url": "http://127.0.0.1:9/hook", "enabled_events": ["*"]}
    )
    assert endpoint.secret.startswith("whsec_")
    assert_shape(raw(endpoint), "webhook_endpoint", frozenset({"secret"}))
    again = client.v1.webhook_endpoints.retrieve(endpoint.id)
    assert "secret" not in raw(again)
    assert_shape(raw(again), "webhook_endpoint")


def test_lists_and_search_results(client):
    customer, price, sub = make_subscription(client)
    listing = client.v1.subscriptions.list(params={"expand": ["data.customer"]})
    assert isinstance(listing, stripe.ListObject)
    assert raw(listing)["object"] == "list"
    assert isinstance(listing.data[0].customer, stripe.Customer)
    found = client.v1.customers.search(params={"query": "email:'jenny@example.com'"})
    assert isinstance(found, stripe.SearchResultObject)
    assert [c.id for c in found.data] == [customer.id]
    assert set(raw(found)) == {"object", "data", "has_more", "next_page", "url"}


def test_shape_check_passes_without_shared_fixtures(client, monkeypatch, tmp_path):
    # A user's clone has no ../shared: only the stripe-python annotation check runs then.
    _, _, sub = make_subscription(client)
    monkeypatch.setattr(helpers, "FIXTURES3", tmp_path / "absent.json")
    helpers.fixture_resources.cache_clear()
    try:
        assert fixture_resources() is None
        assert_shape(raw(sub), "subscription", SUBSCRIPTION_EXTRA)
        assert_shape(raw(client.v1.events.list())["data"][0], "event", EVENT_EXTRA)
    finally:
        helpers.fixture_resources.cache_clear()
