"""Segment rules: checking (words a merchant can act on), matching with the reason why
not, flows tried by priority, and each flow's own reasons and offers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from audit.models import AuditEntry
from offers.eligibility import offers_evaluate
from offers.models import Flow
from offers.segments import flow_select, match_explained, rule_clean, rule_match
from offers.selectors import flow_config_get, flow_for, reasons_any_flow, reasons_for
from offers.services import (
    flow_create,
    flow_delete,
    flow_update,
    offer_create,
    offer_update,
)

from .conftest import snapshot

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def started(days: int) -> str:
    return (NOW - timedelta(days=days)).isoformat()


def sub(**overrides: Any) -> dict[str, Any]:
    """A snapshot with the fields the rules read: monthly Pro, 10 days old, French."""
    return snapshot(
        **{
            "product_id": "prod_pro",
            "start_date": started(10),
            "customer_country": "FR",
            **overrides,
        }
    )


def match(rule: dict, subscription: dict | None = None, **kwargs: Any):  # type: ignore[no-untyped-def]
    return rule_match(rule_clean(rule), subscription=subscription or sub(), now=NOW, **kwargs)


# --- checking -------------------------------------------------------------------------------


def test_empty_rule_is_kept_and_matches_everyone():
    assert rule_clean({}) == {}
    assert rule_clean(None) == {}
    assert match({}).matched


def test_rule_is_normalised():
    cleaned = rule_clean(
        {
            "price_ids": [" price_pro ", "price_pro"],
            "interval": "YEAR",
            "mrr": {"currency": "USD", "min": 1000},
            "countries": ["fr", "De"],
            "context": {"plan": "pro", "seats": {"min": 5}, "region": {"in": ["eu", "uk"]}},
        }
    )
    assert cleaned == {
        "price_ids": ["price_pro"],
        "interval": ["year"],
        "mrr": [{"currency": "usd", "min": 1000}],
        "countries": ["FR", "DE"],
        "context": {"plan": "pro", "seats": {"min": 5}, "region": {"in": ["eu", "uk"]}},
    }


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ([], "A segment rule must be a JSON object of conditions ({} matches everyone)."),
        ({"plan": "pro"}, "Unknown condition(s): plan. Allowed: price_ids, product_ids,"),
        ({"price_ids": "price_pro"}, "price_ids must be a list of 1 to 100 Stripe ids"),
        ({"interval": "fortnight"}, "interval must be one of day, week, month, year"),
        ({"tenure_days": {"min": -1}}, "tenure_days.min must be a whole number of at least 0"),
        ({"tenure_days": {"min": 30, "max": 10}}, "tenure_days: min (30) is more than max (10)."),
        ({"tenure_days": {}}, "tenure_days needs min, max or both."),
        ({"tenure_days": {"over": 3}}, "tenure_days: unknown key(s) over; allowed: min, max."),
        ({"mrr": {"min": 100}}, 'Each mrr entry needs "currency", a three-letter ISO code'),
        (
            {"mrr": [{"currency": "usd", "min": 1}, {"currency": "USD", "max": 9}]},
            "mrr names usd twice.",
        ),
        ({"trialing": "yes"}, "trialing must be true or false (got 'yes')."),
        ({"discounted": 1}, "discounted must be true or false (got 1)."),
        ({"countries": ["France"]}, "countries must be a list of two-letter ISO country codes"),
        ({"context": {}}, "context must be an object of context keys and conditions"),
        ({"context": {"seats": {"min": "five"}}}, "context.seats.min must be a number"),
        ({"metadata": {"tier": {"in": []}}}, 'metadata.tier: "in" must be a list of 1 to 100'),
        ({"metadata": {"tier": {"in": ["a"], "min": 1}}}, 'metadata.tier: "in" stands alone'),
        ({"metadata": {"tier": [1, 2]}}, "metadata.tier must be a text, a number, true/false"),
    ],
)
def test_bad_rules_are_refused_in_words(rule, message):
    with pytest.raises(ValidationError) as caught:
        rule_clean(rule)
    assert any(m.startswith(message) for m in caught.value.messages), caught.value.messages


def test_every_problem_is_listed_at_once():
    with pytest.raises(ValidationError) as caught:
        rule_clean({"interval": "fortnight", "trialing": "no", "colour": "red"})
    assert len(caught.value.messages) == 3


# --- matching, one condition type at a time --------------------------------------------------


def test_price_and_product_ids():
    assert match({"price_ids": ["price_pro", "price_team"]}).matched
    result = match({"price_ids": ["price_team"]})
    assert result.failed == {
        "condition": "price_ids",
        "expected": ["price_team"],
        "value": "price_pro",
    }
    assert match({"product_ids": ["prod_pro"]}).matched
    assert match({"product_ids": ["prod_basic"]}).failed["value"] == "prod_pro"


@pytest.mark.parametrize("interval", ["day", "week", "month", "year"])
def test_interval(interval):
    assert match({"interval": interval}, sub(interval=interval)).matched
    other = "month" if interval != "month" else "year"
    result = match({"interval": other}, sub(interval=interval))
    assert result.failed == {"condition": "interval", "expected": [other], "value": interval}


def test_tenure_in_days_from_the_start_date():
    assert match({"tenure_days": {"min": 10, "max": 10}}).matched
    assert match({"tenure_days": {"max": 30}}).matched
    over_a_year = sub(start_date=started(400))
    assert match({"tenure_days": {"min": 366}}, over_a_year).matched
    result = match({"tenure_days": {"min": 366}})
    assert result.failed == {"condition": "tenure_days", "expected": {"min": 366}, "value": 10}


def test_tenure_fails_when_the_start_is_unknown():
    result = match({"tenure_days": {"min": 0}}, sub(start_date=None))
    assert not result.matched and result.failed["value"] is None


def test_mrr_is_the_monthly_amount_per_currency():
    # 290.00 a year is 24.17 a month; 7.00 a week is 30.33 a month.
    yearly = sub(amount=29000, interval="year")
    assert match({"mrr": {"currency": "usd", "min": 2400, "max": 2500}}, yearly).matched
    result = match({"mrr": {"currency": "usd", "min": 2500}}, yearly)
    assert result.failed["value"] == {"currency": "usd", "amount": 2416.67}
    weekly = sub(amount=700, interval="week")
    assert match({"mrr": {"currency": "usd", "min": 3033, "max": 3034}}, weekly).matched
    quarterly = sub(amount=9000, interval="month", interval_count=3)
    assert match({"mrr": {"currency": "usd", "min": 3000, "max": 3000}}, quarterly).matched


def test_mrr_in_another_currency_does_not_match():
    rule = {"mrr": [{"currency": "eur", "min": 0}, {"currency": "gbp", "min": 0}]}
    result = match(rule)
    assert not result.matched and result.failed["value"] == {"currency": "usd", "amount": 2900}
    assert match(rule, sub(currency="eur")).matched


def test_trialing_and_discounted():
    assert match({"trialing": False}).matched
    assert match({"trialing": True}, sub(status="trialing")).matched
    assert match({"trialing": True}).failed == {
        "condition": "trialing",
        "expected": True,
        "value": False,
    }
    assert match({"discounted": True}, sub(discount_coupon_ids=["SAVE10"])).matched
    assert match({"discounted": True}).failed["value"] is False


def test_country_of_the_customer():
    assert match({"countries": ["fr", "be"]}).matched
    assert match({"countries": ["DE"]}).failed == {
        "condition": "countries",
        "expected": ["DE"],
        "value": "FR",
    }
    # A customer without an address matches no country list.
    assert match({"countries": ["FR"]}, sub(customer_country="")).failed["value"] is None


def test_context_and_metadata_equals_in_and_ranges():
    context = {"plan": "pro", "seats": 12, "beta": True}
    metadata = {"tier": "gold", "seats": "12"}
    kw = {"context": context, "metadata": metadata}
    assert match({"context": {"plan": "pro"}}, **kw).matched
    assert match({"context": {"seats": 12, "beta": True}}, **kw).matched
    assert match({"context": {"seats": {"min": 10, "max": 20}}}, **kw).matched
    assert match({"context": {"plan": {"in": ["team", "pro"]}}}, **kw).matched
    # Metadata values are text: a number in the rule matches the same number as text.
    assert match({"metadata": {"seats": 12}}, **kw).matched
    assert match({"metadata": {"seats": {"min": 12}}}, **kw).matched
    assert match({"metadata": {"tier": {"in": ["gold", "platinum"]}}}, **kw).matched
    failed = match({"context": {"seats": {"min": 20}}}, **kw).failed
    assert failed == {"condition": "context.seats", "expected": {"min": 20}, "value": 12}
    failed = match({"metadata": {"tier": "silver"}}, **kw).failed
    assert failed == {"condition": "metadata.tier", "expected": "silver", "value": "gold"}


def test_a_key_the_session_was_not_created_with_fails():
    failed = match({"context": {"plan": "pro"}}, context={}).failed
    assert failed == {"condition": "context.plan", "expected": "pro", "value": None}
    assert not match({"metadata": {"seats": {"max": 5}}}, metadata={"seats": "many"}).matched


def test_every_condition_must_hold_and_the_first_failure_is_reported():
    rule = {"interval": "month", "tenure_days": {"min": 100}, "countries": ["DE"]}
    failed = match(rule).failed
    assert failed is not None and failed["condition"] == "tenure_days"


# --- flows in priority order ------------------------------------------------------------------


@pytest.fixture
def config(tenant):  # type: ignore[no-untyped-def]
    return flow_config_get(tenant=tenant, livemode=False)


def test_first_matching_flow_by_priority_wins(config):
    monthly = flow_create(config=config, name="Monthly", rule={"interval": "month"}, priority=5)
    pro = flow_create(config=config, name="Pro", rule={"price_ids": ["price_pro"]}, priority=1)
    yearly = flow_create(config=config, name="Yearly", rule={"interval": "year"}, priority=0)
    chosen, record = flow_select(config=config, subscription=sub(), now=NOW)
    # The subscription matches "Pro" and "Monthly": the lower priority is tried first.
    assert chosen == pro
    assert record == {
        "flow_id": pro.id,
        "flow_name": "Pro",
        "tried": [
            {
                "flow_id": yearly.id,
                "name": "Yearly",
                "matched": False,
                "failed": {"condition": "interval", "expected": ["year"], "value": "month"},
            },
            {"flow_id": pro.id, "name": "Pro", "matched": True},
        ],
    }
    flow_update(flow=pro, priority=9)
    assert flow_select(config=config, subscription=sub(), now=NOW)[0] == monthly


def test_no_match_gives_the_default_flow(config):
    flow_create(config=config, name="Germany", rule={"countries": ["DE"]})
    chosen, record = flow_select(config=config, subscription=sub(), now=NOW)
    assert chosen is None
    assert record["flow_id"] == "" and record["flow_name"] == "Default"
    assert match_explained(record) == [
        'Germany: no, countries is "FR" (the rule wants ["DE"]).',
        "No flow matched: the default flow is used.",
    ]


def test_disabled_flows_are_not_tried(config):
    flow_create(config=config, name="Everyone", rule={}, enabled=False)
    chosen, record = flow_select(config=config, subscription=sub(), now=NOW)
    assert chosen is None and record["tried"] == []


def test_another_workspaces_flows_are_never_used(config, other_tenant):
    theirs = flow_config_get(tenant=other_tenant, livemode=False)
    their_flow = flow_create(config=theirs, name="Everyone", rule={})
    live = flow_config_get(tenant=config.tenant, livemode=True)
    flow_create(config=live, name="Live everyone", rule={})
    chosen, record = flow_select(config=config, subscription=sub(), now=NOW)
    assert chosen is None and record["tried"] == []
    # Nor by id: a session of this workspace naming it falls back to the default flow.
    assert flow_for(config, their_flow.id) is None


# --- each flow's reasons and offers -------------------------------------------------------------


def test_a_flow_has_its_own_reasons_order(config):
    flow = flow_create(
        config=config, name="Annual", rule={}, reasons=["business_closing", "too_expensive"]
    )
    assert [code for code, _ in reasons_for(config=config, flow=flow)] == [
        "business_closing",
        "too_expensive",
    ]
    assert [code for code, _ in reasons_for(config=config)] == config.reasons
    assert reasons_any_flow(config=config) == set(config.reasons)


def test_a_flow_offers_only_its_own_offers(config):
    flow = flow_create(config=config, name="Annual", rule={})
    own = offer_create(
        config=config,
        flow=flow,
        reason="too_expensive",
        action="discount",
        params={"percent_off": 40, "duration_months": 12},
    )
    in_flow = offers_evaluate(
        config=config,
        reason="too_expensive",
        subscription=sub(),
        recent_discount_accepted=False,
        flow=flow,
    )
    default = offers_evaluate(
        config=config, reason="too_expensive", subscription=sub(), recent_discount_accepted=False
    )
    assert [d.offer_id for d in in_flow] == ["extend_trial:default", f"discount:{own.pk}"]
    assert f"discount:{own.pk}" not in [d.offer_id for d in default]
    assert len(default) == 3  # trial extension, the default discount and downgrade
    assert own.position == 0  # first in its own flow, whatever the default holds


def test_an_offer_cannot_join_another_configurations_flow(config, other_tenant):
    theirs = flow_create(config=flow_config_get(tenant=other_tenant, livemode=False), name="X")
    offer = config.offers.first()
    with pytest.raises(ValidationError) as caught:
        offer_update(offer=offer, flow=theirs)
    assert caught.value.message_dict == {
        "flow": ["Choose one of this configuration's flows, or none for the default."]
    }


def test_flow_services_check_and_audit(config):
    with pytest.raises(ValidationError) as caught:
        flow_create(
            config=config, name=" ", rule={"interval": "hourly"}, reasons=["bored"], priority=-1
        )
    assert set(caught.value.message_dict) == {"name", "rule", "reasons", "priority"}
    assert not Flow.objects.exists()
    flow = flow_create(config=config, name="Annual", rule={"interval": "year"})
    with pytest.raises(ValidationError) as caught:
        flow_create(config=config, name="Annual")
    assert caught.value.message_dict["name"] == [
        "This configuration already has a flow named 'Annual'."
    ]
    flow_update(flow=flow, rule={"interval": ["year", "month"]})
    offer_create(
        config=config, flow=flow, reason="other", action="pause", params={"months_options": [1]}
    )
    flow_id = flow.id
    flow_delete(flow=flow)
    assert not config.offers.filter(flow__isnull=False).exists()
    actions = list(
        AuditEntry.objects.filter(object_id=flow_id)
        .order_by("created_at")
        .values_list("action", flat=True)
    )
    assert actions == ["flow.added", "flow.changed", "flow.deleted"]


# --- annual plans -------------------------------------------------------------------------------


def _decisions(config, subscription):  # type: ignore[no-untyped-def]
    return {
        d.action: d
        for d in offers_evaluate(
            config=config,
            reason="other",
            subscription=subscription,
            recent_discount_accepted=False,
        )
    }


def test_a_discount_on_a_yearly_price_runs_whole_years(config):
    offer_create(
        config=config,
        reason="other",
        action="discount",
        params={"percent_off": 20, "duration_months": 3},
    )

    def discounts(subscription):  # type: ignore[no-untyped-def]
        decisions = offers_evaluate(
            config=config, reason="other", subscription=subscription, recent_discount_accepted=False
        )
        return [d for d in decisions if d.action == "discount"]

    # The default "25% for 3 months" and this one: 3 months off applied mid-year would end
    # before the yearly invoice, so each runs a year instead.
    yearly = discounts(sub(interval="year", amount=29000))
    assert [(d.params["duration_months"], d.params["duration_years"]) for d in yearly] == [
        (12, 1),
        (12, 1),
    ]
    assert all(d.shown for d in yearly)
    monthly = discounts(sub())
    assert [d.params["duration_months"] for d in monthly] == [3, 3]
    assert all("duration_years" not in d.params for d in monthly)


def test_a_longer_discount_on_a_yearly_price_rounds_up_to_years(config):
    offer_create(
        config=config,
        reason="other",
        action="discount",
        params={"amount_off": 5000, "currency": "usd", "duration_months": 18},
    )
    decisions = offers_evaluate(
        config=config,
        reason="other",
        subscription=sub(interval="year", amount=29000),
        recent_discount_accepted=False,
    )
    amount = next(d for d in decisions if "amount_off" in d.params)
    assert amount.params == {
        "amount_off": 5000,
        "currency": "usd",
        "duration_months": 24,
        "duration_years": 2,
    }


@pytest.mark.parametrize(
    ("interval", "count", "shown"),
    [
        ("month", 1, True),
        ("week", 1, True),
        ("day", 1, True),
        ("year", 1, False),
        ("month", 3, False),
    ],
)
def test_pause_is_held_back_for_periods_longer_than_a_month(config, interval, count, shown):
    offer_create(config=config, reason="other", action="pause", params={"months_options": [1, 2]})
    decision = _decisions(config, sub(interval=interval, interval_count=count))["pause"]
    assert decision.shown is shown
    assert decision.reason == (None if shown else "billing_period_too_long")
