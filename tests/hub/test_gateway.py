"""The gateway's reads and writes for the hub, against the emulator."""

from __future__ import annotations

import pytest

from billing.gateway import StripeGateway, StripeGatewayError

from .conftest import (
    MERCHANT_KEY,
    SEED_KEY,
    pause,
    schedule_cancel,
    seed_customer,
    stripe_subscription,
)


@pytest.fixture
def gw(emulator) -> StripeGateway:  # type: ignore[no-untyped-def]
    return StripeGateway(api_key=MERCHANT_KEY, livemode=False)


def _updates(emulator, subscription_id: str) -> list[dict]:  # type: ignore[no-untyped-def]
    return [
        r
        for r in emulator.requests(method="POST", path=f"/v1/subscriptions/{subscription_id}")
        if r["status"] == 200 and not r["replayed"]
    ]


def test_customers_with_an_email_newest_first(emulator, gw):
    first = seed_customer(emulator).customer_id
    second = emulator.client(SEED_KEY).v1.customers.create({"email": "subscriber@example.com"})
    assert gw.customers_with_email("subscriber@example.com") == [second.id, first]
    assert gw.customers_with_email("nobody@example.com") == []


def test_overviews_list_live_subscriptions_with_their_coupons(emulator, gw):
    customer = seed_customer(emulator)
    stripe = emulator.client(SEED_KEY)
    stripe.v1.coupons.create(
        {"id": "HALF", "name": "Half off", "percent_off": 50, "duration": "repeating",
         "duration_in_months": 2}
    )  # fmt: skip
    stripe.v1.subscriptions.update(
        customer.pro_subscription_id, {"discounts": [{"coupon": "HALF"}]}
    )
    overviews = {o.subscription.id: o for o in gw.subscription_overviews_for_customer(
        customer.customer_id
    )}  # fmt: skip
    assert set(overviews) == {customer.pro_subscription_id, customer.addon_subscription_id}
    pro = overviews[customer.pro_subscription_id]
    assert pro.subscription.product_name == "Pro Plan"
    [discount] = pro.discounts
    assert (discount.coupon_id, discount.name, discount.percent_off) == ("HALF", "Half off", 50)
    assert discount.duration == "repeating" and discount.ends_at is not None
    assert overviews[customer.addon_subscription_id].discounts == ()


def test_invoice_preview_of_the_next_renewal_and_of_a_change(emulator, gw):
    customer = seed_customer(emulator)
    plain = gw.invoice_preview(customer.pro_subscription_id)
    assert plain is not None and (plain.amount_due, plain.proration_amount) == (2900, 0)
    change = gw.invoice_preview(
        customer.pro_subscription_id,
        new_price_id=customer.seeded.basic_price_id,
        proration_behavior="none",
    )
    assert change is not None and change.amount_due == 1900
    schedule_cancel(emulator, customer.addon_subscription_id)
    assert gw.invoice_preview(customer.addon_subscription_id) is None


def test_reactivate_undoes_a_scheduled_cancellation_once(emulator, gw):
    customer = seed_customer(emulator)
    sub = customer.pro_subscription_id
    schedule_cancel(emulator, sub)
    details = gw.reactivate(sub, idempotency_key="hub_1:reactivate:" + sub)
    assert details["cancel_at_period_end"] is False and details["current_period_end"]
    raw = stripe_subscription(emulator, sub)
    assert raw["cancel_at_period_end"] is False and raw["cancel_at"] is None
    assert raw["metadata"]["mrrx_action"] == "hub_1:reactivate:" + sub
    # Again (a retried task): nothing left to undo, nothing sent.
    assert gw.reactivate(sub, idempotency_key="hub_1:reactivate:" + sub) == details
    assert len(_updates(emulator, sub)) == 2  # the scheduling above, and one undo


def test_reactivate_clears_a_cancellation_on_a_date_of_its_own(emulator, gw):
    customer = seed_customer(emulator)
    sub = customer.pro_subscription_id
    emulator.client(SEED_KEY).v1.subscriptions.update(sub, {"cancel_at": emulator.now() + 86400})
    gw.reactivate(sub, idempotency_key="hub_1:reactivate")
    assert stripe_subscription(emulator, sub)["cancel_at"] is None


def test_an_ended_subscription_cannot_be_reactivated(emulator, gw):
    customer = seed_customer(emulator)
    emulator.client(SEED_KEY).v1.subscriptions.cancel(customer.pro_subscription_id)
    with pytest.raises(StripeGatewayError) as raised:
        gw.reactivate(customer.pro_subscription_id, idempotency_key="k")
    assert (raised.value.code, raised.value.transient) == ("action_not_available", False)


def test_price_change_prorates_as_of_the_preview_and_is_done_once(emulator, gw):
    customer = seed_customer(emulator)
    sub, basic = customer.pro_subscription_id, customer.seeded.basic_price_id
    at = emulator.now() - 5
    args = {
        "new_price_id": basic,
        "proration_behavior": "create_prorations",
        "proration_date": at,
        "idempotency_key": f"hub_1:change_plan:{sub}:{basic}",
    }
    first = gw.price_change(sub, **args)
    assert first == {
        "previous_price_id": customer.seeded.pro_price_id,
        "new_price_id": basic,
        "new_amount": 1900,
        "currency": "usd",
        "interval": "month",
        "interval_count": 1,
        "proration_behavior": "create_prorations",
    }
    assert gw.price_change(sub, **args) == first
    [update] = _updates(emulator, sub)
    assert update["params"]["proration_date"] == str(at)
    assert update["idempotency_key"] == f"hub_1:change_plan:{sub}:{basic}:update"


def test_resume_clears_the_pause(emulator, gw):
    customer = seed_customer(emulator)
    pause(emulator, customer.addon_subscription_id)
    assert gw.resume(customer.addon_subscription_id, idempotency_key="hub_1:resume").paused is False
