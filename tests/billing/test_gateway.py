"""The gateway against the Stripe emulator running as a real process."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import stripe

from billing.gateway import (
    CANCELLATION_FEEDBACK,
    STRIPE_API_VERSION,
    Price,
    StripeGateway,
    StripeGatewayError,
    StripeNotConnected,
    Subscription,
    gateway_for,
)
from billing.models import StripeConnection

from .conftest import MERCHANT_KEY, SEED_KEY, clear_requests, seed, stripe_subscription


def midnight_in(days: int) -> datetime:
    now = datetime.now(UTC)
    return datetime(now.year, now.month, now.day, tzinfo=UTC) + timedelta(days=days)


def updates(emulator, subscription_id: str) -> list[dict]:
    return [
        r
        for r in emulator.requests(method="POST", path=f"/v1/subscriptions/{subscription_id}")
        if r["status"] == 200
    ]


def test_pinned_api_version_is_the_one_stripe_python_is_typed_for():
    # Upgrading stripe-python must be a deliberate bump of the pinned version.
    assert stripe.api_version == STRIPE_API_VERSION


def test_subscription_get_returns_our_dataclass_in_one_request(emulator, gw):
    s = seed(emulator)
    clear_requests(emulator)

    sub = gw.subscription_get(s.subscription_id)

    assert isinstance(sub, Subscription)
    assert sub.id == s.subscription_id
    assert sub.customer_id == s.customer_id
    assert sub.customer_email == "subscriber@example.com"
    assert sub.status == "active"
    assert sub.item_id == s.item_id
    assert (sub.price_id, sub.product_id, sub.product_name) == (
        s.pro_price_id,
        s.product_id,
        "Pro Plan",
    )
    assert (sub.amount, sub.currency, sub.interval, sub.interval_count) == (2900, "usd", "month", 1)
    log = emulator.requests()
    assert [(r["method"], r["path"]) for r in log] == [
        ("GET", f"/v1/subscriptions/{s.subscription_id}")
    ]
    raw = stripe_subscription(emulator, s.subscription_id)
    period_end = raw["items"]["data"][0]["current_period_end"]
    assert sub.current_period_end == datetime.fromtimestamp(period_end, UTC)
    assert sub.trial_end is None
    assert sub.discount_coupon_ids == ()
    assert (sub.paused, sub.cancel_at_period_end, sub.canceled_at, sub.livemode) == (
        False,
        False,
        None,
        False,
    )


def test_pause_voids_collection_until_midnight_and_reports_what_stripe_holds(emulator, gw):
    s = seed(emulator)

    details = gw.pause(s.subscription_id, days=30, idempotency_key="ses_1:pause")

    resume = midnight_in(30)
    assert details == {
        "pause_duration_days": 30,
        "resume_date": resume.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "pause_method": "pause_collection",
        "pause_behavior": "void",
    }
    raw = stripe_subscription(emulator, s.subscription_id)
    assert raw["pause_collection"] == {
        "behavior": "void",
        "resumes_at": int(resume.timestamp()),
    }
    assert gw.subscription_get(s.subscription_id).paused is True


def test_pause_twice_with_the_same_key_acts_once(emulator, gw):
    s = seed(emulator)

    first = gw.pause(s.subscription_id, days=30, idempotency_key="ses_1:pause")
    second = gw.pause(s.subscription_id, days=30, idempotency_key="ses_1:pause")

    assert first == second
    assert len(updates(emulator, s.subscription_id)) == 1
    assert [r["idempotency_key"] for r in updates(emulator, s.subscription_id)] == [
        "ses_1:pause:update"
    ]


def test_resume_clears_the_pause(emulator, gw):
    s = seed(emulator)
    gw.pause(s.subscription_id, days=30, idempotency_key="ses_1:pause")

    sub = gw.resume(s.subscription_id, idempotency_key="ses_2:resume")

    assert sub.paused is False
    assert stripe_subscription(emulator, s.subscription_id)["pause_collection"] is None


def test_discount_creates_a_deterministic_coupon_once_and_applies_it(emulator, gw):
    s = seed(emulator)

    details = gw.discount_apply(
        s.subscription_id, idempotency_key="ses_1:discount", percent_off=25, duration_months=3
    )

    assert details == {
        "discount_type": "percent",
        "discount_amount": 25,
        "duration_months": 3,
        "coupon_id": "mrrx_25pct_3m",
        "discount_policy": "skip_if_discounted",
        "other_coupon_ids": [],
        "replaced_coupon_ids": [],
    }
    coupon = emulator.client(SEED_KEY).v1.coupons.retrieve("mrrx_25pct_3m")
    assert (coupon.percent_off, coupon.duration, coupon.duration_in_months) == (25, "repeating", 3)
    raw = stripe_subscription(emulator, s.subscription_id)
    assert [d["source"]["coupon"] for d in raw["discounts"]] == ["mrrx_25pct_3m"]
    assert gw.subscription_get(s.subscription_id).discount_coupon_ids == ("mrrx_25pct_3m",)


def test_discount_twice_with_the_same_key_acts_once(emulator, gw):
    s = seed(emulator)
    args = {"idempotency_key": "ses_1:discount", "percent_off": 25, "duration_months": 3}

    first = gw.discount_apply(s.subscription_id, **args)
    second = gw.discount_apply(s.subscription_id, **args)

    assert first == second
    assert len(updates(emulator, s.subscription_id)) == 1
    assert len([r for r in emulator.requests(method="POST", path="/v1/coupons")]) == 1
    assert len(stripe_subscription(emulator, s.subscription_id)["discounts"]) == 1


def test_the_offer_coupon_is_shared_by_later_sessions(emulator, gw):
    first, second = seed(emulator), seed(emulator, email="other@example.com")
    gw.discount_apply(
        first.subscription_id, idempotency_key="ses_1:discount", percent_off=25, duration_months=3
    )

    details = gw.discount_apply(
        second.subscription_id, idempotency_key="ses_2:discount", percent_off=25, duration_months=3
    )

    assert details["coupon_id"] == "mrrx_25pct_3m"
    assert len(emulator.requests(method="POST", path="/v1/coupons")) == 1


def test_discount_with_a_configured_amount_coupon_stacks_on_an_existing_discount(emulator, gw):
    s = seed(emulator)
    client = emulator.client(SEED_KEY)
    client.v1.coupons.create({"id": "WELCOME", "percent_off": 10, "duration": "forever"})
    client.v1.coupons.create(
        {"id": "SAVE5", "amount_off": 500, "currency": "usd", "duration": "once"}
    )
    client.v1.subscriptions.update(s.subscription_id, {"discounts": [{"coupon": "WELCOME"}]})

    details = gw.discount_apply(
        s.subscription_id, idempotency_key="ses_1:discount", coupon_id="SAVE5", policy="stack"
    )

    assert details == {
        "discount_type": "amount",
        "discount_amount": 500,
        "duration_months": 1,
        "coupon_id": "SAVE5",
        "discount_policy": "stack",
        "other_coupon_ids": ["WELCOME"],
        "replaced_coupon_ids": [],
    }
    raw = stripe_subscription(emulator, s.subscription_id)
    assert sorted(d["source"]["coupon"] for d in raw["discounts"]) == ["SAVE5", "WELCOME"]


def test_discount_with_a_missing_configured_coupon_is_a_permanent_stripe_error(emulator, gw):
    s = seed(emulator)

    with pytest.raises(StripeGatewayError) as raised:
        gw.discount_apply(s.subscription_id, idempotency_key="k", coupon_id="NOPE")

    assert (raised.value.code, raised.value.transient) == ("stripe_error", False)
    assert stripe_subscription(emulator, s.subscription_id)["discounts"] == []


def test_price_swap_keeps_the_item_and_records_the_proration_choice(emulator, gw):
    s = seed(emulator)

    details = gw.price_swap(
        s.subscription_id,
        new_price_id=s.basic_price_id,
        proration_behavior="none",
        idempotency_key="ses_1:downgrade",
    )

    assert details == {
        "previous_price_id": s.pro_price_id,
        "new_price_id": s.basic_price_id,
        "new_amount": 1900,
    }
    raw = stripe_subscription(emulator, s.subscription_id)
    assert [(i["id"], i["price"]["id"]) for i in raw["items"]["data"]] == [
        (s.item_id, s.basic_price_id)
    ]
    update = updates(emulator, s.subscription_id)[0]
    assert update["params"]["proration_behavior"] == "none"


def test_price_swap_retried_after_success_reports_the_original_price(emulator, gw):
    s = seed(emulator)
    args = {
        "new_price_id": s.basic_price_id,
        "proration_behavior": "create_prorations",
        "idempotency_key": "ses_1:downgrade",
    }

    first = gw.price_swap(s.subscription_id, **args)
    second = gw.price_swap(s.subscription_id, **args)

    assert first == second
    assert second["previous_price_id"] == s.pro_price_id
    assert len(updates(emulator, s.subscription_id)) == 1


def test_trial_extension_moves_trial_end_without_proration(emulator, gw):
    s = seed(emulator, trial_days=7)
    original = stripe_subscription(emulator, s.subscription_id)["trial_end"]

    details = gw.trial_extend(s.subscription_id, days=14, idempotency_key="ses_1:extend_trial")

    new_end = original + 14 * 86400
    assert details == {
        "extension_days": 14,
        "new_trial_end": datetime.fromtimestamp(new_end, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "original_trial_end": datetime.fromtimestamp(original, UTC).strftime(
            "%Y-%m-%dT%H:%M:%S.000Z"
        ),
    }
    raw = stripe_subscription(emulator, s.subscription_id)
    assert (raw["status"], raw["trial_end"]) == ("trialing", new_end)
    assert updates(emulator, s.subscription_id)[0]["params"]["proration_behavior"] == "none"


def test_trial_extension_twice_with_the_same_key_extends_once(emulator, gw):
    s = seed(emulator, trial_days=7)
    original = stripe_subscription(emulator, s.subscription_id)["trial_end"]

    first = gw.trial_extend(s.subscription_id, days=14, idempotency_key="ses_1:extend_trial")
    second = gw.trial_extend(s.subscription_id, days=14, idempotency_key="ses_1:extend_trial")

    assert first == second
    assert stripe_subscription(emulator, s.subscription_id)["trial_end"] == original + 14 * 86400


def test_trial_extension_of_an_active_subscription_is_refused_and_changes_nothing(emulator, gw):
    s = seed(emulator)

    with pytest.raises(StripeGatewayError) as raised:
        gw.trial_extend(s.subscription_id, days=14, idempotency_key="k")

    assert (raised.value.code, raised.value.transient) == ("action_not_available", False)
    assert updates(emulator, s.subscription_id) == []


def test_cancel_at_period_end_tells_stripe_why(emulator, gw):
    s = seed(emulator)

    details = gw.cancel(
        s.subscription_id,
        at_period_end=True,
        feedback="not_using_enough",
        comment="Taking a break",
        idempotency_key="ses_1:cancel",
    )

    raw = stripe_subscription(emulator, s.subscription_id)
    assert raw["status"] == "active"
    assert raw["cancel_at_period_end"] is True
    assert raw["cancellation_details"]["feedback"] == "unused"
    assert raw["cancellation_details"]["comment"] == "Taking a break"
    assert details == {
        "canceled_at": datetime.fromtimestamp(raw["canceled_at"], UTC).strftime(
            "%Y-%m-%dT%H:%M:%S.000Z"
        ),
        "cancel_at_period_end": True,
    }


def test_cancel_now_ends_the_subscription_once(emulator, gw):
    s = seed(emulator)
    args = {
        "at_period_end": False,
        "feedback": "switching_competitor",
        "comment": None,
        "idempotency_key": "ses_1:cancel",
    }

    first = gw.cancel(s.subscription_id, **args)
    second = gw.cancel(s.subscription_id, **args)

    raw = stripe_subscription(emulator, s.subscription_id)
    assert raw["status"] == "canceled"
    assert raw["cancellation_details"]["feedback"] == "switched_service"
    assert first == second
    assert first["cancel_at_period_end"] is False
    assert first["canceled_at"] == datetime.fromtimestamp(raw["canceled_at"], UTC).strftime(
        "%Y-%m-%dT%H:%M:%S.000Z"
    )
    assert len(emulator.requests(method="DELETE")) == 1


@pytest.mark.parametrize(
    ("reason", "feedback"),
    [*CANCELLATION_FEEDBACK.items(), ("unused", "unused"), ("something_else", "other")],
)
def test_every_reason_maps_to_a_feedback_stripe_accepts(emulator, gw, reason, feedback):
    s = seed(emulator)

    gw.cancel(
        s.subscription_id,
        at_period_end=True,
        feedback=reason,
        comment=None,
        idempotency_key=f"ses_{reason}:cancel",
    )

    raw = stripe_subscription(emulator, s.subscription_id)
    assert raw["cancellation_details"]["feedback"] == feedback


def test_the_spec_reason_mapping():
    assert CANCELLATION_FEEDBACK == {
        "too_expensive": "too_expensive",
        "not_using_enough": "unused",
        "missing_features": "missing_features",
        "switching_competitor": "switched_service",
        "technical_issues": "low_quality",
        "business_closing": "other",
        "other": "other",
    }


# --- errors ------------------------------------------------------------------------------
@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_stripe_trouble_is_a_transient_stripe_error(emulator, gw, status):
    s = seed(emulator)
    emulator.fail_next(1, status=status, path_prefix="/v1/subscriptions")

    with pytest.raises(StripeGatewayError) as raised:
        gw.subscription_get(s.subscription_id)

    error = raised.value
    assert (error.code, error.transient, error.http_status) == ("stripe_error", True, status)
    # Nothing retried behind our back: the next call goes through.
    assert gw.subscription_get(s.subscription_id).id == s.subscription_id


def test_a_write_failing_with_500_changes_nothing_and_can_be_retried_with_the_same_key(
    emulator, gw
):
    s = seed(emulator)
    emulator.fail_next(
        1, status=500, path_prefix=f"/v1/subscriptions/{s.subscription_id}", method="POST"
    )

    with pytest.raises(StripeGatewayError) as raised:
        gw.pause(s.subscription_id, days=30, idempotency_key="ses_1:pause")
    assert raised.value.transient is True
    assert stripe_subscription(emulator, s.subscription_id)["pause_collection"] is None

    details = gw.pause(s.subscription_id, days=30, idempotency_key="ses_1:pause")
    assert details["pause_duration_days"] == 30


def test_a_timeout_is_transient(emulator, gw, settings):
    s = seed(emulator)
    settings.STRIPE_TIMEOUT_SECONDS = 0.3
    emulator.fail_next(1, status=None, delay_ms=1500, path_prefix="/v1/subscriptions")

    with pytest.raises(StripeGatewayError) as raised:
        StripeGateway(api_key=MERCHANT_KEY, livemode=False).subscription_get(s.subscription_id)

    assert (raised.value.code, raised.value.transient) == ("stripe_error", True)


def test_an_unreachable_stripe_is_transient(settings):
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"  # discard port: nothing listens

    with pytest.raises(StripeGatewayError) as raised:
        StripeGateway(api_key=MERCHANT_KEY, livemode=False).subscription_get("sub_x")

    assert (raised.value.code, raised.value.transient) == ("stripe_error", True)


def test_a_stripe_that_does_not_answer_in_time_is_transient(settings):
    import socket

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # accepts the connection, never answers
    settings.STRIPE_API_BASE = f"http://127.0.0.1:{silent.getsockname()[1]}"
    settings.STRIPE_TIMEOUT_SECONDS = 0.3
    try:
        with pytest.raises(StripeGatewayError) as raised:
            StripeGateway(api_key=MERCHANT_KEY, livemode=False).subscription_get("sub_x")
    finally:
        silent.close()

    assert (raised.value.code, raised.value.transient) == ("stripe_error", True)


def test_a_missing_subscription_is_a_permanent_subscription_not_found(emulator, gw):
    with pytest.raises(StripeGatewayError) as raised:
        gw.subscription_get("sub_missing")

    error = raised.value
    assert (error.code, error.transient, error.http_status) == (
        "subscription_not_found",
        False,
        404,
    )
    assert error.stripe_code == "resource_missing"
    assert error.message == "No such subscription: 'sub_missing'"


def test_a_missing_subscription_on_write_is_subscription_not_found(emulator, gw):
    with pytest.raises(StripeGatewayError) as raised:
        gw.cancel(
            "sub_missing", at_period_end=False, feedback=None, comment=None, idempotency_key="k"
        )
    assert raised.value.code == "subscription_not_found"


def test_a_missing_price_in_a_swap_is_a_stripe_error_not_a_missing_subscription(emulator, gw):
    s = seed(emulator)

    with pytest.raises(StripeGatewayError) as raised:
        gw.price_swap(
            s.subscription_id,
            new_price_id="price_missing",
            proration_behavior="none",
            idempotency_key="k",
        )

    assert (raised.value.code, raised.value.transient) == ("stripe_error", False)
    assert raised.value.param == "items[0][price]"


@pytest.mark.parametrize("status", [401, 403])
def test_auth_and_permission_errors_are_permanent(emulator, gw, status):
    emulator.fail_next(1, status=status)

    with pytest.raises(StripeGatewayError) as raised:
        gw.subscription_get("sub_x")

    assert (raised.value.code, raised.value.transient) == ("stripe_error", False)


# --- accounts and connections ------------------------------------------------------------
def test_another_connected_accounts_subscription_is_invisible(emulator):
    theirs = seed(emulator, account="acct_1Theirs000000000")
    mine = StripeGateway(
        api_key="sk_test_platform", livemode=False, account_id="acct_1Mine00000000000"
    )
    theirs_gw = StripeGateway(
        api_key="sk_test_platform", livemode=False, account_id="acct_1Theirs000000000"
    )

    with pytest.raises(StripeGatewayError) as raised:
        mine.subscription_get(theirs.subscription_id)

    assert raised.value.code == "subscription_not_found"
    assert theirs_gw.subscription_get(theirs.subscription_id).id == theirs.subscription_id
    accounts = {
        r["account"] for r in emulator.requests(path=f"/v1/subscriptions/{theirs.subscription_id}")
    }
    assert accounts == {"acct_1Mine00000000000", "acct_1Theirs000000000"}


def test_the_platform_does_not_see_a_connected_accounts_subscription(emulator, gw):
    theirs = seed(emulator, account="acct_1Theirs000000000")

    with pytest.raises(StripeGatewayError) as raised:
        gw.subscription_get(theirs.subscription_id)

    assert raised.value.code == "subscription_not_found"


def test_gateway_for_an_unconnected_mode_is_stripe_not_connected(db, tenant):
    with pytest.raises(StripeNotConnected) as raised:
        gateway_for(tenant=tenant, livemode=True)
    assert (raised.value.code, raised.value.transient) == ("stripe_error", False)


def test_gateway_for_an_oauth_connection_acts_as_the_connected_account(emulator, tenant):
    theirs = seed(emulator, account="acct_1Connected0000000")
    StripeConnection.objects.create(
        tenant=tenant, livemode=False, method="oauth", account_id="acct_1Connected0000000"
    )

    sub = gateway_for(tenant=tenant, livemode=False).subscription_get(theirs.subscription_id)

    assert sub.id == theirs.subscription_id
    (request,) = emulator.requests(path=f"/v1/subscriptions/{theirs.subscription_id}", method="GET")
    assert request["account"] == "acct_1Connected0000000"


# --- reads -------------------------------------------------------------------------------
def test_customer_lookup_by_email_prefers_the_newest(emulator, gw):
    client = emulator.client(SEED_KEY)
    client.v1.customers.create({"email": "twice@example.com"})
    emulator.advance(60)
    newer = client.v1.customers.create({"email": "twice@example.com"})

    assert gw.customer_find_by_email("twice@example.com") == newer.id
    assert gw.customer_find_by_email("nobody@example.com") is None


def test_customer_exists(emulator, gw):
    client = emulator.client(SEED_KEY)
    kept = client.v1.customers.create({"email": "a@example.com"})
    gone = client.v1.customers.create({"email": "b@example.com"})
    client.v1.customers.delete(gone.id)

    assert gw.customer_exists(kept.id) is True
    assert gw.customer_exists(gone.id) is False
    assert gw.customer_exists("cus_missing") is False


def test_live_subscriptions_for_a_customer_leave_out_canceled_ones(emulator, gw):
    s = seed(emulator)
    client = emulator.client(SEED_KEY)
    second = client.v1.subscriptions.create(
        {"customer": s.customer_id, "items": [{"price": s.basic_price_id}]}
    )
    client.v1.subscriptions.cancel(s.subscription_id)

    live = gw.subscriptions_live_for_customer(s.customer_id)

    assert [(x.id, x.product_name, x.amount, x.customer_email) for x in live] == [
        (second.id, "Pro Plan", 1900, "subscriber@example.com")
    ]


def test_prices(emulator, gw):
    s = seed(emulator)
    client = emulator.client(SEED_KEY)
    client.v1.prices.update(s.basic_price_id, {"active": False})

    assert gw.price_get(s.basic_price_id) == Price(
        id=s.basic_price_id,
        product_id=s.product_id,
        product_name="Pro Plan",
        amount=1900,
        currency="usd",
        interval="month",
        interval_count=1,
        active=False,
    )
    assert [p.id for p in gw.prices_list()] == [s.pro_price_id]
    assert [p.id for p in gw.prices_list(active=False)] == [s.basic_price_id]
