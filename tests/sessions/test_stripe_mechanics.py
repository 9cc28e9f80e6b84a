"""Pauses, coupons and plan changes behave on Stripe as the subscriber's page said: both
pauses with the state Stripe shows, the three coupon policies over a customer's and a
subscription's own discount, the next-invoice preview against what Stripe then bills, and
a customer's several subscriptions told apart."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils.dateparse import parse_datetime
from rest_framework.test import APIClient

from offers.selectors import flow_config_get
from offers.services import flow_config_update, offer_create, offer_delete
from sessions_app import execution
from sessions_app.models import Session
from sessions_app.pauses import pauses_end_due

from .conftest import SEED_KEY, FlowClient, stripe_subscription

pytestmark = pytest.mark.django_db


def _only(shop, action: str, params: dict, reason: str = "too_expensive") -> None:  # type: ignore[no-untyped-def]
    """The reason offers just this one thing."""
    config = flow_config_get(tenant=shop.tenant, livemode=False)
    flow_config_update(config=config, trial_extension_first=False)
    for offer in config.offers.filter(reason=reason):
        offer_delete(offer=offer)
    offer_create(config=config, reason=reason, action=action, params=params)


def _walk(shop, **create):  # type: ignore[no-untyped-def]
    """A session answered with too_expensive through the flow API: (id, client, offers)."""
    body = shop.create(**create).json()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {body['token']}")
    survey = client.post(
        "/api/v1/flow/survey?explain=1", {"reason": "too_expensive"}, format="json"
    )
    assert survey.status_code == 200, survey.content
    return body["id"], client, survey.json()


def _take(client, session_id: str, offer: dict, **extra) -> Session:  # type: ignore[no-untyped-def]
    response = client.post(
        "/api/v1/flow/execute",
        {"action": offer["action"], "offer_id": offer["id"], **extra},
        format="json",
    )
    assert response.status_code == 202, response.content
    execution.session_execute(session_id=session_id)
    session = Session.objects.get(pk=session_id)
    assert session.status == "completed", session.failure
    return session


# --- pause ------------------------------------------------------------------------------


def test_pause_collection_keeps_the_subscription_active_with_the_chosen_behavior(shop, emulator):
    _only(shop, "pause", {"months_options": [1, 2], "behavior": "keep_as_draft"})
    session_id, client, flow = _walk(shop)
    [offer] = flow["offers"]
    assert offer["params"]["pause_method"] == "pause_collection"

    session = _take(client, session_id, offer, pause_duration_days=60)

    raw = stripe_subscription(emulator, shop.seeded.subscription_id)
    assert raw["status"] == "active"
    assert raw["pause_collection"]["behavior"] == "keep_as_draft"
    resume = parse_datetime(session.outcome_details["resume_date"])
    assert raw["pause_collection"]["resumes_at"] == int(resume.timestamp())
    assert session.outcome_details["pause_method"] == "pause_collection"
    assert session.outcome_details["pause_behavior"] == "keep_as_draft"
    assert session.outcome_details["pause_duration_days"] == 60


def test_subscription_pause_pauses_on_stripe_and_resumes_on_the_date(shop, emulator):
    _only(shop, "pause", {"months_options": [1], "method": "subscription_pause"})
    session_id, client, flow = _walk(shop)
    [offer] = flow["offers"]
    assert offer["params"]["pause_method"] == "subscription_pause"

    session = _take(client, session_id, offer)

    raw = stripe_subscription(emulator, shop.seeded.subscription_id)
    assert raw["status"] == "paused"
    assert raw["pause_collection"] is None
    assert raw["status_details"]["paused"]["subscription"]["type"] == "pause_requested"
    assert session.outcome_details["pause_method"] == "subscription_pause"
    assert session.outcome_details["pause_behavior"] is None
    resume = parse_datetime(session.outcome_details["resume_date"])
    # The hosted result and the flow API say until when.
    done = client.get("/api/v1/flow").json()
    assert done["outcome"]["details"]["pause_method"] == "subscription_pause"

    # Not before its date.
    assert pauses_end_due(now=resume - timedelta(hours=1)) == {
        "resumed": 0,
        "skipped": 0,
        "failed": 0,
    }
    assert stripe_subscription(emulator, shop.seeded.subscription_id)["status"] == "paused"

    assert pauses_end_due(now=resume + timedelta(minutes=1))["resumed"] == 1

    raw = stripe_subscription(emulator, shop.seeded.subscription_id)
    assert raw["status"] == "active"
    assert raw["status_details"] is None
    session.refresh_from_db()
    assert "resumed_at" in session.outcome_details
    # Once only.
    assert pauses_end_due(now=resume + timedelta(days=1))["resumed"] == 0
    resumes = emulator.requests(
        method="POST", path=f"/v1/subscriptions/{shop.seeded.subscription_id}/resume"
    )
    assert len(resumes) == 1


def test_a_native_pause_ended_by_someone_else_is_left_alone(shop, emulator):
    _only(shop, "pause", {"months_options": [1], "method": "subscription_pause"})
    session_id, client, flow = _walk(shop)
    session = _take(client, session_id, flow["offers"][0])
    emulator.client(SEED_KEY).v1.subscriptions.resume(shop.seeded.subscription_id)
    resume = parse_datetime(session.outcome_details["resume_date"])

    assert pauses_end_due(now=resume + timedelta(minutes=1))["skipped"] == 1

    assert not emulator.requests(
        method="POST",
        path=f"/v1/subscriptions/{shop.seeded.subscription_id}/resume",
        idempotency_key=f"{session_id}:pause:resume:resume",
    )
    session.refresh_from_db()
    assert "resume_skipped_at" in session.outcome_details


# --- coupons ----------------------------------------------------------------------------


def _discount_in_force(shop, emulator, level: str) -> None:  # type: ignore[no-untyped-def]
    client = emulator.client(SEED_KEY)
    client.v1.coupons.create({"id": "loyal10", "percent_off": 10, "duration": "forever"})
    if level == "customer":
        emulator.customer_discount(shop.seeded.customer_id, "loyal10")
    else:
        client.v1.subscriptions.update(
            shop.seeded.subscription_id, {"discounts": [{"coupon": "loyal10"}]}
        )


def _coupons(emulator, subscription_id: str) -> list[str]:  # type: ignore[no-untyped-def]
    raw = stripe_subscription(emulator, subscription_id)
    return [d["source"]["coupon"] for d in raw["discounts"]]


def _next_total(emulator, subscription_id: str) -> int:  # type: ignore[no-untyped-def]
    client = emulator.client(SEED_KEY)
    return client.v1.invoices.create_preview({"subscription": subscription_id}).total


@pytest.mark.parametrize("level", ["customer", "subscription"])
def test_skip_if_discounted_holds_the_offer_back_over_any_discount(shop, emulator, level):
    _discount_in_force(shop, emulator, level)
    _only(shop, "discount", {"percent_off": 25, "duration_months": 3})

    _session_id, _client, flow = _walk(shop)

    assert flow["offers"] == []
    assert [o["reason"] for o in flow["ineligible_offers"]] == ["discount_active"]
    assert _next_total(emulator, shop.seeded.subscription_id) == 2610


@pytest.mark.parametrize(
    ("level", "policy", "terms", "coupons", "total"),
    [
        (
            "customer",
            "replace",
            "You pay $21.75 per month instead of $26.10, in place of your current discount",
            ["mrrx_25pct_3m"],
            2175,
        ),
        (
            "subscription",
            "replace",
            "You pay $21.75 per month instead of $26.10, in place of your current discount",
            ["mrrx_25pct_3m"],
            2175,
        ),
        (
            "customer",
            "stack",
            "You pay $19.58 per month instead of $26.10, on top of your current discount",
            ["loyal10", "mrrx_25pct_3m"],
            1958,
        ),
        (
            "subscription",
            "stack",
            "You pay $19.58 per month instead of $26.10, on top of your current discount",
            ["loyal10", "mrrx_25pct_3m"],
            1958,
        ),
    ],
)
def test_replace_and_stack_bill_the_price_the_terms_showed(  # noqa: PLR0913
    shop, emulator, level, policy, terms, coupons, total
):
    _discount_in_force(shop, emulator, level)
    _only(shop, "discount", {"percent_off": 25, "duration_months": 3, "policy": policy})
    session_id, client, flow = _walk(shop)
    [offer] = flow["offers"]
    assert offer["terms"] == terms
    assert offer["params"]["discount_policy"] == policy

    session = _take(client, session_id, offer)

    assert _coupons(emulator, shop.seeded.subscription_id) == coupons
    assert _next_total(emulator, shop.seeded.subscription_id) == total
    assert session.outcome_details["discount_policy"] == policy
    if policy == "replace":
        assert session.outcome_details["replaced_coupon_ids"] == ["loyal10"]
    else:
        assert session.outcome_details["other_coupon_ids"] == ["loyal10"]


def test_without_a_discount_in_force_every_policy_just_applies(shop, emulator):
    _only(shop, "discount", {"percent_off": 25, "duration_months": 3, "policy": "stack"})
    session_id, client, flow = _walk(shop)
    [offer] = flow["offers"]
    assert offer["terms"] == "You pay $21.75 per month instead of $29.00"

    _take(client, session_id, offer)

    assert _coupons(emulator, shop.seeded.subscription_id) == ["mrrx_25pct_3m"]


# --- plan change preview ------------------------------------------------------------------


def _downgrade(shop, behavior: str) -> None:  # type: ignore[no-untyped-def]
    config = flow_config_get(tenant=shop.tenant, livemode=False)
    flow_config_update(config=config, proration_behavior=behavior)
    target = {
        "price_id": shop.seeded.basic_price_id,
        "amount": 1900,
        "currency": "usd",
        "interval": "month",
        "product_name": "Basic",
        "from_amount": 2900,
    }
    _only(shop, "downgrade", {"targets": {shop.seeded.pro_price_id: target}})


@pytest.mark.parametrize("behavior", ["create_prorations", "none", "always_invoice"])
def test_the_preview_shown_is_what_stripe_bills_after_the_change(shop, emulator, behavior):
    _downgrade(shop, behavior)
    session_id, client, flow = _walk(shop)
    [offer] = flow["offers"]
    shown = offer["params"]["next_invoice"]
    assert shown["proration_behavior"] == behavior
    stored = Session.objects.get(pk=session_id).offers_considered[0]["params"]["next_invoice"]

    _take(client, session_id, offer)

    raw = stripe_subscription(emulator, shop.seeded.subscription_id)
    assert raw["items"]["data"][0]["price"]["id"] == shop.seeded.basic_price_id
    state = emulator.state()["namespaces"]["platform:test"]["tables"]
    record = state["subscriptions"][shop.seeded.subscription_id]
    assert record["_proration_behavior"] == behavior
    if behavior == "always_invoice":
        made = [
            i
            for i in state["invoices"].values()
            if i["subscription"] == shop.seeded.subscription_id
            and i["billing_reason"] == "subscription_update"
        ]
        assert [i["total"] for i in made] == [stored["total"]]
        assert shown["amount_due"] == max(stored["total"], 0)
        assert shown["display"].startswith("Nothing to pay now. Includes a credit of $")
    else:
        after = emulator.client(SEED_KEY).v1.invoices.create_preview(
            {"subscription": shop.seeded.subscription_id}
        )
        assert after.amount_due == shown["amount_due"]
        assert after.total == stored["total"]
        if behavior == "none":
            assert shown["amount_due"] == 1900 and shown["proration_amount"] == 0
        else:
            assert shown["proration_amount"] < 0
            assert record["_proration_date"] == stored["proration_date"]


def test_the_hosted_confirm_step_shows_the_next_invoice(shop, emulator):
    _downgrade(shop, "create_prorations")
    body = shop.create().json()
    browser = FlowClient()
    url = f"/c/{body['token']}"
    browser.get(url)
    browser.post(url, {"step": "reason", "reason": "too_expensive"})
    page = browser.post(url, {"step": "offer", "action": "downgrade"}, follow=True)
    text = page.content.decode()

    preview = Session.objects.get(pk=body["id"]).action_params["next_invoice"]
    assert 'id="next-invoice"' in text
    dollars = f"${preview['amount_due'] // 100}.{preview['amount_due'] % 100:02d}"
    assert f"Your next bill: {dollars} on" in text
    assert "Includes a credit of" in text


# --- several subscriptions ----------------------------------------------------------------


def test_each_session_names_its_own_subscription(shop, emulator):
    client = emulator.client(SEED_KEY)
    client.v1.subscriptions.update(shop.seeded.subscription_id, {"description": "Team Acme"})
    emulator.advance(3 * 86400)
    other = client.v1.subscriptions.create(
        {
            "customer": shop.seeded.customer_id,
            "items": [{"price": shop.seeded.pro_price_id}],
            "description": "Side project",
        }
    )

    first = shop.create().json()
    second = shop.create(subscription_id=other.id).json()

    pages = {}
    for body in (first, second):
        browser = FlowClient()
        pages[body["id"]] = browser.get(f"/c/{body['token']}").content.decode()
    assert "Team Acme, started on" in pages[first["id"]]
    assert "Side project" not in pages[first["id"]]
    assert "Side project, started on" in pages[second["id"]]
    assert "Team Acme" not in pages[second["id"]]

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {second['token']}")
    summary = api.get("/api/v1/flow").json()["subscription"]
    assert summary["description"] == "Side project"
    assert summary["started_at"].endswith("Z")
    assert summary["display_name"].startswith("Pro Plan · $29.00 / month · Side project, ")
