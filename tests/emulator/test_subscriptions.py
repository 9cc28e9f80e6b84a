"""Subscription create/update/cancel/list behave as Stripe's do."""

from __future__ import annotations

import pytest
import stripe

from .helpers import make_price, make_subscription, raw


def _sub_record(emu, sub_id: str) -> dict:
    state = emu.state()
    return state["namespaces"]["platform:test"]["tables"]["subscriptions"][sub_id]


def _last_event(client, type_: str):
    return client.v1.events.list(params={"type": type_, "limit": 1}).data[0]


def test_create_active_and_trialing(client, emu):
    customer, price, sub = make_subscription(client, metadata={"plan": "pro"})
    assert sub.status == "active"
    assert sub.customer == customer.id
    assert sub.metadata["plan"] == "pro"
    assert sub.trial_end is None
    item = sub["items"].data[0]
    assert item.price.id == price.id
    assert item.quantity == 1
    assert item.current_period_start == sub.start_date == sub.billing_cycle_anchor

    trial = client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": price.id}], "trial_period_days": 7}
    )
    assert trial.status == "trialing"
    assert trial.trial_end - trial.trial_start == 7 * 86400
    assert trial["items"].data[0].current_period_end == trial.trial_end

    until = emu.now() + 3 * 86400
    explicit = client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": price.id}], "trial_end": until}
    )
    assert explicit.status == "trialing"
    assert explicit.trial_end == until
    no_trial = client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": price.id}], "trial_end": "now"}
    )
    assert no_trial.status == "active"
    event = _last_event(client, "customer.subscription.created")
    assert event.data.object.id == no_trial.id


def test_create_requires_known_customer_and_price(client):
    price = make_price(client)
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.subscriptions.create(
            params={"customer": "cus_missing", "items": [{"price": price.id}]}
        )
    assert exc.value.http_status == 404
    assert exc.value.code == "resource_missing"
    assert exc.value.param == "customer"
    customer = client.v1.customers.create()
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.subscriptions.create(params={"customer": customer.id})
    assert exc.value.code == "parameter_missing"
    assert exc.value.param == "items"
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.subscriptions.create(
            params={"customer": customer.id, "items": [{"price": "price_nope"}]}
        )
    assert exc.value.param == "items[0][price]"


def test_pause_collection_set_and_clear(client):
    _, _, sub = make_subscription(client)
    paused = client.v1.subscriptions.update(
        sub.id, params={"pause_collection": {"behavior": "void"}}
    )
    assert paused.status == "active"  # pausing collection does not change the status
    assert paused.pause_collection.behavior == "void"
    assert paused.pause_collection.resumes_at is None
    event = _last_event(client, "customer.subscription.updated")
    assert event.data.previous_attributes.pause_collection is None

    resumes = paused["items"].data[0].current_period_end + 86400
    rescheduled = client.v1.subscriptions.update(
        sub.id,
        params={"pause_collection": {"behavior": "keep_as_draft", "resumes_at": resumes}},
    )
    assert rescheduled.pause_collection.to_dict() == {
        "behavior": "keep_as_draft",
        "resumes_at": resumes,
    }
    cleared = client.v1.subscriptions.update(sub.id, params={"pause_collection": ""})
    assert cleared.pause_collection is None
    assert raw(cleared)["pause_collection"] is None
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.subscriptions.update(sub.id, params={"pause_collection": {"behavior": "nap"}})
    assert exc.value.param == "pause_collection[behavior]"


def test_discount_apply_and_clear(client):
    client.v1.coupons.create(
        params={"id": "HALF", "percent_off": 50, "duration": "repeating", "duration_in_months": 2}
    )
    _, _, sub = make_subscription(client)
    assert sub.discounts == []
    applied = client.v1.subscriptions.update(
        sub.id, params={"discounts": [{"coupon": "HALF"}], "expand": ["discounts"]}
    )
    discount = applied.discounts[0]
    assert discount.source.coupon == "HALF"
    assert discount.subscription == sub.id
    assert discount.customer == sub.customer
    assert discount.end > discount.start
    assert client.v1.coupons.retrieve("HALF").times_redeemed == 1
    # Re-sending the same coupon keeps the same discount.
    again = client.v1.subscriptions.update(sub.id, params={"discounts": [{"coupon": "HALF"}]})
    assert again.discounts == [discount.id]
    assert client.v1.coupons.retrieve("HALF").times_redeemed == 1

    cleared = client.v1.subscriptions.update(sub.id, params={"discounts": ""})
    assert cleared.discounts == []
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.subscriptions.update(sub.id, params={"discounts": [{"coupon": "NOPE"}]})
    assert exc.value.code == "resource_missing"
    assert exc.value.param == "discounts[0][coupon]"


def test_price_swap_keeps_item_id_and_records_proration(client, emu):
    _, price, sub = make_subscription(client)
    item_id = sub["items"].data[0].id
    bigger = make_price(client, amount=5000)
    swapped = client.v1.subscriptions.update(
        sub.id,
        params={
            "items": [{"id": item_id, "price": bigger.id}],
            "proration_behavior": "always_invoice",
        },
    )
    assert [i.id for i in swapped["items"].data] == [item_id]
    assert swapped["items"].data[0].price.id == bigger.id
    assert _sub_record(emu, sub.id)["_proration_behavior"] == "always_invoice"
    logged = emu.requests(method="POST", path=f"/v1/subscriptions/{sub.id}")[-1]
    assert logged["params"]["proration_behavior"] == "always_invoice"
    event = _last_event(client, "customer.subscription.updated")
    assert event.data.previous_attributes["items"].data[0].price.id == price.id

    client.v1.subscriptions.update(
        sub.id, params={"items": [{"id": item_id, "quantity": 3}], "proration_behavior": "none"}
    )
    assert _sub_record(emu, sub.id)["_proration_behavior"] == "none"
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.subscriptions.update(
            sub.id, params={"items": [{"id": "si_missing", "price": bigger.id}]}
        )
    assert exc.value.param == "items[0][id]"


def test_trial_extend_and_end_now(client):
    _, _, sub = make_subscription(client, trial_period_days=3)
    later = sub.trial_end + 10 * 86400
    extended = client.v1.subscriptions.update(sub.id, params={"trial_end": later})
    assert extended.status == "trialing"
    assert extended.trial_end == later
    assert extended["items"].data[0].current_period_end == later
    ended = client.v1.subscriptions.update(sub.id, params={"trial_end": "now"})
    assert ended.status == "active"
    assert ended.trial_end <= ended["items"].data[0].current_period_start + 1
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.subscriptions.update(sub.id, params={"trial_end": 1000})
    assert exc.value.param == "trial_end"


def test_cancel_at_period_end_and_undo(client):
    _, _, sub = make_subscription(client)
    period_end = sub["items"].data[0].current_period_end
    scheduled = client.v1.subscriptions.update(
        sub.id,
        params={
            "cancel_at_period_end": True,
            "cancellation_details": {"feedback": "too_expensive", "comment": "pricey"},
        },
    )
    assert scheduled.status == "active"
    assert scheduled.cancel_at_period_end is True
    assert scheduled.cancel_at == period_end
    assert scheduled.canceled_at is not None
    assert scheduled.cancellation_details.to_dict() == {
        "comment": "pricey",
        "feedback": "too_expensive",
        "reason": "cancellation_requested",
    }
    undone = client.v1.subscriptions.update(sub.id, params={"cancel_at_period_end": False})
    assert undone.cancel_at_period_end is False
    assert undone.cancel_at is None
    assert undone.canceled_at is None

    at = period_end - 3600
    dated = client.v1.subscriptions.update(sub.id, params={"cancel_at": at})
    assert dated.cancel_at == at
    assert client.v1.subscriptions.update(sub.id, params={"cancel_at": ""}).cancel_at is None
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.subscriptions.update(
            sub.id, params={"cancellation_details": {"feedback": "bored"}}
        )
    assert exc.value.param == "cancellation_details[feedback]"
    assert exc.value.http_status == 400


def test_cancel_now_with_details(client):
    _, _, sub = make_subscription(client)
    canceled = client.v1.subscriptions.cancel(
        sub.id,
        params={
            "cancellation_details": {"feedback": "switched_service", "comment": "moved"},
            "prorate": True,
            "invoice_now": False,
        },
    )
    assert canceled.status == "canceled"
    assert canceled.canceled_at == canceled.ended_at
    assert canceled.cancellation_details.feedback == "switched_service"
    assert canceled.cancellation_details.comment == "moved"
    assert canceled.cancellation_details.reason == "cancellation_requested"
    event = _last_event(client, "customer.subscription.deleted")
    assert event.data.object.id == sub.id
    assert event.data.object.status == "canceled"
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.subscriptions.cancel(sub.id)
    assert exc.value.code == "resource_missing"
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.subscriptions.update(sub.id, params={"pause_collection": {"behavior": "void"}})
    assert exc.value.http_status == 400
    assert "canceled subscription" in str(exc.value.user_message)
    # Metadata and cancellation_details stay editable after cancellation.
    note = client.v1.subscriptions.update(sub.id, params={"metadata": {"note": "x"}})
    assert note.metadata["note"] == "x"


def test_metadata_merge_and_delete(client):
    _, _, sub = make_subscription(client, metadata={"a": "1", "b": "2"})
    merged = client.v1.subscriptions.update(sub.id, params={"metadata": {"b": "", "c": "3"}})
    assert merged.metadata.to_dict() == {"a": "1", "c": "3"}
    event = _last_event(client, "customer.subscription.updated")
    assert event.data.previous_attributes.metadata.to_dict() == {"b": "2", "c": None}
    cleared = client.v1.subscriptions.update(sub.id, params={"metadata": ""})
    assert cleared.metadata.to_dict() == {}


def test_noop_update_emits_no_event(client):
    _, _, sub = make_subscription(client, metadata={"a": "1"})
    before = len(client.v1.events.list(params={"limit": 100}).data)
    client.v1.subscriptions.update(sub.id, params={"metadata": {"a": "1"}})
    assert len(client.v1.events.list(params={"limit": 100}).data) == before


def test_list_filters_and_pagination(client):
    customer, price, first = make_subscription(client)
    other_price = make_price(client, amount=9900)
    second = client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": other_price.id}]}
    )
    third = client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": price.id}], "trial_period_days": 5}
    )
    client.v1.subscriptions.cancel(first.id)

    def ids(**params):
        return [s.id for s in client.v1.subscriptions.list(params=params).data]

    assert ids() == [third.id, second.id]  # newest first; canceled excluded by default
    assert ids(status="all") == [third.id, second.id, first.id]
    assert ids(status="canceled") == [first.id]
    assert ids(status="trialing") == [third.id]
    assert ids(price=price.id, status="all") == [third.id, first.id]
    assert ids(customer="cus_other") == []
    page = client.v1.subscriptions.list(params={"limit": 1, "status": "all"})
    assert page.has_more is True
    rest = client.v1.subscriptions.list(
        params={"limit": 2, "status": "all", "starting_after": page.data[0].id}
    )
    assert [s.id for s in rest.data] == [second.id, first.id]
    assert rest.has_more is False
    everything = [
        s.id for s in client.v1.subscriptions.list(params={"limit": 1}).auto_paging_iter()
    ]
    assert everything == [third.id, second.id]


def test_customers_products_prices_coupons(client):
    customer = client.v1.customers.create(params={"email": "x@y.com", "name": "X"})
    client.v1.customers.create(params={"email": "other@y.com"})
    updated = client.v1.customers.update(
        customer.id, params={"name": "Y", "metadata": {"tier": "gold"}}
    )
    assert updated.name == "Y"
    assert updated.metadata["tier"] == "gold"
    event = _last_event(client, "customer.updated")
    assert event.data.previous_attributes.name == "X"
    listed = client.v1.customers.list(params={"email": "x@y.com"})
    assert [c.id for c in listed.data] == [customer.id]
    found = client.v1.customers.search(params={"query": "email:'X@Y.com' AND name:'Y'"})
    assert [c.id for c in found.data] == [customer.id]
    found = client.v1.customers.search(params={"query": "metadata['tier']:'gold'"})
    assert [c.id for c in found.data] == [customer.id]
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.customers.search(params={"query": "email:'a' AND name:'b' OR name:'c'"})

    product = client.v1.products.create(params={"name": "Team"})
    monthly = client.v1.prices.create(
        params={
            "currency": "eur",
            "unit_amount": 900,
            "product": product.id,
            "recurring": {"interval": "month"},
            "lookup_key": "team_monthly",
        }
    )
    yearly = client.v1.prices.create(
        params={
            "currency": "eur",
            "unit_amount": 9000,
            "product": product.id,
            "recurring": {"interval": "year"},
            "active": False,
        }
    )
    assert client.v1.products.retrieve(product.id).name == "Team"
    assert [p.id for p in client.v1.products.list().data] == [product.id]
    by_product = client.v1.prices.list(params={"product": product.id})
    assert [p.id for p in by_product.data] == [yearly.id, monthly.id]
    active = client.v1.prices.list(params={"product": product.id, "active": True})
    assert [p.id for p in active.data] == [monthly.id]
    by_key = client.v1.prices.list(params={"lookup_keys": ["team_monthly"]})
    assert [p.id for p in by_key.data] == [monthly.id]
    assert client.v1.prices.retrieve(monthly.id).recurring.interval == "month"

    coupon = client.v1.coupons.create(
        params={"amount_off": 500, "currency": "usd", "duration": "once", "name": "Five off"}
    )
    assert coupon.amount_off == 500
    assert _last_event(client, "coupon.created").data.object.id == coupon.id
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.coupons.create(params={"id": coupon.id, "percent_off": 10})
    assert exc.value.code == "resource_already_exists"
    assert exc.value.http_status == 400
    deleted = client.v1.coupons.delete(coupon.id)
    assert deleted.deleted is True
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.coupons.retrieve(coupon.id)
    assert exc.value.http_status == 404

    removed = client.v1.customers.delete(customer.id)
    assert removed.deleted is True
    assert client.v1.customers.retrieve(customer.id).deleted is True
