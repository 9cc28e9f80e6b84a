"""The gateway against real Stripe (test mode), to keep the emulator honest.

Runs only when STRIPE_TEST_SECRET_KEY (an sk_test_ key of a Stripe account you do not
mind filling with test objects) is set; every object made here is named "mrrx-contract".
"""

from __future__ import annotations

import os
import secrets
from datetime import UTC, datetime

import pytest

from billing.gateway import StripeGateway, StripeGatewayError

KEY = os.environ.get("STRIPE_TEST_SECRET_KEY", "")

pytestmark = pytest.mark.skipif(
    not KEY, reason="STRIPE_TEST_SECRET_KEY is not set (contract tests run against real Stripe)"
)


@pytest.fixture
def real(settings) -> StripeGateway:  # type: ignore[no-untyped-def]
    settings.STRIPE_API_BASE = ""  # Stripe's real hosts
    settings.STRIPE_CONNECT_BASE = ""
    assert KEY.startswith(("sk_test_", "rk_test_")), "contract tests only run in test mode"
    return StripeGateway(api_key=KEY, livemode=False)


@pytest.fixture
def catalog(real):  # type: ignore[no-untyped-def]
    run = secrets.token_hex(4)
    product = real.product_create(name=f"mrrx-contract {run}", idempotency_key=f"{run}:product")
    pro = real.price_create(
        product_id=product,
        amount=2900,
        currency="usd",
        interval="month",
        idempotency_key=f"{run}:pro",
    )
    basic = real.price_create(
        product_id=product,
        amount=1900,
        currency="usd",
        interval="month",
        idempotency_key=f"{run}:basic",
    )
    customer = real.customer_create(
        email=f"mrrx-contract+{run}@example.com", idempotency_key=f"{run}:customer"
    )
    return {"run": run, "pro": pro, "basic": basic, "customer": customer}


def trialing(real, catalog):  # type: ignore[no-untyped-def]
    # A trial needs no payment method, so no card is involved.
    return real.subscription_create(
        customer_id=catalog["customer"],
        price_id=catalog["pro"].id,
        trial_days=7,
        idempotency_key=f"{catalog['run']}:sub:{secrets.token_hex(4)}",
    )


def test_read_and_every_action_against_real_stripe(real, catalog):
    sub = trialing(real, catalog)
    assert (sub.status, sub.amount, sub.price_id) == ("trialing", 2900, catalog["pro"].id)
    assert sub.current_period_end is not None
    assert (
        real.customer_find_by_email(f"mrrx-contract+{catalog['run']}@example.com")
        == (catalog["customer"])
    )
    assert [s.id for s in real.subscriptions_live_for_customer(catalog["customer"])] == [sub.id]
    key = f"mrrx-contract-{catalog['run']}"

    pause = real.pause(sub.id, days=30, idempotency_key=f"{key}:pause")
    assert pause["pause_duration_days"] == 30
    assert real.pause(sub.id, days=30, idempotency_key=f"{key}:pause") == pause
    assert real.resume(sub.id, idempotency_key=f"{key}:resume").paused is False

    discount = real.discount_apply(
        sub.id, idempotency_key=f"{key}:discount", percent_off=25, duration_months=3
    )
    assert discount == {
        "discount_type": "percent",
        "discount_amount": 25,
        "duration_months": 3,
        "coupon_id": "mrrx_25pct_3m",
    }

    swap = real.price_swap(
        sub.id,
        new_price_id=catalog["basic"].id,
        proration_behavior="none",
        idempotency_key=f"{key}:downgrade",
    )
    assert swap == {
        "previous_price_id": catalog["pro"].id,
        "new_price_id": catalog["basic"].id,
        "new_amount": 1900,
    }

    trial = real.trial_extend(sub.id, days=14, idempotency_key=f"{key}:extend_trial")
    assert trial["extension_days"] == 14

    later = real.cancel(
        sub.id,
        at_period_end=True,
        feedback="too_expensive",
        comment="contract",
        idempotency_key=f"{key}:cancel_later",
    )
    assert later["cancel_at_period_end"] is True
    now = real.cancel(
        sub.id,
        at_period_end=False,
        feedback="too_expensive",
        comment="contract",
        idempotency_key=f"{key}:cancel",
    )
    assert now["cancel_at_period_end"] is False
    assert datetime.strptime(now["canceled_at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def test_errors_against_real_stripe(real):
    with pytest.raises(StripeGatewayError) as raised:
        real.subscription_get("sub_mrrx_contract_missing")
    assert (raised.value.code, raised.value.transient) == ("subscription_not_found", False)

    with pytest.raises(StripeGatewayError) as raised:
        StripeGateway(api_key="sk_test_mrrx_not_a_key", livemode=False).check()
    assert (raised.value.code, raised.value.transient, raised.value.http_status) == (
        "stripe_error",
        False,
        401,
    )
