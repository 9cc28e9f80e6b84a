"""A pause offer's method and behavior, a discount offer's policy toward a discount in
force: checked with words a merchant can act on, and the policy deciding eligibility."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from offers.eligibility import offers_evaluate
from offers.params import offer_params_clean

from .conftest import snapshot

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "params",
    [
        {"months_options": [1, 2]},
        {"months_options": [1], "method": "pause_collection", "behavior": "keep_as_draft"},
        {"months_options": [1], "behavior": "mark_uncollectible"},
        {"months_options": [3], "method": "subscription_pause"},
    ],
)
def test_pause_methods_and_behaviors_are_kept_as_given(params):
    assert offer_params_clean(action="pause", params=params) == params


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"months_options": [1], "method": "freeze"}, "method must be one of pause_collection"),
        ({"months_options": [1], "behavior": "drop"}, "behavior must be one of void"),
        (
            {"months_options": [1], "method": "subscription_pause", "behavior": "void"},
            "behavior goes with method pause_collection only",
        ),
        ({"percent_off": 25, "duration_months": 3, "policy": "merge"}, "policy must be one of"),
        ({"coupon_id": "SAVE", "policy": ["stack"]}, "policy must be one of"),
    ],
)
def test_bad_pause_and_discount_params_are_refused(params, message):
    action = "pause" if "months_options" in params else "discount"
    with pytest.raises(ValidationError) as excinfo:
        offer_params_clean(action=action, params=params)
    assert any(message in m for m in excinfo.value.messages)


@pytest.mark.parametrize("policy", ["skip_if_discounted", "replace", "stack"])
def test_discount_policies_are_kept(policy):
    params = {"percent_off": 25, "duration_months": 3, "policy": policy}
    assert offer_params_clean(action="discount", params=params) == params
    coupon = {"coupon_id": "SAVE", "label": "Loyalty", "policy": policy}
    assert offer_params_clean(action="discount", params=coupon) == coupon


@pytest.mark.parametrize(
    ("policy", "in_force", "shown"),
    [
        (None, {}, True),
        (None, {"discount_coupon_ids": ["LOYAL"]}, False),
        (None, {"customer_discount": {"coupon_id": "LOYAL"}}, False),
        ("skip_if_discounted", {"customer_discount": {"coupon_id": "LOYAL"}}, False),
        ("replace", {"discount_coupon_ids": ["LOYAL"]}, True),
        ("replace", {"customer_discount": {"coupon_id": "LOYAL"}}, True),
        ("stack", {"discount_coupon_ids": ["LOYAL"]}, True),
        ("stack", {"customer_discount": {"coupon_id": "LOYAL"}}, True),
    ],
)
def test_policy_decides_whether_a_discount_in_force_holds_the_offer_back(
    only_offer, policy, in_force, shown
):
    params = {"percent_off": 25, "duration_months": 3}
    if policy:
        params["policy"] = policy
    offer = only_offer("discount", params)

    [decision] = offers_evaluate(
        config=offer.config,
        reason="other",
        subscription=snapshot(**in_force),
        recent_discount_accepted=False,
    )

    assert decision.shown is shown
    assert decision.reason == (None if shown else "discount_active")
