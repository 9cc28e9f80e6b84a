"""What each arm's subscriber sees: the holdout only the survey and the cancel
confirmation (hosted page without JavaScript, and the flow API), a variant its own offers
for the reasons it names and the workspace's for the others."""

from __future__ import annotations

import html
from urllib.parse import urlsplit

import pytest
from rest_framework.test import APIClient

from sessions_app import execution
from sessions_app.models import Session

from .conftest import FlowClient, start_experiment, stripe_subscription

pytestmark = pytest.mark.django_db


def _start(shop) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    body = shop.create(return_url="https://app.example.com/account").json()
    return body["id"], body["token"]


def _page(browser: FlowClient, path: str) -> str:
    response = browser.get(path)
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def _subscriber(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


# --- holdout ------------------------------------------------------------------------------


def test_holdout_sees_the_survey_then_the_cancel_confirmation_without_javascript(shop, emulator):
    start_experiment(shop.tenant, weights=(0, 0, 1))
    session_id, token = _start(shop)
    path = urlsplit(f"/c/{token}").path
    browser = FlowClient()

    survey = _page(browser, path)
    assert 'name="reason" value="too_expensive"' in survey
    response = browser.post(path, {"step": "reason", "reason": "too_expensive"})
    assert response.status_code == 302

    confirm = _page(browser, path)
    # Straight to the confirmation of the cancellation: no offer, no "No thanks" step.
    assert "at the end of the current period" in confirm
    assert "% off" not in confirm and 'value="discount"' not in confirm
    assert 'id="no-thanks"' not in confirm
    session = Session.objects.get(pk=session_id)
    assert session.experiment_arm == "holdout"
    assert session.offers_considered == [] and session.survey_reason == "too_expensive"
    assert session.selected_action == "cancel"

    browser.post(path, {"step": "confirm", "action": "cancel", "feedback": ""})
    execution.session_execute(session_id=session_id)
    session.refresh_from_db()
    assert session.status == "completed" and session.outcome_action == "cancel"
    assert stripe_subscription(emulator, shop.seeded.subscription_id)["cancel_at_period_end"]


def test_holdout_gets_no_trial_extension_first(trial_shop):
    start_experiment(trial_shop.tenant, weights=(0, 0, 1))
    session_id, token = _start(trial_shop)
    path = f"/c/{token}"
    browser = FlowClient()
    browser.get(path)
    browser.post(path, {"step": "reason", "reason": "not_using_enough"})
    page = _page(browser, path)
    assert "at the end of the current period" in page and 'value="extend_trial"' not in page
    session = Session.objects.get(pk=session_id)
    assert session.offers_considered == [] and session.selected_action == "cancel"


def test_without_an_experiment_a_trialing_subscriber_is_offered_the_extension(trial_shop):
    # The same walk outside an experiment, so the test above cannot pass for another reason.
    session_id, token = _start(trial_shop)
    browser = FlowClient()
    browser.get(f"/c/{token}")
    browser.post(f"/c/{token}", {"step": "reason", "reason": "not_using_enough"})
    offers = Session.objects.get(pk=session_id).offers_considered
    assert offers[0]["action"] == "extend_trial" and offers[0]["shown"]


def test_holdout_in_the_flow_api_lists_no_offer_and_only_cancel_goes(shop, emulator):
    experiment = start_experiment(shop.tenant, weights=(0, 0, 1))
    session_id, token = _start(shop)
    subscriber = _subscriber(token)

    flow = subscriber.get("/api/v1/flow")
    assert flow.status_code == 200
    # The subscriber is never told about the experiment.
    assert experiment.pk not in flow.content.decode() and "holdout" not in flow.content.decode()

    answer = subscriber.post(
        "/api/v1/flow/survey?explain=1", {"reason": "too_expensive"}, format="json"
    )
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["offers"] == [] and body["ineligible_offers"] == []
    assert body["cancel"]["action"] == "cancel"

    refused = subscriber.post("/api/v1/flow/execute", {"action": "discount"}, format="json")
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "action_not_available"
    assert Session.objects.get(pk=session_id).status == "offer_shown"

    done = subscriber.post("/api/v1/flow/execute", {"action": "cancel"}, format="json")
    assert done.status_code == 202 and done.json()["status"] == "executing"
    execution.session_execute(session_id=session_id)
    assert Session.objects.get(pk=session_id).outcome_action == "cancel"


# --- variants -----------------------------------------------------------------------------


def test_the_pct30_arm_is_offered_thirty_percent_off_in_place_of_twenty(shop):
    experiment = start_experiment(shop.tenant, weights=(0, 1, 0))
    session_id, token = _start(shop)
    browser = FlowClient()
    browser.get(f"/c/{token}")
    browser.post(f"/c/{token}", {"step": "reason", "reason": "too_expensive"})

    page = _page(browser, f"/c/{token}")
    assert "30% off for 3 months" in page and "20% off" not in page
    assert "You pay $20.30 per month instead of $29.00" in page
    session = Session.objects.get(pk=session_id)
    arm = experiment.arms.get(key="pct30")
    # The configured 20% and downgrade are not considered at all; the trial extension
    # that leads every list is, and held back (not trialing).
    assert [o["action"] for o in session.offers_considered] == ["extend_trial", "discount"]
    offer = session.offers_considered[1]
    assert offer["offer_id"] == f"discount:{arm.pk}:too_expensive:1"
    assert offer["params"]["percent_off"] == 30 and offer["params"]["duration_months"] == 3
    assert offer["shown"]

    # Taken, it is the arm's 30% that is applied.
    browser.post(f"/c/{token}", {"step": "offer", "action": "discount"})
    assert Session.objects.get(pk=session_id).action_params["percent_off"] == 30


def test_the_pct20_arm_keeps_the_workspaces_twenty_percent(shop):
    start_experiment(shop.tenant, weights=(1, 0, 0))
    session_id, token = _start(shop)
    answer = _subscriber(token).post(
        "/api/v1/flow/survey", {"reason": "too_expensive"}, format="json"
    )
    [discount] = [o for o in answer.json()["offers"] if o["action"] == "discount"]
    assert discount["title"] == "20% off for 3 months"
    assert discount["id"].startswith("discount:ofr_")
    assert Session.objects.get(pk=session_id).experiment_arm == "pct20"


def test_a_reason_the_arm_does_not_name_keeps_the_configured_offers(shop):
    start_experiment(shop.tenant, weights=(0, 1, 0))
    _session_id, token = _start(shop)
    answer = _subscriber(token).post(
        "/api/v1/flow/survey", {"reason": "not_using_enough"}, format="json"
    )
    [pause] = answer.json()["offers"]
    assert pause["action"] == "pause" and pause["id"].startswith("pause:ofr_")


def test_an_arm_offer_is_held_back_like_a_configured_one(shop, emulator):
    # A subscription with a discount already on it is not offered another, arm or not.
    start_experiment(shop.tenant, weights=(0, 1, 0))
    client = emulator.client("sk_test_seed")
    coupon = client.v1.coupons.create({"percent_off": 10, "duration": "forever"})
    client.v1.subscriptions.update(
        shop.seeded.subscription_id, {"discounts": [{"coupon": coupon.id}]}
    )
    session_id, token = _start(shop)
    answer = _subscriber(token).post(
        "/api/v1/flow/survey?explain=1", {"reason": "too_expensive"}, format="json"
    )
    body = answer.json()
    assert body["offers"] == []
    held_back = [(o["action"], o["reason"]) for o in body["ineligible_offers"]]
    assert held_back == [("extend_trial", "not_trialing"), ("discount", "discount_active")]
