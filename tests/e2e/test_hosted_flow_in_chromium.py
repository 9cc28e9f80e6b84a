"""Subscribers walk the hosted flow in Debian's Chromium, driven by Playwright."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from sessions_app.models import Session

from .conftest import PHONE, stripe_subscription

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _new_session(shop, live_server) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    body = shop.create(return_url=f"{live_server.url}/api/v1/health").json()
    return body["id"], body["url"]


def _returned(page, live_server, session_id: str, outcome: str) -> str:  # type: ignore[no-untyped-def]
    page.wait_for_url(f"{live_server.url}/api/v1/health**", timeout=30_000)
    parts = urlsplit(page.url)
    assert parse_qs(parts.query) == {"session_id": [session_id], "outcome": [outcome]}
    assert parts.fragment.startswith("result_token=")
    return parts.fragment.removeprefix("result_token=")


def _verify(client, token: str) -> dict:  # type: ignore[no-untyped-def]
    response = client.post(
        "/api/v1/results/verify", {"token": token}, content_type="application/json"
    )
    assert response.status_code == 200
    return response.json()


def test_subscriber_cancels(
    chromium, hosted, live_server, celery_worker_process, emulator, shots, client
):
    session_id, url = _new_session(hosted, live_server)
    page = chromium.new_page()
    page.goto(url)
    assert "Acme Analytics" in page.content()
    shots.take(page, "reason")
    page.get_by_role("button", name="Too expensive").click()
    shots.take(page, "offers")
    assert page.get_by_role("button", name="No thanks, cancel my subscription").is_visible()
    page.get_by_role("button", name="No thanks, cancel my subscription").click()
    # The feedback the workspace asks for is an optional box on the confirm page.
    page.get_by_label("Anything you'd like to tell us? (optional)").fill("Budget cuts this quarter")
    shots.take(page, "confirm")
    page.get_by_role("button", name="Cancel my subscription", exact=True).click()
    page.wait_for_selector("#result-title", timeout=30_000)
    shots.take(page, "result")
    token = _returned(page, live_server, session_id, "cancel")
    verified = _verify(client, token)
    assert verified["outcome"]["action"] == "cancel"
    assert verified["survey_response"]["feedback"] == "Budget cuts this quarter"
    stripe = stripe_subscription(emulator, hosted.seeded.subscription_id)
    assert stripe["cancel_at_period_end"] is True
    assert stripe["cancellation_details"]["feedback"] == "too_expensive"
    page.close()


def test_subscriber_accepts_a_pause_on_a_phone(
    chromium, hosted, live_server, celery_worker_process, emulator, shots, client
):
    session_id, url = _new_session(hosted, live_server)
    context = chromium.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto(url)
    shots.take(page, "reason")
    # Nothing wider than the phone: no sideways scrolling.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.get_by_role("button", name="Not using it enough").click()
    shots.take(page, "offers")
    page.locator("input[name=action][value=pause]").check()
    page.locator("input[name=pause_months][value='2']").check()
    page.get_by_role("button", name="Accept this offer").click()
    shots.take(page, "confirm")
    page.get_by_role("button", name="Pause my subscription").click()
    page.wait_for_selector("#result-title", timeout=30_000)
    shots.take(page, "result")
    token = _returned(page, live_server, session_id, "pause")
    assert _verify(client, token)["outcome"]["details"]["pause_duration_days"] == 60
    assert stripe_subscription(emulator, hosted.seeded.subscription_id)["pause_collection"]
    context.close()


def test_subscriber_without_javascript_accepts_a_discount(
    chromium, hosted, live_server, celery_worker_process, emulator, shots
):
    session_id, url = _new_session(hosted, live_server)
    context = chromium.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(url)
    shots.take(page, "reason")
    page.get_by_role("button", name="Too expensive").click()
    shots.take(page, "offers")
    page.locator("input[name=action][value=discount]").check()
    page.get_by_role("button", name="Accept this offer").click()
    shots.take(page, "confirm")
    page.get_by_role("button", name="Apply the discount").click()
    # Without scripts the progress page refreshes itself, then the result sends us back.
    page.wait_for_selector("#result-title", timeout=30_000)
    shots.take(page, "result")
    _returned(page, live_server, session_id, "discount")
    assert Session.objects.get(pk=session_id).outcome_action == "discount"
    assert len(stripe_subscription(emulator, hosted.seeded.subscription_id)["discounts"]) == 1
    context.close()


def test_bad_links_get_clear_pages(chromium, hosted, live_server, shots):
    page = chromium.new_page()
    response = page.goto(f"{live_server.url}/c/not-a-real-token")
    assert response.status == 401
    assert "This link is not valid" in page.content()
    assert "Traceback" not in page.content()
    shots.take(page, "invalid-link")
    page.close()
