from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from offers.models import Offer
from offers.services import offer_create, offer_update

from .conftest import BASIC_TARGET

pytestmark = pytest.mark.django_db


def _target(**changes):  # type: ignore[no-untyped-def]
    return {"targets": {"price_pro": {**BASIC_TARGET, **changes}}}


BAD = [
    # (action, params, words the merchant is shown)
    ("pause", {"months_options": [0]}, "Each pause length must be between 1 and 12 (got 0)"),
    ("pause", {"months_options": [1, 13]}, "Each pause length must be between 1 and 12 (got 13)"),
    ("pause", {"months_options": []}, "a list of 1 to 3 pause lengths"),
    ("pause", {"months_options": [1, 2, 3, 4]}, "a list of 1 to 3 pause lengths"),
    ("pause", {"months_options": [2, 2]}, "the same pause length twice"),
    ("pause", {"months_options": ["two"]}, "must be a whole number (got 'two')"),
    ("pause", {}, "Missing key(s) for a pause offer: months_options"),
    ("pause", {"months_options": [1], "days": 5}, "Unknown key(s) for a pause offer: days"),
    ("discount", {"percent_off": 0, "duration_months": 3}, "between 1 and 100 (got 0)"),
    ("discount", {"percent_off": 101, "duration_months": 3}, "between 1 and 100 (got 101)"),
    ("discount", {"percent_off": 25}, "Missing key(s) for a percentage discount offer"),
    ("discount", {"percent_off": 25, "duration_months": 0}, "duration_months must be between 1"),
    ("discount", {"percent_off": 25, "duration_months": 37}, "between 1 and 36 (got 37)"),
    (
        "discount",
        {"percent_off": 25, "duration_months": 3, "forever": True},
        "Unknown key(s) for a percentage discount offer: forever",
    ),
    ("discount", {"amount_off": 500, "duration_months": 3}, "Missing key(s)"),
    (
        "discount",
        {"amount_off": 500, "currency": "dollars", "duration_months": 3},
        "three-letter ISO currency code",
    ),
    ("discount", {"amount_off": 0, "currency": "usd", "duration_months": 3}, "at least 1"),
    ("discount", {"percent_off": 25, "coupon_id": "SAVE25"}, "exactly one of"),
    ("discount", {}, "exactly one of"),
    ("discount", {"coupon_id": ""}, "coupon_id must be a non-empty string"),
    ("discount", {"coupon_id": "SAVE25", "duration_months": 3}, "Unknown key(s)"),
    ("downgrade", _target(amount=3900), "is not cheaper than price_pro"),
    ("downgrade", _target(amount=2900), "is not cheaper than price_pro"),
    ("downgrade", _target(from_currency="eur"), "is in usd but price_pro is in eur"),
    (
        "downgrade",
        _target(currency="eur", from_currency="usd"),
        "is in eur but price_pro is in usd",
    ),
    ("downgrade", _target(from_interval="year"), "bills every month but price_pro every year"),
    (
        "downgrade",
        _target(interval_count=3, from_interval_count=1),
        "bills every 3 months but price_pro every month",
    ),
    ("downgrade", _target(interval="fortnight"), "interval of the downgrade target"),
    ("downgrade", _target(price_id="price_pro"), "cannot be downgraded to itself"),
    ("downgrade", _target(colour="blue"), "Unknown key(s) for the downgrade target for price_pro"),
    ("downgrade", {"targets": {"price_pro": {"price_id": "price_basic"}}}, "Missing key(s)"),
    ("downgrade", {"targets": ["price_basic"]}, "targets must be an object"),
    ("downgrade", {"target": {}}, "Unknown key(s) for a downgrade offer: target"),
    ("extend_trial", {"days": 0}, "days must be between 1 and 90 (got 0)"),
    ("extend_trial", {"days": 91}, "days must be between 1 and 90 (got 91)"),
    ("extend_trial", {"days": True}, "days must be a whole number"),
    ("extend_trial", {"days": 14, "hours": 2}, "Unknown key(s) for a trial extension offer"),
]


@pytest.mark.parametrize(("action", "params", "message"), BAD, ids=[m for *_, m in BAD])
def test_bad_params_are_refused_with_a_clear_message_and_nothing_saved(
    config, action, params, message
):
    before = Offer.objects.count()
    with pytest.raises(ValidationError) as raised:
        offer_create(config=config, reason="other", action=action, params=params)
    messages = raised.value.message_dict["params"]
    assert any(message in m for m in messages), messages
    assert Offer.objects.count() == before


def test_params_that_are_not_an_object_are_refused(config):
    with pytest.raises(ValidationError) as raised:
        offer_create(config=config, reason="other", action="pause", params=[1, 2])
    assert raised.value.message_dict["params"] == ["Offer parameters must be a JSON object."]


def test_unknown_action_and_reason_are_refused(config):
    with pytest.raises(ValidationError) as raised:
        offer_create(config=config, reason="bored", action="refund", params={})
    assert set(raised.value.message_dict) == {"reason", "action"}


def test_every_problem_is_reported_at_once(config):
    with pytest.raises(ValidationError) as raised:
        offer_create(
            config=config,
            reason="other",
            action="pause",
            params={"months_options": [0, 13], "weeks": 2},
        )
    assert len(raised.value.message_dict["params"]) == 3


@pytest.mark.parametrize(
    ("action", "params", "stored"),
    [
        ("pause", {"months_options": [3, 1]}, {"months_options": [3, 1]}),
        (
            "discount",
            {"amount_off": 500, "currency": "USD", "duration_months": 3},
            {"amount_off": 500, "currency": "usd", "duration_months": 3},
        ),
        (
            "discount",
            {"coupon_id": " SAVE25 ", "label": "25% off for 3 months"},
            {"coupon_id": "SAVE25", "label": "25% off for 3 months"},
        ),
        ("discount", {"percent_off": 12.5, "duration_months": 1}, None),
        (
            "downgrade",
            {"targets": {"price_pro": {**BASIC_TARGET, "currency": "USD"}}},
            {
                "targets": {
                    "price_pro": {
                        **BASIC_TARGET,
                        "interval_count": 1,
                        "from_currency": "usd",
                        "from_interval": "month",
                        "from_interval_count": 1,
                    }
                }
            },
        ),
        ("extend_trial", {"days": 90}, None),
    ],
)
def test_good_params_are_stored_normalised(config, action, params, stored):
    offer = offer_create(config=config, reason="other", action=action, params=params)
    offer.refresh_from_db()
    assert offer.params == (stored or params)


def test_changing_the_action_rechecks_the_params(config):
    offer = offer_create(
        config=config, reason="other", action="pause", params={"months_options": [1]}
    )
    with pytest.raises(ValidationError) as raised:
        offer_update(offer=offer, action="discount")
    assert "exactly one of" in raised.value.message_dict["params"][0]
    offer.refresh_from_db()
    assert (offer.action, offer.params) == ("pause", {"months_options": [1]})
    offer_update(offer=offer, action="extend_trial", params={"days": 5}, enabled=False)
    offer.refresh_from_db()
    assert (offer.action, offer.params, offer.enabled) == ("extend_trial", {"days": 5}, False)


def test_new_offers_go_after_the_reasons_existing_ones(config):
    offer = offer_create(
        config=config, reason="too_expensive", action="extend_trial", params={"days": 3}
    )
    assert offer.position == 2
