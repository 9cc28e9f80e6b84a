"""Segment flows end to end against the emulator: which flow a session gets and why, and
that flow's reasons and offers on the hosted page, through the flow API, in direct cancel
and on Stripe."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
from rest_framework.test import APIClient

from offers.selectors import flow_config_get
from offers.services import flow_create, offer_create
from sessions_app import execution
from sessions_app.models import Session
from webhooks.models import Event

from .conftest import SEED_KEY, FlowClient, stripe_subscription

pytestmark = pytest.mark.django_db

DAY = 86400


@dataclass
class Catalog:
    product_id: str
    monthly_price_id: str
    annual_price_id: str


def _catalog(emulator) -> Catalog:  # type: ignore[no-untyped-def]
    client = emulator.client(SEED_KEY)
    product = client.v1.products.create({"name": "Pro"})
    monthly = client.v1.prices.create(
        {
            "product": product.id,
            "unit_amount": 2900,
            "currency": "usd",
            "recurring": {"interval": "month"},
        }
    )
    annual = client.v1.prices.create(
        {
            "product": product.id,
            "unit_amount": 29000,
            "currency": "usd",
            "recurring": {"interval": "year"},
        }
    )
    return Catalog(product.id, monthly.id, annual.id)


def _subscriber(emulator, price_id: str, *, days_ago: int = 0, country: str | None = None):  # type: ignore[no-untyped-def]
    """A new customer on ``price_id`` whose subscription began ``days_ago`` days back."""
    client = emulator.client(SEED_KEY)
    customer: dict = {"email": f"s{time.monotonic_ns()}@example.com", "name": "Sam"}
    if country:
        customer["address"] = {"country": country, "city": "Berlin"}
    made = client.v1.customers.create(customer)
    params: dict = {"customer": made.id, "items": [{"price": price_id}]}
    if days_ago:
        params["backdate_start_date"] = int(time.time()) - days_ago * DAY
    subscription = client.v1.subscriptions.create(params)
    return made.id, subscription.id


def _create(shop, customer_id: str, subscription_id: str, **body):  # type: ignore[no-untyped-def]
    response = shop.client.post(
        "/api/v1/sessions",
        {"customer_id": customer_id, "subscription_id": subscription_id, **body},
    )
    assert response.status_code == 201, response.content
    return response.json()


@pytest.fixture
def catalog(emulator) -> Catalog:  # type: ignore[no-untyped-def]
    return _catalog(emulator)


@pytest.fixture
def segmented(shop, catalog):  # type: ignore[no-untyped-def]
    """Annual Pro customers of over a year get one flow, monthly ones in their first month
    another; everybody else the default."""
    config = flow_config_get(tenant=shop.tenant, livemode=False)
    veterans = flow_create(
        config=config,
        name="Annual Pro, over a year",
        priority=1,
        rule={
            "product_ids": [catalog.product_id],
            "interval": "year",
            "tenure_days": {"min": 366},
        },
        reasons=["too_expensive", "business_closing"],
    )
    newcomers = flow_create(
        config=config,
        name="Monthly, first month",
        priority=2,
        rule={"interval": "month", "tenure_days": {"max": 30}},
        reasons=["not_using_enough", "too_expensive", "other"],
    )
    offer_create(
        config=config,
        flow=veterans,
        reason="too_expensive",
        action="discount",
        params={"percent_off": 20, "duration_months": 3},
    )
    offer_create(
        config=config,
        flow=veterans,
        reason="too_expensive",
        action="pause",
        params={"months_options": [1, 2]},
    )
    offer_create(
        config=config,
        flow=newcomers,
        reason="too_expensive",
        action="discount",
        params={"percent_off": 50, "duration_months": 1},
    )
    return veterans, newcomers


def _reasons_on_page(html: str) -> list[str]:
    return re.findall(r'name="reason" value="([a-z_]+)"', html)


def test_annual_veterans_and_monthly_newcomers_get_different_flows(
    shop, emulator, catalog, segmented
):
    veterans, newcomers = segmented
    annual_customer, annual_sub = _subscriber(emulator, catalog.annual_price_id, days_ago=400)
    monthly_customer, monthly_sub = _subscriber(emulator, catalog.monthly_price_id)

    annual = _create(shop, annual_customer, annual_sub)
    monthly = _create(shop, monthly_customer, monthly_sub)

    # The API says which flow each session got.
    body = shop.client.get(f"/api/v1/sessions/{annual['id']}").json()
    assert body["flow"] == {"id": veterans.id, "name": "Annual Pro, over a year"}
    body = shop.client.get(f"/api/v1/sessions/{monthly['id']}").json()
    assert body["flow"] == {"id": newcomers.id, "name": "Monthly, first month"}

    # And why: each flow tried, with the first condition that failed.
    session = Session.objects.get(pk=monthly["id"])
    assert session.subscription_snapshot["start_date"]
    assert session.flow_match["tried"] == [
        {
            "flow_id": veterans.id,
            "name": "Annual Pro, over a year",
            "matched": False,
            "failed": {"condition": "interval", "expected": ["year"], "value": "month"},
        },
        {"flow_id": newcomers.id, "name": "Monthly, first month", "matched": True},
    ]
    assert Session.objects.get(pk=annual["id"]).flow_match["tried"] == [
        {"flow_id": veterans.id, "name": "Annual Pro, over a year", "matched": True}
    ]

    # The hosted page asks each flow's own reasons, in its order.
    browser = FlowClient()
    annual_path, monthly_path = urlsplit(annual["url"]).path, urlsplit(monthly["url"]).path
    assert _reasons_on_page(browser.get(annual_path).content.decode()) == [
        "too_expensive",
        "business_closing",
    ]
    assert _reasons_on_page(browser.get(monthly_path).content.decode()) == [
        "not_using_enough",
        "too_expensive",
        "other",
    ]

    # ...and shows each flow's own offers for the same reason.
    browser.post(annual_path, {"step": "reason", "reason": "too_expensive"})
    annual_offers = browser.get(annual_path).content.decode()
    assert "20% off your next year" in annual_offers
    assert "50% off" not in annual_offers
    # A monthly pause means nothing to a yearly invoice: held back.
    assert 'value="pause"' not in annual_offers
    considered = Session.objects.get(pk=annual["id"]).offers_considered
    assert {o["action"]: o["reason"] for o in considered if not o["shown"]}["pause"] == (
        "billing_period_too_long"
    )
    browser.post(monthly_path, {"step": "reason", "reason": "too_expensive"})
    monthly_offers = browser.get(monthly_path).content.decode()
    assert "50% off for 1 month" in monthly_offers and "20% off" not in monthly_offers

    # The annual discount, taken, is a coupon that lasts until after the yearly invoice.
    browser.post(annual_path, {"step": "offer", "action": "discount"})
    browser.post(annual_path, {"step": "confirm"})
    execution.session_execute(session_id=annual["id"])
    done = Session.objects.get(pk=annual["id"])
    assert done.status == "completed" and done.outcome_details["duration_months"] == 12
    stripe = stripe_subscription(emulator, annual_sub)
    [discount] = stripe["discounts"]
    coupon_id = (discount.get("source") or {}).get("coupon") or discount.get("coupon")
    coupon_id = coupon_id["id"] if isinstance(coupon_id, dict) else coupon_id
    coupon = emulator.client(SEED_KEY).v1.coupons.retrieve(coupon_id)
    assert (coupon.percent_off, coupon.duration, coupon.duration_in_months) == (20, "repeating", 12)


def test_a_new_annual_customer_gets_the_default_flow(shop, emulator, catalog, segmented):
    customer, subscription = _subscriber(emulator, catalog.annual_price_id, days_ago=40)
    created = _create(shop, customer, subscription)
    session = Session.objects.get(pk=created["id"])
    assert session.flow_id == ""
    [veterans, newcomers] = session.flow_match["tried"]
    assert veterans["failed"] == {
        "condition": "tenure_days",
        "expected": {"min": 366},
        "value": 40,
    }
    assert newcomers["failed"]["condition"] == "interval"
    assert shop.client.get(f"/api/v1/sessions/{created['id']}").json()["flow"] is None
    # The default flow: the configuration's reasons and its offers without a flow.
    config = flow_config_get(tenant=shop.tenant, livemode=False)
    page = FlowClient().get(urlsplit(created["url"]).path).content.decode()
    assert _reasons_on_page(page) == config.reasons


def test_the_flow_api_serves_the_flows_reasons_and_offers(shop, emulator, catalog, segmented):
    customer, subscription = _subscriber(emulator, catalog.monthly_price_id)
    token = _create(shop, customer, subscription)["token"]
    subscriber = APIClient()
    subscriber.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    flow = subscriber.get("/api/v1/flow").json()
    assert [r["code"] for r in flow["reasons"]] == ["not_using_enough", "too_expensive", "other"]

    refused = subscriber.post("/api/v1/flow/survey", {"reason": "business_closing"}, format="json")
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "validation_error"

    answer = subscriber.post("/api/v1/flow/survey", {"reason": "too_expensive"}, format="json")
    assert answer.status_code == 200, answer.content
    offers = answer.json()["offers"]
    assert [(o["action"], o["title"]) for o in offers] == [("discount", "50% off for 1 month")]

    # An annual veteran's flow, through the same API: the discount runs a whole year.
    customer, subscription = _subscriber(emulator, catalog.annual_price_id, days_ago=700)
    veteran = APIClient()
    veteran.credentials(
        HTTP_AUTHORIZATION=f"Bearer {_create(shop, customer, subscription)['token']}"
    )
    flow = veteran.get("/api/v1/flow").json()
    assert [r["code"] for r in flow["reasons"]] == ["too_expensive", "business_closing"]
    answer = veteran.post("/api/v1/flow/survey", {"reason": "too_expensive"}, format="json")
    [discount] = answer.json()["offers"]  # the pause is held back for a yearly price
    assert discount["title"] == "20% off your next year"
    assert discount["params"]["duration_months"] == 12
    assert discount["params"]["duration_years"] == 1
    explained = veteran.get("/api/v1/flow?explain=1").json()["ineligible_offers"]
    assert [(o["action"], o["reason"]) for o in explained] == [
        ("extend_trial", "not_trialing"),
        ("pause", "billing_period_too_long"),
    ]


def test_the_session_created_webhook_names_the_flow(shop, emulator, catalog, segmented):
    veterans, _ = segmented
    customer, subscription = _subscriber(emulator, catalog.annual_price_id, days_ago=500)
    created = _create(shop, customer, subscription)
    event = Event.objects.get(tenant=shop.tenant, type="session.created")
    data = event.payload["data"]
    assert data["session_id"] == created["id"]
    assert data["flow"] == {"id": veterans.id, "name": "Annual Pro, over a year"}


def test_the_customers_country_is_read_only_when_a_rule_asks(shop, emulator, catalog):
    customer, subscription = _subscriber(emulator, catalog.monthly_price_id, country="DE")
    first = _create(shop, customer, subscription)
    # No rule asks: MRRX keeps no part of the address.
    assert "customer_country" not in Session.objects.get(pk=first["id"]).subscription_snapshot
    # Over (as an expired session is), so that the subscription may start another.
    Session.objects.filter(pk=first["id"]).update(status="expired")

    config = flow_config_get(tenant=shop.tenant, livemode=False)
    france = flow_create(config=config, name="France", rule={"countries": ["FR"]})
    dach = flow_create(config=config, name="DACH", rule={"countries": ["DE", "AT", "CH"]})
    second = Session.objects.get(pk=_create(shop, customer, subscription)["id"])
    assert second.subscription_snapshot["customer_country"] == "DE"
    assert second.flow_id == dach.id
    assert second.flow_match["tried"][0] == {
        "flow_id": france.id,
        "name": "France",
        "matched": False,
        "failed": {"condition": "countries", "expected": ["FR"], "value": "DE"},
    }


def test_context_and_metadata_choose_the_flow(shop, emulator, catalog):
    config = flow_config_get(tenant=shop.tenant, livemode=False)
    big = flow_create(
        config=config,
        name="Big teams",
        rule={
            "context": {"plan": {"in": ["team", "enterprise"]}},
            "metadata": {"seats": {"min": 10}},
        },
    )
    customer, subscription = _subscriber(emulator, catalog.monthly_price_id)
    created = _create(
        shop, customer, subscription, context={"plan": "enterprise"}, metadata={"seats": "25"}
    )
    assert Session.objects.get(pk=created["id"]).flow_id == big.id

    other_customer, other_subscription = _subscriber(emulator, catalog.monthly_price_id)
    small = _create(
        shop, other_customer, other_subscription, context={"plan": "team"}, metadata={"seats": "3"}
    )
    session = Session.objects.get(pk=small["id"])
    assert session.flow_id == ""
    assert session.flow_match["tried"][0]["failed"] == {
        "condition": "metadata.seats",
        "expected": {"min": 10},
        "value": "3",
    }


def test_another_workspaces_flows_are_never_used(shop, emulator, catalog, other_tenant):
    theirs = flow_config_get(tenant=other_tenant, livemode=False)
    flow_create(config=theirs, name="Everyone", rule={}, reasons=["other"])
    customer, subscription = _subscriber(emulator, catalog.monthly_price_id)
    created = _create(shop, customer, subscription)
    session = Session.objects.get(pk=created["id"])
    assert session.flow_id == "" and session.flow_match["tried"] == []


def test_direct_cancel_takes_the_reasons_of_the_subscriptions_flow(shop, emulator, catalog):
    config = flow_config_get(tenant=shop.tenant, livemode=False)
    flow_create(
        config=config,
        name="Annual",
        rule={"interval": "year"},
        reasons=["business_closing", "other"],
    )
    customer, subscription = _subscriber(emulator, catalog.annual_price_id)
    path = f"/api/v1/subscriptions/{subscription}/cancel"

    # The default flow asks about price; this subscription's flow does not.
    refused = shop.client.post(path, {"reason": "too_expensive"})
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["code"] == "validation_error"
    assert error["details"] == {
        "reason": "one of the reasons of the subscription's flow 'Annual': business_closing, other"
    }
    assert not Session.objects.filter(subscription_id=subscription).exists()
    assert stripe_subscription(emulator, subscription)["cancel_at_period_end"] is False

    done = shop.client.post(path, {"reason": "business_closing"})
    assert done.status_code == 200, done.content
    assert done.json()["flow"]["name"] == "Annual"
    assert stripe_subscription(emulator, subscription)["cancel_at_period_end"] is True
