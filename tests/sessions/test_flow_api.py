"""The flow API (``/api/v1/flow``...) through the session token, as a merchant's own cancel
screen calls it: steps, words, errors, tenancy, the limit and CORS.

The action itself runs through ``execution.session_execute`` here (what the worker calls);
tests/flow_worker/test_flow_api_in_a_worker.py runs it in a real Celery worker.
"""

from __future__ import annotations

import html
import time
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings
from django.utils import timezone
from rest_framework.test import APIClient

from offers.selectors import flow_config_get
from offers.services import flow_config_update, offer_update
from sessions_app import execution
from sessions_app.models import Session
from sessions_app.tokens import session_token
from tests.factories import TenantFactory

from .conftest import FlowClient, connect, seed, stripe_subscription

pytestmark = pytest.mark.django_db

ALLOWED_ORIGIN = "https://app.example.com"


def _start(shop) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    body = shop.create(return_url="https://app.example.com/account").json()
    return body["id"], body["token"]


def _subscriber(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def _token_of(client: APIClient) -> str:
    return client._credentials["HTTP_AUTHORIZATION"].removeprefix("Bearer ")


def _post(client: APIClient, path: str, data=None, **extra):  # type: ignore[no-untyped-def]
    return client.post(path, data, format="json", **extra)


def _status(session_id: str) -> str:
    return Session.objects.get(pk=session_id).status


def _error(response, code: str, status: int, sentence: str | None = None) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["code"] == code
    if sentence is not None:
        # The envelope leads the sentence with the code; the sentence itself is ours.
        assert error["message"].lower().endswith(sentence.lower()), error["message"]
    return error


@pytest.fixture
def started(shop):  # type: ignore[no-untyped-def]
    session_id, token = _start(shop)
    return session_id, _subscriber(token)


def _downgrade_to_basic(shop) -> None:  # type: ignore[no-untyped-def]
    config = flow_config_get(tenant=shop.tenant, livemode=False)
    target = {
        "price_id": shop.seeded.basic_price_id,
        "amount": 1900,
        "currency": "usd",
        "interval": "month",
        "product_name": "Basic",
        "from_amount": 2900,
    }
    for offer in config.offers.filter(action="downgrade"):
        offer_update(offer=offer, params={"targets": {shop.seeded.pro_price_id: target}})


# --- GET /api/v1/flow ------------------------------------------------------------------


def test_get_shows_the_session_as_the_subscriber_sees_it_and_marks_it_viewed(shop, started):
    session_id, subscriber = started
    shop.tenant.brand_color = "#0f766e"
    shop.tenant.logo.name = "logos/acme.png"
    shop.tenant.save()
    assert _status(session_id) == "created"

    response = subscriber.get("/api/v1/flow")

    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert body["id"] == session_id and body["status"] == "viewed"
    assert _status(session_id) == "viewed"
    assert body["subscription"]["product_name"] == "Pro Plan"
    assert body["subscription"]["price"] == {
        "amount": 2900,
        "currency": "usd",
        "interval": "month",
        "interval_count": 1,
        "display": "$29.00 / month",
    }
    assert body["subscription"]["current_period_end"].endswith("Z")
    assert body["subscription"]["period_display"].startswith("Current period ends ")
    assert body["subscription"]["trialing"] is False and body["subscription"]["paused"] is False
    assert body["reasons"][0] == {"code": "too_expensive", "label": "Too expensive"}
    assert body["reasons"][-1] == {"code": "other", "label": "Other"}
    assert body["workspace"] == {
        "name": shop.tenant.name,
        "brand_color": "#0f766e",
        "logo_url": f"{settings.PUBLIC_BASE_URL}{settings.MEDIA_URL}logos/acme.png",
    }
    assert body["reason"] is None and body["offers"] is None
    # A new workspace is strict click-to-cancel: cancelling is open before the survey.
    assert body["reason_required"] is False and body["cancel"]["action"] == "cancel"
    assert body["outcome"] is None and body["return_url"] is None
    assert body["feedback_requested"] is True
    # The hosted page shows the same plan line.
    page = FlowClient().get(f"/c/{_token_of(subscriber)}")
    assert "$29.00 / month" in html.unescape(page.content.decode())


def test_reasons_follow_the_workspaces_order(shop, started):
    _, subscriber = started
    config = flow_config_get(tenant=shop.tenant, livemode=False)
    flow_config_update(config=config, reasons=["other", "too_expensive"])
    reasons = subscriber.get("/api/v1/flow").json()["reasons"]
    assert [r["code"] for r in reasons] == ["other", "too_expensive"]


# --- POST /api/v1/flow/survey ----------------------------------------------------------


def test_survey_returns_the_offers_in_the_hosted_pages_words(shop, started):
    session_id, subscriber = started
    subscriber.get("/api/v1/flow")

    response = _post(subscriber, "/api/v1/flow/survey", {"reason": "not_using_enough"})

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "offer_shown"
    assert body["reason"] == {
        "code": "not_using_enough",
        "label": "Not using it enough",
        "other": None,
    }
    [pause] = body["offers"]  # the downgrade has no target: held back
    assert pause["action"] == "pause" and pause["id"].startswith("pause:")
    assert pause["title"] == "Pause your subscription"
    assert pause["terms"] == "No payments while paused"
    options = pause["params"]["pause_options"]
    assert [(o["months"], o["days"]) for o in options] == [(1, 30), (2, 60), (3, 90)]
    assert options[1]["label"] == "2 months"
    assert body["cancel"]["action"] == "cancel"
    assert body["cancel"]["title"] == "No thanks, cancel my subscription"
    assert body["cancel"]["terms"].startswith("You keep access until ")
    assert body["cancel"]["at_period_end"] is True
    assert body["ineligible_offers"] is None
    session = Session.objects.get(pk=session_id)
    assert session.status == "offer_shown" and session.survey_reason == "not_using_enough"
    # Word for word what the hosted page shows for this session.
    token = _token_of(subscriber)
    page = html.unescape(FlowClient().get(f"/c/{token}").content.decode())
    for text in (pause["title"], pause["terms"], pause["ends"], body["cancel"]["terms"]):
        assert text in page
    for option in options:
        assert option["until"] in page
    # GET shows the same offers while they are on screen.
    again = subscriber.get("/api/v1/flow").json()
    assert again["offers"] == body["offers"] and again["cancel"] == body["cancel"]


def test_survey_offers_carry_what_a_ui_needs_for_each_action(shop, trial_shop):
    _, token = _start(shop)
    subscriber = _subscriber(token)
    _downgrade_to_basic(shop)
    offers = _post(subscriber, "/api/v1/flow/survey", {"reason": "too_expensive"}).json()["offers"]
    by_action = {offer["action"]: offer for offer in offers}
    assert by_action["discount"]["title"] == "25% off for 3 months"
    assert by_action["discount"]["terms"] == "You pay $21.75 per month instead of $29.00"
    assert by_action["discount"]["params"] == {
        "percent_off": 25,
        "duration_months": 3,
        "discount_policy": "skip_if_discounted",
    }
    assert by_action["downgrade"]["title"] == "Switch to Basic"
    params = dict(by_action["downgrade"]["params"])
    preview = params.pop("next_invoice")
    assert params == {
        "new_price_id": shop.seeded.basic_price_id,
        "new_amount": 1900,
        "currency": "usd",
        "interval": "month",
        "product_name": "Basic",
    }
    # Stripe's preview: the renewal at 1900 less the credit for the unused time on 2900.
    assert preview["proration_behavior"] == "create_prorations"
    assert -1000 <= preview["proration_amount"] < 0
    assert preview["amount_due"] == 1900 + preview["proration_amount"]
    assert preview["display"].startswith("Your next bill: $")

    _, trial_token = _start(trial_shop)
    trial_offers = _post(
        _subscriber(trial_token), "/api/v1/flow/survey", {"reason": "missing_features"}
    ).json()
    extend = trial_offers["offers"][0]
    assert extend["action"] == "extend_trial" and extend["id"] == "extend_trial:default"
    assert extend["title"] == "14 more days of free trial"
    assert extend["params"] == {"extension_days": 14}
    assert trial_offers["subscription"]["trialing"] is True
    assert trial_offers["subscription"]["trial_end"].endswith("Z")


def test_survey_explain_lists_the_offers_held_back_and_why(started):
    _, subscriber = started
    body = _post(subscriber, "/api/v1/flow/survey?explain=1", {"reason": "too_expensive"}).json()
    assert [o["action"] for o in body["offers"]] == ["discount"]
    held_back = {(o["action"], o["reason"]) for o in body["ineligible_offers"]}
    assert held_back == {("extend_trial", "not_trialing"), ("downgrade", "no_cheaper_target")}
    assert all(o["id"] for o in body["ineligible_offers"])


def test_survey_from_a_new_session_marks_it_viewed_first(started):
    session_id, subscriber = started
    response = _post(subscriber, "/api/v1/flow/survey", {"reason": "too_expensive"})
    assert response.status_code == 200
    session = Session.objects.get(pk=session_id)
    assert session.status == "offer_shown" and session.viewed_at is not None


def test_the_reason_may_change_while_the_offers_are_shown(started):
    session_id, subscriber = started
    _post(subscriber, "/api/v1/flow/survey", {"reason": "too_expensive"})
    body = _post(
        subscriber, "/api/v1/flow/survey", {"reason": "other", "reason_other": "Moving abroad"}
    ).json()
    assert body["reason"] == {"code": "other", "label": "Other", "other": "Moving abroad"}
    assert Session.objects.get(pk=session_id).survey_reason_other == "Moving abroad"


def test_bad_survey_answers_leave_the_session_as_it_was(started):
    session_id, subscriber = started
    unknown = _post(subscriber, "/api/v1/flow/survey", {"reason": "bored"})
    assert _error(unknown, "validation_error", 400)["details"]["reason"]
    no_text = _post(subscriber, "/api/v1/flow/survey", {"reason": "other"})
    assert _error(no_text, "validation_error", 400)["details"]["reason_other"]
    extra = _post(subscriber, "/api/v1/flow/survey", {"reason": "other", "mood": "sad"})
    assert _error(extra, "validation_error", 400)["details"] == {"mood": ["is not a known field"]}
    missing = _post(subscriber, "/api/v1/flow/survey", {})
    assert "reason" in _error(missing, "validation_error", 400)["details"]
    wrong_type = _post(subscriber, "/api/v1/flow/survey", {"reason": ["too_expensive"]})
    _error(wrong_type, "validation_error", 400)
    broken = subscriber.post("/api/v1/flow/survey", "{not json", content_type="application/json")
    _error(broken, "invalid_request", 400)
    # Not even marked viewed: nothing of a refused answer is kept.
    session = Session.objects.get(pk=session_id)
    assert session.status == "created" and session.survey_reason == ""


# --- POST /api/v1/flow/execute ---------------------------------------------------------


def test_execute_takes_the_offer_and_the_outcome_shows_on_get(shop, started, emulator):
    session_id, subscriber = started
    offer = _post(subscriber, "/api/v1/flow/survey", {"reason": "not_using_enough"}).json()[
        "offers"
    ][0]

    response = _post(
        subscriber,
        "/api/v1/flow/execute",
        {
            "action": "pause",
            "offer_id": offer["id"],
            "pause_duration_days": 60,
            "feedback": "Taking a break",
        },
    )

    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "executing"
    assert body["choice"] == {"action": "pause", "title": "Pause for 2 months"}
    assert body["offers"] is None and body["outcome"] is None
    session = Session.objects.get(pk=session_id)
    assert session.status == "executing" and session.execution_attempts == 1
    assert session.action_params == {"months": 2, "days": 60}
    assert session.survey_feedback == "Taking a break"
    assert session.source == "flow"

    execution.session_execute(session_id=session_id)

    done = subscriber.get("/api/v1/flow").json()
    assert done["status"] == "completed"
    assert done["outcome"]["action"] == "pause"
    assert done["outcome"]["details"]["pause_duration_days"] == 60
    assert done["outcome"]["title"] == "Done"
    assert done["outcome"]["text"].startswith("Your subscription is paused until ")
    assert done["failure"] is None
    target = urlsplit(done["return_url"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == "https://app.example.com/account"
    assert parse_qs(target.query) == {"session_id": [session_id], "outcome": ["pause"]}
    verified = APIClient().post(
        "/api/v1/results/verify",
        {"token": target.fragment.removeprefix("result_token=")},
        format="json",
    )
    assert verified.status_code == 200 and verified.json()["outcome"]["action"] == "pause"
    stripe = stripe_subscription(emulator, shop.seeded.subscription_id)
    assert stripe["pause_collection"]["behavior"] == "void"


def test_execute_cancel_with_the_workspaces_timing_and_no_feedback_step(shop, started, emulator):
    session_id, subscriber = started
    config = flow_config_get(tenant=shop.tenant, livemode=False)
    flow_config_update(config=config, ask_feedback=False, cancel_timing="immediately")
    shown = _post(subscriber, "/api/v1/flow/survey", {"reason": "too_expensive"}).json()
    assert shown["feedback_requested"] is False
    assert shown["cancel"] == {
        "action": "cancel",
        "title": "No thanks, cancel my subscription",
        "terms": "Your subscription ends right away.",
        "at_period_end": False,
    }
    response = _post(subscriber, "/api/v1/flow/execute", {"action": "cancel"})
    assert response.status_code == 202
    assert response.json()["choice"]["title"] == "Cancel my subscription now"
    session = Session.objects.get(pk=session_id)
    assert session.action_params == {"at_period_end": False}
    assert session.survey_completed_at is not None and session.survey_feedback == ""
    execution.session_execute(session_id=session_id)
    done = subscriber.get("/api/v1/flow").json()
    assert done["outcome"]["text"] == "Your subscription is canceled."
    assert stripe_subscription(emulator, shop.seeded.subscription_id)["status"] == "canceled"


def test_a_failed_action_says_so_and_goes_back_without_a_result(shop, started):
    session_id, subscriber = started
    _post(subscriber, "/api/v1/flow/survey", {"reason": "too_expensive"})
    _post(subscriber, "/api/v1/flow/execute", {"action": "cancel"})
    Session.objects.filter(pk=session_id).update(
        status="failed", failure={"code": "stripe_error", "message": "internal detail"}
    )
    body = subscriber.get("/api/v1/flow").json()
    assert body["status"] == "failed" and body["outcome"] is None
    assert body["failure"]["title"] == "We could not complete that"
    assert "internal detail" not in str(body)
    assert body["return_url"] == "https://app.example.com/account"


def test_execute_before_the_survey_is_refused_with_a_clear_detail(shop, started):
    session_id, subscriber = started
    # Where the reason is optional (strict click-to-cancel), cancel may come first:
    # tests/sessions/test_click_to_cancel.py.
    shop.tenant.strict_click_to_cancel = False
    shop.tenant.save()
    subscriber.get("/api/v1/flow")
    response = _post(subscriber, "/api/v1/flow/execute", {"action": "cancel"})
    error = _error(
        response, "validation_error", 400, "answer the survey before choosing an action."
    )
    assert "survey" in error["details"]["reason"]
    assert _status(session_id) == "viewed"


def test_an_offer_not_shown_is_not_available(started):
    session_id, subscriber = started
    _post(subscriber, "/api/v1/flow/survey", {"reason": "too_expensive"})
    for body in (
        {"action": "extend_trial"},  # not trialing
        {"action": "downgrade"},  # no cheaper target
        {"action": "pause"},  # not among this reason's offers
    ):
        response = _post(subscriber, "/api/v1/flow/execute", body)
        error = _error(response, "action_not_available", 400, "is not available for this session.")
        assert error["details"]["action"] == body["action"]
    assert _status(session_id) == "offer_shown"


def test_an_offer_id_that_is_not_the_shown_offer_is_not_available(started):
    session_id, subscriber = started
    shown = _post(subscriber, "/api/v1/flow/survey", {"reason": "too_expensive"}).json()
    discount_id = shown["offers"][0]["id"]
    for body in (
        {"action": "discount", "offer_id": "discount:ofr_someone_elses"},
        {"action": "cancel", "offer_id": discount_id},
    ):
        response = _post(subscriber, "/api/v1/flow/execute", body)
        assert _error(response, "action_not_available", 400)["details"]["offer_id"]
    assert _status(session_id) == "offer_shown"


def test_bad_execute_bodies_change_nothing(started):
    session_id, subscriber = started
    _post(subscriber, "/api/v1/flow/survey", {"reason": "not_using_enough"})
    cases = [
        ({"action": "pause", "pause_duration_days": 45}, "pause_duration_days"),
        ({"action": "pause", "pause_duration_days": 150}, "pause_duration_days"),
        ({"action": "cancel", "pause_duration_days": 30}, "pause_duration_days"),
        ({"action": "pause", "pause_duration_days": "soon"}, "pause_duration_days"),
        ({"action": "refund"}, "action"),
        ({}, "action"),
        ({"action": "cancel", "feedback": "x" * 5001}, "feedback"),
        ({"action": "cancel", "coupon": "FREE"}, "coupon"),
    ]
    for body, field in cases:
        response = _post(subscriber, "/api/v1/flow/execute", body)
        assert field in _error(response, "validation_error", 400)["details"], body
    session = Session.objects.get(pk=session_id)
    assert session.status == "offer_shown" and session.selected_action == ""


def test_a_finished_or_running_session_is_already_completed(started):
    session_id, subscriber = started
    _post(subscriber, "/api/v1/flow/survey", {"reason": "too_expensive"})
    assert _post(subscriber, "/api/v1/flow/execute", {"action": "discount"}).status_code == 202
    again = _post(subscriber, "/api/v1/flow/execute", {"action": "cancel"})
    assert _error(again, "session_already_completed", 409)["details"]["status"] == "executing"
    survey = _post(subscriber, "/api/v1/flow/survey", {"reason": "other", "reason_other": "x"})
    _error(survey, "session_already_completed", 409)
    for status in ("completed", "failed"):
        Session.objects.filter(pk=session_id).update(status=status)
        response = _post(subscriber, "/api/v1/flow/execute", {"action": "cancel"})
        _error(response, "session_already_completed", 409, "this session is already finished.")
    session = Session.objects.get(pk=session_id)
    assert session.selected_action == "discount" and session.execution_attempts == 1


def test_an_expired_or_abandoned_session_is_gone(started):
    session_id, subscriber = started
    for status in ("expired", "abandoned"):
        Session.objects.filter(pk=session_id).update(status=status)
        _error(subscriber.get("/api/v1/flow"), "session_expired", 410, "this session has expired.")
        survey = _post(subscriber, "/api/v1/flow/survey", {"reason": "too_expensive"})
        _error(survey, "session_expired", 410)
        execute = _post(subscriber, "/api/v1/flow/execute", {"action": "cancel"})
        _error(execute, "session_expired", 410)
        assert _status(session_id) == status


# --- Tokens and tenancy ----------------------------------------------------------------


def test_bad_tampered_expired_or_missing_tokens_are_invalid(shop, started, make_client):
    session_id, subscriber = started
    token = _token_of(subscriber)
    session = Session.objects.get(pk=session_id)
    expired = session_token(
        session_id=session_id,
        tenant_id=session.tenant_id,
        livemode=False,
        expires_at=timezone.now() - timedelta(minutes=1),
    )
    tampered = token[:-3] + ("aaa" if not token.endswith("aaa") else "bbb")
    for bad in ("not-a-token", tampered, expired, shop.client.plaintext):
        for call in (
            lambda c: c.get("/api/v1/flow"),
            lambda c: _post(c, "/api/v1/flow/survey", {"reason": "too_expensive"}),
            lambda c: _post(c, "/api/v1/flow/execute", {"action": "cancel"}),
        ):
            response = call(_subscriber(bad))
            _error(response, "invalid_token", 401)
            assert b"Traceback" not in response.content
    expired_answer = _subscriber(expired).get("/api/v1/flow")
    _error(expired_answer, "invalid_token", 401, "the session token has expired.")
    missing = APIClient().get("/api/v1/flow")
    _error(missing, "invalid_token", 401, "Send it as 'Authorization: Bearer <session token>'.")
    basic = APIClient()
    basic.credentials(HTTP_AUTHORIZATION=f"Basic {token}")
    _error(basic.get("/api/v1/flow"), "invalid_token", 401)
    assert _status(session_id) == "created"


def test_a_token_signed_for_another_workspace_or_mode_reaches_nothing(shop, started, other_tenant):
    session_id, _ = started
    session = Session.objects.get(pk=session_id)
    for tenant_id, livemode in ((other_tenant.pk, False), (session.tenant_id, True)):
        forged = session_token(
            session_id=session_id,
            tenant_id=tenant_id,
            livemode=livemode,
            expires_at=session.expires_at,
        )
        _error(_subscriber(forged).get("/api/v1/flow"), "invalid_token", 401)
        response = _post(_subscriber(forged), "/api/v1/flow/survey", {"reason": "too_expensive"})
        _error(response, "invalid_token", 401)
    assert _status(session_id) == "created"


def test_another_workspaces_session_token_acts_on_its_own_session_only(
    shop, started, emulator, make_client
):
    session_id, _ = started
    other = TenantFactory(return_url_allowlist=["https://other.example.com"])
    connect(other)
    seeded = seed(emulator, email="other@example.com")
    created = make_client(other).post(
        "/api/v1/sessions",
        {"customer_id": seeded.customer_id, "subscription_id": seeded.subscription_id},
    )
    other_id, other_token = created.json()["id"], created.json()["token"]
    theirs = _subscriber(other_token)
    assert theirs.get("/api/v1/flow").json()["id"] == other_id
    assert _post(theirs, "/api/v1/flow/survey", {"reason": "too_expensive"}).status_code == 200
    assert _post(theirs, "/api/v1/flow/execute", {"action": "cancel"}).status_code == 202
    assert _status(other_id) == "executing"
    assert _status(session_id) == "created"
    # Their origin is not ours, nor ours theirs.
    response = theirs.get("/api/v1/flow", HTTP_ORIGIN=ALLOWED_ORIGIN)
    _error(response, "insufficient_permissions", 403)


# --- The limit -------------------------------------------------------------------------


def _a_fresh_window() -> None:
    # The limit counts in fixed one-minute windows: start well inside one, so that eleven
    # quick calls fall into the same window.
    left = 60 - time.time() % 60
    if left < 10:
        time.sleep(left + 0.1)


def test_the_eleventh_call_in_a_minute_is_rate_limited(shop, started, emulator):
    session_id, subscriber = started
    _, other_token = _start_second(shop, emulator)
    _a_fresh_window()
    calls = [subscriber.get("/api/v1/flow") for _ in range(5)]
    calls += [
        _post(subscriber, "/api/v1/flow/survey", {"reason": "too_expensive"}) for _ in range(5)
    ]
    assert all(r.status_code == 200 for r in calls)
    assert [r["X-RateLimit-Remaining"] for r in calls] == [str(n) for n in range(9, -1, -1)]
    assert all(r["X-RateLimit-Limit"] == "10" for r in calls)

    limited = _post(subscriber, "/api/v1/flow/execute", {"action": "cancel"})

    _error(limited, "rate_limited", 429)
    assert int(limited["Retry-After"]) >= 1
    assert limited["X-RateLimit-Remaining"] == "0" and limited["X-RateLimit-Reset"]
    assert _status(session_id) == "offer_shown"  # the limited execute did nothing
    # Per session: another session's calls are counted apart.
    assert _subscriber(other_token).get("/api/v1/flow").status_code == 200


def _start_second(shop, emulator):  # type: ignore[no-untyped-def]
    """A second session in the same workspace, for another subscriber."""
    seeded = seed(emulator, email="second@example.com")
    body = shop.client.post(
        "/api/v1/sessions",
        {"customer_id": seeded.customer_id, "subscription_id": seeded.subscription_id},
    ).json()
    return body["id"], body["token"]


# --- CORS ------------------------------------------------------------------------------


def test_an_allowlisted_origin_may_read_answers_and_errors(started):
    _, subscriber = started
    ok = subscriber.get("/api/v1/flow", HTTP_ORIGIN=ALLOWED_ORIGIN)
    assert ok.status_code == 200
    assert ok["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
    assert "Origin" in ok["Vary"]
    assert "X-RateLimit-Remaining" in ok["Access-Control-Expose-Headers"]
    assert "Access-Control-Allow-Credentials" not in ok
    refused = _post(
        subscriber, "/api/v1/flow/execute", {"action": "pause"}, HTTP_ORIGIN=ALLOWED_ORIGIN
    )
    assert refused.status_code == 400
    assert refused["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN


def test_an_allowlist_entry_with_a_path_allows_its_origin(shop, started):
    _, subscriber = started
    shop.tenant.return_url_allowlist = ["https://Shop.Example.com:443/account/cancel"]
    shop.tenant.save()
    response = subscriber.get("/api/v1/flow", HTTP_ORIGIN="https://shop.example.com")
    assert response["Access-Control-Allow-Origin"] == "https://shop.example.com"
    assert subscriber.get("/api/v1/flow", HTTP_ORIGIN=ALLOWED_ORIGIN).status_code == 403


def test_an_origin_off_the_allowlist_is_refused_and_changes_nothing(started):
    session_id, subscriber = started
    for origin in ("https://evil.example", "http://app.example.com", "null"):
        for response in (
            subscriber.get("/api/v1/flow", HTTP_ORIGIN=origin),
            _post(
                subscriber, "/api/v1/flow/survey", {"reason": "too_expensive"}, HTTP_ORIGIN=origin
            ),
        ):
            error = _error(response, "insufficient_permissions", 403)
            assert error["details"] == {"origin": origin}
            assert "Access-Control-Allow-Origin" not in response
    session = Session.objects.get(pk=session_id)
    assert session.status == "created" and session.survey_reason == ""
    _post(subscriber, "/api/v1/flow/survey", {"reason": "too_expensive"})
    response = _post(
        subscriber, "/api/v1/flow/execute", {"action": "cancel"}, HTTP_ORIGIN="https://evil.example"
    )
    _error(response, "insufficient_permissions", 403)
    assert _status(session_id) == "offer_shown"


def test_requests_without_an_origin_are_allowed(started):
    _, subscriber = started
    response = subscriber.get("/api/v1/flow")
    assert response.status_code == 200 and "Access-Control-Allow-Origin" not in response


def test_preflights_are_answered_without_credentials(started):
    session_id, _ = started
    for path, method in (
        ("/api/v1/flow", "GET"),
        ("/api/v1/flow/survey", "POST"),
        ("/api/v1/flow/execute", "POST"),
    ):
        response = APIClient().options(
            path,
            HTTP_ORIGIN=ALLOWED_ORIGIN,
            HTTP_ACCESS_CONTROL_REQUEST_METHOD=method,
            HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, content-type",
        )
        assert response.status_code == 204
        assert response["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
        assert method in response["Access-Control-Allow-Methods"]
        assert response["Access-Control-Allow-Headers"] == "Authorization, Content-Type"
        assert int(response["Access-Control-Max-Age"]) > 0
    assert _status(session_id) == "created"


def test_an_expired_tokens_error_is_readable_by_the_workspaces_origin(started):
    session_id, _ = started
    session = Session.objects.get(pk=session_id)
    expired = session_token(
        session_id=session_id,
        tenant_id=session.tenant_id,
        livemode=False,
        expires_at=timezone.now() - timedelta(minutes=1),
    )
    response = _subscriber(expired).get("/api/v1/flow", HTTP_ORIGIN=ALLOWED_ORIGIN)
    _error(response, "invalid_token", 401)
    assert response["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
    forged = _subscriber("eyJhbGciOiJIUzI1NiJ9.e30.x").get(
        "/api/v1/flow", HTTP_ORIGIN=ALLOWED_ORIGIN
    )
    _error(forged, "invalid_token", 401)
    assert "Access-Control-Allow-Origin" not in forged
