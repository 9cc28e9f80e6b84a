"""The gateway's two pauses and its discount policies, against the emulator's Stripe
state: what Stripe holds after each call, and a retry that acts once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from billing.gateway import StripeGatewayError

from .conftest import SEED_KEY, seed, stripe_subscription


def midnight_in(days: int) -> datetime:
    now = datetime.now(UTC)
    return datetime(now.year, now.month, now.day, tzinfo=UTC) + timedelta(days=days)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


@pytest.mark.parametrize("behavior", ["void", "keep_as_draft", "mark_uncollectible"])
def test_pause_collection_keeps_the_subscription_active_with_the_behavior(emulator, gw, behavior):
    s = seed(emulator)

    details = gw.pause(
        s.subscription_id,
        days=60,
        idempotency_key="ses_1:pause",
        method="pause_collection",
        behavior=behavior,
    )

    resume = midnight_in(60)
    assert details == {
        "pause_duration_days": 60,
        "resume_date": iso(resume),
        "pause_method": "pause_collection",
        "pause_behavior": behavior,
    }
    raw = stripe_subscription(emulator, s.subscription_id)
    assert raw["status"] == "active"
    assert raw["pause_collection"] == {"behavior": behavior, "resumes_at": int(resume.timestamp())}
    sub = gw.subscription_get(s.subscription_id)
    assert (sub.paused, sub.pause_method, sub.pause_behavior) == (
        True,
        "pause_collection",
        behavior,
    )


def test_subscription_pause_sets_status_paused_and_a_retry_acts_once(emulator, gw):
    s = seed(emulator)

    first = gw.pause(
        s.subscription_id, days=30, idempotency_key="ses_2:pause", method="subscription_pause"
    )
    second = gw.pause(
        s.subscription_id, days=30, idempotency_key="ses_2:pause", method="subscription_pause"
    )

    assert (
        first
        == second
        == {
            "pause_duration_days": 30,
            "resume_date": iso(midnight_in(30)),
            "pause_method": "subscription_pause",
            "pause_behavior": None,
        }
    )
    raw = stripe_subscription(emulator, s.subscription_id)
    assert raw["status"] == "paused"
    assert raw["pause_collection"] is None
    assert raw["status_details"]["paused"]["subscription"]["type"] == "pause_requested"
    assert raw["metadata"]["mrrx_pause_resumes_at"] == str(int(midnight_in(30).timestamp()))
    pauses = emulator.requests(method="POST", path=f"/v1/subscriptions/{s.subscription_id}/pause")
    assert len([r for r in pauses if not r["replayed"]]) == 1
    sub = gw.subscription_get(s.subscription_id)
    assert (sub.paused, sub.pause_method) == (True, "subscription_pause")


def test_pause_end_resumes_only_its_own_pause_and_only_once(emulator, gw):
    s = seed(emulator)
    gw.pause(s.subscription_id, days=30, idempotency_key="ses_3:pause", method="subscription_pause")

    assert gw.pause_end(s.subscription_id, pause_key="ses_other:pause") is False
    assert stripe_subscription(emulator, s.subscription_id)["status"] == "paused"

    assert gw.pause_end(s.subscription_id, pause_key="ses_3:pause") is True
    assert gw.pause_end(s.subscription_id, pause_key="ses_3:pause") is True
    raw = stripe_subscription(emulator, s.subscription_id)
    assert raw["status"] == "active"
    assert raw["status_details"] is None
    resumes = emulator.requests(method="POST", path=f"/v1/subscriptions/{s.subscription_id}/resume")
    assert len(resumes) == 1


def test_resume_ends_either_pause(emulator, gw):
    s = seed(emulator)
    gw.pause(s.subscription_id, days=30, idempotency_key="ses_4:pause", method="subscription_pause")
    assert gw.resume(s.subscription_id, idempotency_key="hub_1:resume").status == "active"
    gw.pause(s.subscription_id, days=30, idempotency_key="ses_5:pause")
    resumed = gw.resume(s.subscription_id, idempotency_key="hub_2:resume")
    assert (resumed.paused, resumed.status) == (False, "active")


def test_unknown_pause_method_or_behavior_is_refused_before_stripe(emulator, gw):
    s = seed(emulator)
    with pytest.raises(ValueError):
        gw.pause(s.subscription_id, days=30, idempotency_key="k", method="freeze")
    with pytest.raises(ValueError):
        gw.pause(s.subscription_id, days=30, idempotency_key="k", behavior="drop")
    assert stripe_subscription(emulator, s.subscription_id)["pause_collection"] is None


# --- discounts ---------------------------------------------------------------------------


def _discounted(emulator, *, level: str):
    """A subscription with a 10% discount on its customer or on itself."""
    s = seed(emulator)
    client = emulator.client(SEED_KEY)
    client.v1.coupons.create({"id": "loyal10", "percent_off": 10, "duration": "forever"})
    if level == "customer":
        emulator.customer_discount(s.customer_id, "loyal10")
    else:
        client.v1.subscriptions.update(s.subscription_id, {"discounts": [{"coupon": "loyal10"}]})
    return s


def _coupons(emulator, subscription_id: str) -> list[str]:
    raw = stripe_subscription(emulator, subscription_id)
    return [d["source"]["coupon"] for d in raw["discounts"]]


def _next_total(emulator, subscription_id: str) -> int:
    preview = emulator.client(SEED_KEY).v1.invoices.create_preview(
        {"subscription": subscription_id}
    )
    return preview.total


@pytest.mark.parametrize("level", ["customer", "subscription"])
def test_skip_if_discounted_refuses_and_changes_nothing(emulator, gw, level):
    s = _discounted(emulator, level=level)
    before = stripe_subscription(emulator, s.subscription_id)

    with pytest.raises(StripeGatewayError) as excinfo:
        gw.discount_apply(
            s.subscription_id,
            idempotency_key="ses_6:discount",
            percent_off=25,
            duration_months=3,
            policy="skip_if_discounted",
        )

    assert excinfo.value.code == "action_not_available"
    assert not excinfo.value.transient
    assert stripe_subscription(emulator, s.subscription_id)["discounts"] == before["discounts"]
    assert _next_total(emulator, s.subscription_id) == 2610  # 2900 less 10%


@pytest.mark.parametrize("level", ["customer", "subscription"])
def test_replace_puts_the_offer_alone_in_force(emulator, gw, level):
    s = _discounted(emulator, level=level)

    details = gw.discount_apply(
        s.subscription_id,
        idempotency_key="ses_7:discount",
        percent_off=25,
        duration_months=3,
        policy="replace",
    )

    assert _coupons(emulator, s.subscription_id) == ["mrrx_25pct_3m"]
    assert details["discount_policy"] == "replace"
    assert details["replaced_coupon_ids"] == ["loyal10"]
    assert details["other_coupon_ids"] == []
    assert _next_total(emulator, s.subscription_id) == 2175  # 2900 less 25%
    if level == "customer":  # the customer keeps theirs, for their other subscriptions
        customer = emulator.client(SEED_KEY).v1.customers.retrieve(s.customer_id)
        assert customer.discount is not None


@pytest.mark.parametrize("level", ["customer", "subscription"])
def test_stack_keeps_the_discount_in_force_and_adds_the_offer(emulator, gw, level):
    s = _discounted(emulator, level=level)

    details = gw.discount_apply(
        s.subscription_id,
        idempotency_key="ses_8:discount",
        percent_off=25,
        duration_months=3,
        policy="stack",
    )
    again = gw.discount_apply(
        s.subscription_id,
        idempotency_key="ses_8:discount",
        percent_off=25,
        duration_months=3,
        policy="stack",
    )

    assert details == again
    assert _coupons(emulator, s.subscription_id) == ["loyal10", "mrrx_25pct_3m"]
    assert details["other_coupon_ids"] == ["loyal10"]
    assert details["replaced_coupon_ids"] == []
    assert _next_total(emulator, s.subscription_id) == 1958  # 2900 less 10%, less 25%
    sub = gw.subscription_get(s.subscription_id)
    assert [d.coupon_id for d in sub.discounts] == ["loyal10", "mrrx_25pct_3m"]


def test_customer_discount_is_read_into_the_subscription(emulator, gw):
    s = _discounted(emulator, level="customer")
    sub = gw.subscription_get(s.subscription_id)
    assert sub.discount_coupon_ids == ()
    assert sub.customer_discount is not None
    assert (sub.customer_discount.coupon_id, sub.customer_discount.percent_off) == ("loyal10", 10)
