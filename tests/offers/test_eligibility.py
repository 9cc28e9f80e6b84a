from __future__ import annotations

import json

import pytest

from offers.eligibility import OfferDecision, offers_evaluate
from offers.services import flow_config_update, offer_create, offer_update

from .conftest import BASIC_TARGET, snapshot

pytestmark = pytest.mark.django_db

# Subscription states: (snapshot overrides, recent_discount_accepted).
STATES = {
    "trialing": ({"status": "trialing", "trial_end": "2026-02-12T00:00:00.000Z"}, False),
    "active": ({}, False),
    "paused": ({"paused": True}, False),
    "discounted": ({"discount_coupon_ids": ["SAVE10"]}, False),
    "recently_discounted": ({}, True),
}

OFFERS = {
    "extend_trial": {"days": 14},
    "pause": {"months_options": [1, 2, 3]},
    "discount": {"percent_off": 25, "duration_months": 3},
    "downgrade": {"targets": {"price_pro": BASIC_TARGET}},
}

# (action, state) -> None when shown, else the recorded reason.
EXPECTED = {
    ("extend_trial", "trialing"): None,
    ("extend_trial", "active"): "not_trialing",
    ("extend_trial", "paused"): "not_trialing",
    ("extend_trial", "discounted"): "not_trialing",
    ("extend_trial", "recently_discounted"): "not_trialing",
    ("pause", "trialing"): None,
    ("pause", "active"): None,
    ("pause", "paused"): "already_paused",
    ("pause", "discounted"): None,
    ("pause", "recently_discounted"): None,
    ("discount", "trialing"): None,
    ("discount", "active"): None,
    ("discount", "paused"): None,
    ("discount", "discounted"): "discount_active",
    ("discount", "recently_discounted"): "discount_recently_accepted",
    ("downgrade", "trialing"): None,
    ("downgrade", "active"): None,
    ("downgrade", "paused"): None,
    ("downgrade", "discounted"): None,
    ("downgrade", "recently_discounted"): None,
}


def _evaluate(config, state: str, reason: str = "other") -> list[OfferDecision]:  # type: ignore[no-untyped-def]
    overrides, recent = STATES[state]
    return offers_evaluate(
        config=config,
        reason=reason,
        subscription=snapshot(**overrides),
        recent_discount_accepted=recent,
    )


@pytest.mark.parametrize(("action", "state"), sorted(EXPECTED))
def test_enabled_offer_is_shown_or_held_back_by_subscription_state(
    only_offer, config, action, state
):
    offer = only_offer(action, OFFERS[action])
    [decision] = _evaluate(config, state)
    expected = EXPECTED[(action, state)]
    assert (decision.shown, decision.reason) == (expected is None, expected)
    assert decision.offer_id == f"{action}:{offer.pk}"
    assert decision.action == action


@pytest.mark.parametrize("state", sorted(STATES))
@pytest.mark.parametrize("action", sorted(OFFERS))
def test_disabled_offer_is_recorded_as_not_shown(only_offer, config, action, state):
    only_offer(action, OFFERS[action], enabled=False)
    [decision] = _evaluate(config, state)
    assert (decision.shown, decision.reason) == (False, "disabled")


def _target(**changes):  # type: ignore[no-untyped-def]
    return {**BASIC_TARGET, **changes}


# (downgrade targets configured, subscription overrides) -> shown?
DOWNGRADE_CASES = {
    "target_present": ({"price_pro": _target()}, {}, True),
    "no_targets": ({}, {}, False),
    "target_for_another_price_only": ({"price_team": _target(from_amount=9900)}, {}, False),
    "target_not_cheaper_after_price_change": ({"price_pro": _target()}, {"amount": 1900}, False),
    "target_dearer_than_current_price": ({"price_pro": _target()}, {"amount": 1500}, False),
    "subscription_in_other_currency": ({"price_pro": _target()}, {"currency": "eur"}, False),
    "subscription_on_other_interval": ({"price_pro": _target()}, {"interval": "year"}, False),
    "subscription_every_three_months": ({"price_pro": _target()}, {"interval_count": 3}, False),
    "free_target": ({"price_pro": _target(amount=0)}, {}, True),
}


@pytest.mark.parametrize("case", sorted(DOWNGRADE_CASES))
def test_downgrade_needs_a_cheaper_target_in_the_same_currency_and_interval(
    only_offer, config, case
):
    targets, overrides, shown = DOWNGRADE_CASES[case]
    only_offer("downgrade", {"targets": targets})
    [decision] = offers_evaluate(
        config=config,
        reason="other",
        subscription=snapshot(**overrides),
        recent_discount_accepted=False,
    )
    assert (decision.shown, decision.reason) == (shown, None if shown else "no_cheaper_target")


def test_shown_downgrade_carries_only_the_target_for_the_current_price(only_offer, config):
    only_offer(
        "downgrade",
        {
            "targets": {
                "price_pro": _target(),
                "price_team": _target(price_id="price_x", from_amount=9900),
            }
        },
    )
    [decision] = offers_evaluate(
        config=config, reason="other", subscription=snapshot(), recent_discount_accepted=False
    )
    assert decision.params == {
        "price_id": "price_basic",
        "amount": 1900,
        "currency": "usd",
        "interval": "month",
        "interval_count": 1,
        "product_name": "Basic",
    }


def test_amount_discount_in_another_currency_is_held_back(only_offer, config):
    only_offer("discount", {"amount_off": 500, "currency": "eur", "duration_months": 3})
    [decision] = _evaluate(config, "active")
    assert (decision.shown, decision.reason) == (False, "currency_mismatch")
    only_offer("discount", {"amount_off": 500, "currency": "usd", "duration_months": 3})
    [decision] = _evaluate(config, "active")
    assert decision.shown and decision.params == {
        "amount_off": 500,
        "currency": "usd",
        "duration_months": 3,
    }


def test_default_flow_for_a_trialing_subscriber_leads_with_a_trial_extension(config):
    decisions = _evaluate(config, "trialing", reason="too_expensive")
    assert [(d.action, d.shown, d.reason) for d in decisions] == [
        ("extend_trial", True, None),
        ("discount", True, None),
        ("downgrade", False, "no_cheaper_target"),
    ]
    assert decisions[0].offer_id == "extend_trial:default"
    assert decisions[0].params == {"days": 14}
    assert decisions[1].params == {"percent_off": 25, "duration_months": 3}


@pytest.mark.parametrize(
    ("reason", "actions"),
    [
        ("too_expensive", ["discount", "downgrade"]),
        ("not_using_enough", ["pause", "downgrade"]),
        ("missing_features", ["discount"]),
        ("switching_competitor", ["discount"]),
        ("technical_issues", ["pause"]),
        ("business_closing", ["pause"]),
        ("other", ["discount"]),
    ],
)
def test_default_flow_for_an_active_subscriber(config, reason, actions):
    decisions = _evaluate(config, "active", reason=reason)
    assert [d.action for d in decisions] == ["extend_trial", *actions]
    assert (decisions[0].shown, decisions[0].reason) == (False, "not_trialing")


def test_trial_extension_days_and_switch_come_from_the_config(config):
    flow_config_update(config=config, trial_extension_days=30)
    [first, *_] = _evaluate(config, "trialing", reason="other")
    assert first.params == {"days": 30}
    flow_config_update(config=config, trial_extension_first=False)
    assert [d.action for d in _evaluate(config, "trialing", reason="other")] == ["discount"]


def test_reasons_own_trial_extension_replaces_the_default_and_goes_first(config):
    own = offer_create(config=config, reason="other", action="extend_trial", params={"days": 7})
    decisions = _evaluate(config, "trialing", reason="other")
    assert [(d.offer_id, d.params) for d in decisions][0] == (f"extend_trial:{own.pk}", {"days": 7})
    assert [d.action for d in decisions] == ["extend_trial", "discount"]


def test_offers_keep_their_configured_order(config):
    pause = offer_create(
        config=config, reason="other", action="pause", params={"months_options": [2]}
    )
    decisions = _evaluate(config, "active", reason="other")
    assert [d.action for d in decisions] == ["extend_trial", "discount", "pause"]
    [discount] = config.offers.filter(reason="other", action="discount")
    offer_update(offer=discount, position=pause.position + 1)
    decisions = _evaluate(config, "active", reason="other")
    assert [d.action for d in decisions] == ["extend_trial", "pause", "discount"]


def test_decisions_are_stable_and_their_records_are_json(config):
    first = _evaluate(config, "trialing", reason="too_expensive")
    second = _evaluate(config, "trialing", reason="too_expensive")
    assert [d.offer_id for d in first] == [d.offer_id for d in second]
    records = json.loads(json.dumps([d.as_record() for d in first]))
    assert records[2] == {
        "offer_id": first[2].offer_id,
        "action": "downgrade",
        "params": {},
        "shown": False,
        "reason": "no_cheaper_target",
    }
    assert [OfferDecision.from_record(r) for r in records] == first


def test_unknown_reason_is_refused(config):
    with pytest.raises(ValueError, match="Unknown reason"):
        _evaluate(config, "active", reason="bored")
