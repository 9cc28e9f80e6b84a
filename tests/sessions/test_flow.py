"""The hosted flow through Django's test client: steps, guards, tokens, limits.

The action itself runs through ``execution.session_execute`` here (what the worker calls);
tests/sessions/test_execution_worker.py runs it in a real Celery worker.
"""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone

from sessions_app import execution
from sessions_app.models import Session, offers_key_of
from sessions_app.tokens import session_token
from webhooks.models import Event

from .conftest import FlowClient as Client
from .conftest import stripe_subscription

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser() -> Client:
    return Client()


def _start(shop):  # type: ignore[no-untyped-def]
    body = shop.create(return_url="https://app.example.com/account").json()
    return body["id"], urlsplit(body["url"]).path


def _post(browser, path, **data):  # type: ignore[no-untyped-def]
    return browser.post(path, data)


def test_walk_to_a_pause_and_back_to_the_merchant(shop, browser, emulator):
    session_id, path = _start(shop)
    page = browser.get(path)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="reason" value="not_using_enough"' in html and 'type="submit"' in html
    assert "Pro Plan" in html and "$29.00" in html
    assert Session.objects.get(pk=session_id).status == "viewed"

    response = _post(browser, path, step="reason", reason="not_using_enough")
    assert response.status_code == 302 and response["X-RateLimit-Limit"] == "10"
    session = Session.objects.get(pk=session_id)
    assert session.status == "offer_shown" and session.survey_reason == "not_using_enough"
    assert any(o["action"] == "pause" and o["shown"] for o in session.offers_considered)
    assert session.offers_key == offers_key_of(session.offers_considered) != ""
    offers = browser.get(path).content.decode()
    assert 'value="pause"' in offers and "No thanks, cancel my subscription" in offers

    _post(browser, path, step="offer", action="pause", pause_months="2")
    session.refresh_from_db()
    assert session.status == "action_selected"
    assert session.action_params == {"months": 2, "days": 60}

    _post(browser, path, step="feedback", feedback="Taking a break")
    _post(browser, path, step="confirm")
    session.refresh_from_db()
    assert session.status == "executing"
    assert "One moment" in browser.get(path).content.decode()

    execution.session_execute(session_id=session_id)
    session.refresh_from_db()
    assert session.status == "completed"
    assert session.outcome_details["pause_duration_days"] == 60
    stripe = stripe_subscription(emulator, shop.seeded.subscription_id)
    assert stripe["pause_collection"]["behavior"] == "void"

    result = browser.get(path).content.decode()
    target = re.search(r'id="continue" href="([^"]+)"', result).group(1).replace("&amp;", "&")
    parts = urlsplit(target)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://app.example.com/account"
    assert parse_qs(parts.query) == {"session_id": [session_id], "outcome": ["pause"]}
    token = parts.fragment.removeprefix("result_token=")
    verified = browser.post(
        "/api/v1/results/verify", {"token": token}, content_type="application/json"
    )
    assert verified.status_code == 200
    assert verified.json()["outcome"]["action"] == "pause"
    assert verified["Access-Control-Allow-Origin"] == "*"
    types = set(Event.objects.values_list("type", flat=True))
    assert {"session.completed", "subscription.paused"} <= types


def test_cancel_is_always_available_and_records_feedback(shop, browser, emulator):
    session_id, path = _start(shop)
    browser.get(path)
    _post(browser, path, step="reason", reason="too_expensive")
    offers = browser.get(path).content.decode()
    assert 'id="no-thanks"' in offers
    _post(browser, path, step="offer", action="cancel")
    _post(browser, path, step="feedback", feedback="Too pricey for us")
    confirm = browser.get(path).content.decode()
    assert "at the end of the current period" in confirm
    _post(browser, path, step="confirm")
    execution.session_execute(session_id=session_id)
    session = Session.objects.get(pk=session_id)
    assert session.outcome_action == "cancel"
    assert session.outcome_details["cancel_at_period_end"] is True
    stripe = stripe_subscription(emulator, shop.seeded.subscription_id)
    assert stripe["cancel_at_period_end"] is True
    assert stripe["cancellation_details"]["feedback"] == "too_expensive"
    assert stripe["cancellation_details"]["comment"] == "Too pricey for us"


def test_skipping_feedback_keeps_it_empty(shop, browser):
    session_id, path = _start(shop)
    browser.get(path)
    _post(browser, path, step="reason", reason="too_expensive")
    _post(browser, path, step="offer", action="cancel")
    _post(browser, path, step="feedback", feedback="typed then skipped", skip="1")
    session = Session.objects.get(pk=session_id)
    assert session.status == "survey_completed" and session.survey_feedback == ""


def test_double_confirm_and_two_tabs_run_one_action(shop, browser, emulator):
    session_id, path = _start(shop)
    browser.get(path)
    _post(browser, path, step="reason", reason="too_expensive")
    _post(browser, path, step="offer", action="discount")
    _post(browser, path, step="feedback", feedback="")
    other_tab = Client()
    for tab in (browser, other_tab, browser):
        assert tab.post(path, {"step": "confirm"}).status_code == 302
    session = Session.objects.get(pk=session_id)
    assert session.status == "executing" and session.execution_attempts == 1
    for _ in range(2):
        execution.session_execute(session_id=session_id)
    stripe = stripe_subscription(emulator, shop.seeded.subscription_id)
    assert len(stripe["discounts"]) == 1
    writes = [
        r for r in emulator.requests(method="POST") if r["path"].startswith("/v1/subscriptions/")
    ]
    assert len(writes) == 1, writes
    # Going back and choosing again changes nothing once the action ran.
    _post(browser, path, step="offer", action="cancel")
    assert Session.objects.get(pk=session_id).outcome_action == "discount"


def test_offer_not_shown_is_action_not_available(shop, browser):
    session_id, path = _start(shop)
    browser.get(path)
    _post(browser, path, step="reason", reason="too_expensive")
    response = _post(browser, path, step="offer", action="extend_trial")
    assert response.status_code == 400
    assert "not available" in response.content.decode()
    assert Session.objects.get(pk=session_id).status == "offer_shown"


def test_reason_other_needs_text(shop, browser):
    session_id, path = _start(shop)
    browser.get(path)
    response = _post(browser, path, step="reason", reason="other")
    assert response.status_code == 400
    assert Session.objects.get(pk=session_id).status == "viewed"
    _post(browser, path, step="reason", reason="other", reason_other="Moving abroad")
    assert Session.objects.get(pk=session_id).survey_reason_other == "Moving abroad"


def test_trialing_subscriber_sees_a_trial_extension_first(trial_shop, browser, emulator):
    session_id, path = _start(trial_shop)
    browser.get(path)
    _post(browser, path, step="reason", reason="too_expensive")
    shown = [
        o["action"] for o in Session.objects.get(pk=session_id).offers_considered if o["shown"]
    ]
    assert shown[0] == "extend_trial"
    _post(browser, path, step="offer", action="extend_trial")
    _post(browser, path, step="feedback")
    _post(browser, path, step="confirm")
    execution.session_execute(session_id=session_id)
    session = Session.objects.get(pk=session_id)
    assert session.outcome_details["extension_days"] == 14
    before = stripe_subscription(emulator, trial_shop.seeded.subscription_id)
    assert before["status"] == "trialing"


def test_tampered_unknown_and_expired_tokens(shop, browser):
    session_id, path = _start(shop)
    tampered = browser.get(path[:-3] + ("aaa" if not path.endswith("aaa") else "bbb"))
    assert tampered.status_code == 401 and b"not valid" in tampered.content
    assert browser.get("/c/not-a-token").status_code == 401
    session = Session.objects.get(pk=session_id)
    past = timezone.now() - timedelta(minutes=1)
    expired_token = session_token(
        session_id=session.id, tenant_id=session.tenant_id, livemode=False, expires_at=past
    )
    expired = browser.get(f"/c/{expired_token}")
    assert expired.status_code == 410 and b"expired" in expired.content
    forged = session_token(
        session_id=session.id,
        tenant_id="ws_someone_else",
        livemode=False,
        expires_at=session.expires_at,
    )
    assert browser.get(f"/c/{forged}").status_code == 401
    assert b"Traceback" not in tampered.content + expired.content


def test_finished_session_shows_its_result_again(shop, browser):
    session_id, path = _start(shop)
    Session.objects.filter(pk=session_id).update(
        status="completed",
        selected_action="cancel",
        outcome_action="cancel",
        outcome_details={"canceled_at": None, "cancel_at_period_end": True},
        executed_at=timezone.now(),
    )
    first = browser.get(path)
    assert first.status_code == 200 and b"Your subscription is canceled" in first.content
    assert browser.post(path, {"step": "confirm"}).status_code == 302
    assert Session.objects.get(pk=session_id).status == "completed"


def test_expired_session_page_is_410(shop, browser):
    session_id, path = _start(shop)
    Session.objects.filter(pk=session_id).update(status="expired")
    assert browser.get(path).status_code == 410


def test_ten_actions_a_minute_per_session(shop, browser):
    session_id, path = _start(shop)
    browser.get(path)
    for _ in range(10):
        assert _post(browser, path, step="reason", reason="too_expensive").status_code == 302
    limited = _post(browser, path, step="reason", reason="too_expensive")
    assert limited.status_code == 429 and limited["Retry-After"]


def test_forms_without_their_token_or_from_another_origin_are_refused(shop, browser):
    session_id, path = _start(shop)
    browser.get(path)
    forged = browser.post(
        path, {"step": "reason", "reason": "too_expensive", "flow_csrf": "0" * 64}
    )
    assert forged.status_code == 403 and b"expired" in forged.content
    elsewhere = browser.post(
        path, {"step": "reason", "reason": "too_expensive"}, HTTP_ORIGIN="https://evil.example"
    )
    assert elsewhere.status_code == 403
    assert Session.objects.get(pk=session_id).status == "viewed"
    assert browser.post(path, {"step": "reason", "reason": "too_expensive"}).status_code == 302


def test_result_verify_rejects_bad_tokens(client, shop):
    bad = client.post("/api/v1/results/verify", {"token": "nope"}, content_type="application/json")
    assert bad.status_code == 401 and bad.json()["error"]["code"] == "invalid_token"
    missing = client.post("/api/v1/results/verify", {}, content_type="application/json")
    assert missing.status_code == 400 and missing.json()["error"]["code"] == "validation_error"
    # A session token is not a result token.
    _, path = _start(shop)
    session_tok = path.removeprefix("/c/")
    wrong = client.post(
        "/api/v1/results/verify", {"token": session_tok}, content_type="application/json"
    )
    assert wrong.status_code == 401


def test_pages_can_be_framed_only_by_allowlisted_origins(shop, browser):
    _, path = _start(shop)
    response = browser.get(path)
    assert "frame-ancestors 'self' https://app.example.com" in response["Content-Security-Policy"]
    assert "X-Frame-Options" not in response


def test_exhausted_retries_fail_the_session_with_the_stripe_error(shop, browser, emulator):
    from sessions_app.tasks import MAX_RETRIES, session_execute

    session_id, path = _start(shop)
    browser.get(path)
    _post(browser, path, step="reason", reason="too_expensive")
    _post(browser, path, step="offer", action="cancel")
    _post(browser, path, step="feedback")
    _post(browser, path, step="confirm")
    emulator.http.delete("/_emulator/requests")
    emulator.fail_next(50, status=503, path_prefix="/v1/subscriptions")
    # Eagerly, in this process: each retry runs at once instead of after its backoff.
    session_execute.apply(args=[session_id])
    session = Session.objects.get(pk=session_id)
    assert session.status == "failed"
    assert session.failure["transient"] is True and session.failure["http_status"] == 503
    reads = emulator.requests(path_prefix=f"/v1/subscriptions/{shop.seeded.subscription_id}")
    assert len(reads) == MAX_RETRIES + 1
    assert Event.objects.filter(type="session.failed").count() == 1
    emulator.clear_faults()
