"""Contact and redirect offers walked for real: the hosted flow with no scripts (Django's
test client against the flow's own views) and the flow API.

Taking one completes the session at once with that outcome: nothing on Stripe, no task
queued, no receipt, one ``session.completed`` whatever is submitted twice.
"""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
from rest_framework.test import APIClient

from audit.models import AuditEntry
from offers.selectors import flow_config_get
from offers.services import flow_config_update, offer_create, offer_delete
from sessions_app.models import Receipt, Session
from webhooks.models import Event

from .conftest import FlowClient, stripe_subscription

pytestmark = pytest.mark.django_db

REASON = "missing_features"
MESSAGE = "Tell us what is missing: we often add it within a week."
HELP_URL = "https://app.example.com/help/export?from=cancel"


@pytest.fixture
def deflecting(shop):  # type: ignore[no-untyped-def]
    """The shop's flow offers "talk to us" and a help page for missing features."""
    config = flow_config_get(tenant=shop.tenant, livemode=False)
    flow_config_update(config=config, trial_extension_first=False)
    for offer in config.offers.filter(reason=REASON):
        offer_delete(offer=offer)
    offer_create(
        config=config,
        reason=REASON,
        action="contact",
        params={
            "message": MESSAGE,
            "email": "help@acme.example",
            "scheduling_url": "https://cal.example.com/acme",
        },
    )
    offer_create(
        config=config,
        reason=REASON,
        action="redirect",
        params={"url": HELP_URL, "label": "See how to export"},
    )
    return shop


def _start(shop) -> tuple[str, str, FlowClient]:  # type: ignore[no-untyped-def]
    body = shop.create(return_url="https://app.example.com/account").json()
    path = urlsplit(body["url"]).path
    browser = FlowClient()
    assert browser.get(path).status_code == 200
    assert browser.post(path, {"step": "reason", "reason": REASON}).status_code == 302
    return body["id"], path, browser


def _stripe_writes(emulator) -> list[dict]:  # type: ignore[no-untyped-def]
    return [r for r in emulator.requests(method="POST") if r["path"].startswith("/v1/")]


def _completed_events(session_id: str) -> list[dict]:
    """The ``data`` of the session's ``session.completed`` events, as sent."""
    events = Event.objects.filter(type="session.completed", session_id=session_id)
    return [event.payload["data"] for event in events]


def test_talk_to_us_without_scripts_shows_the_message_and_changes_nothing_on_stripe(
    deflecting, emulator
):
    before = stripe_subscription(emulator, deflecting.seeded.subscription_id)
    emulator.http.delete("/_emulator/requests")
    session_id, path, browser = _start(deflecting)
    offers = browser.get(path).content.decode()
    assert 'value="contact"' in offers and 'value="redirect"' in offers
    assert "Talk to us first" in offers and MESSAGE in offers and "See how to export" in offers
    assert "No thanks, cancel my subscription" in offers

    taken = browser.post(path, {"step": "offer", "action": "contact"})
    assert taken.status_code == 302 and taken["Location"] == path
    session = Session.objects.get(pk=session_id)
    assert session.status == "completed" and session.outcome_action == "contact"
    assert session.outcome_details == {
        "message": MESSAGE,
        "link": "mailto:help@acme.example",
        "scheduling_url": "https://cal.example.com/acme",
        "label": None,
    }
    assert session.executing_at is None and session.execution_attempts == 0

    page = browser.get(path)
    html = page.content.decode()
    assert page.status_code == 200
    assert "We&#x27;re here to help" in html and MESSAGE in html
    assert 'id="contact-link" href="mailto:help@acme.example"' in html
    assert 'id="scheduling-link" href="https://cal.example.com/acme" target="_blank"' in html
    # The message stays: no timed return to the merchant, and no receipt to announce.
    assert 'http-equiv="refresh"' not in html and "receipt-notice" not in html
    back = unescape(re.search(r'id="continue" href="([^"]+)"', html).group(1))
    assert parse_qs(urlsplit(back).query) == {"session_id": [session_id], "outcome": ["contact"]}

    assert _stripe_writes(emulator) == []
    assert stripe_subscription(emulator, deflecting.seeded.subscription_id) == before
    assert not Receipt.objects.filter(session_id=session_id).exists()
    [event] = _completed_events(session_id)
    assert event["action"] == "contact" and event["status"] == "completed"
    assert event["outcome"]["details"] == session.outcome_details
    assert event["survey_response"]["reason"] == REASON
    assert not Event.objects.filter(type__startswith="subscription.").exists()


def test_a_redirect_sends_the_subscriber_to_the_merchants_page_with_the_session_id(
    deflecting, emulator
):
    emulator.http.delete("/_emulator/requests")
    session_id, path, browser = _start(deflecting)
    taken = browser.post(path, {"step": "offer", "action": "redirect"})
    assert taken.status_code == 302
    target = urlsplit(taken["Location"])
    assert (
        f"{target.scheme}://{target.netloc}{target.path}" == "https://app.example.com/help/export"
    )
    assert parse_qs(target.query) == {"from": ["cancel"], "session_id": [session_id]}
    session = Session.objects.get(pk=session_id)
    assert session.status == "completed" and session.outcome_action == "redirect"
    assert session.outcome_details == {
        "url": taken["Location"],
        "label": "See how to export",
        "message": None,
    }
    assert _stripe_writes(emulator) == []
    assert [e["outcome"]["action"] for e in _completed_events(session_id)] == ["redirect"]

    # Back on the flow's page later: the way on, no bounce.
    html = browser.get(path).content.decode()
    assert f'id="redirect-link" href="{taken["Location"].replace("&", "&amp;")}"' in html
    assert 'http-equiv="refresh"' not in html


@pytest.mark.parametrize("action", ["contact", "redirect"])
def test_a_double_submit_completes_once(deflecting, action):
    session_id, path, browser = _start(deflecting)
    first = browser.post(path, {"step": "offer", "action": action})
    second = browser.post(path, {"step": "offer", "action": action})
    # The second lands where the first did; nothing more is recorded.
    assert second.status_code == 302 and second["Location"] == first["Location"]
    cancel = browser.post(path, {"step": "offer", "action": "cancel"})
    assert cancel.status_code == 302
    session = Session.objects.get(pk=session_id)
    assert session.status == "completed" and session.outcome_action == action
    assert len(_completed_events(session_id)) == 1
    completions = AuditEntry.objects.filter(action="session.completed", object_id=session_id)
    assert completions.count() == 1


def test_a_deflection_not_shown_for_the_reason_is_refused(deflecting):
    body = deflecting.create().json()
    path = urlsplit(body["url"]).path
    browser = FlowClient()
    browser.get(path)
    browser.post(path, {"step": "reason", "reason": "too_expensive"})
    refused = browser.post(path, {"step": "offer", "action": "contact"})
    assert refused.status_code == 400
    assert "That offer is not available" in refused.content.decode()
    assert Session.objects.get(pk=body["id"]).status == "offer_shown"


def _subscriber(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_the_flow_api_lists_both_offers_and_completes_a_contact_at_once(deflecting, emulator):
    emulator.http.delete("/_emulator/requests")
    created = deflecting.create(return_url="https://app.example.com/account").json()
    client = _subscriber(created["token"])
    survey = client.post("/api/v1/flow/survey", {"reason": REASON}, format="json")
    assert survey.status_code == 200
    offers = {o["action"]: o for o in survey.json()["offers"]}
    assert offers["contact"]["params"] == {
        "message": MESSAGE,
        "link": "mailto:help@acme.example",
        "scheduling_url": "https://cal.example.com/acme",
    }
    assert offers["contact"]["title"] == "Talk to us first"
    assert offers["redirect"]["params"] == {"url": HELP_URL, "label": "See how to export"}
    assert offers["redirect"]["title"] == "See how to export"

    bad = client.post(
        "/api/v1/flow/execute",
        {"action": "contact", "offer_id": offers["redirect"]["id"]},
        format="json",
    )
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "action_not_available"
    paused = client.post(
        "/api/v1/flow/execute", {"action": "contact", "pause_duration_days": 30}, format="json"
    )
    assert paused.status_code == 400 and paused.json()["error"]["code"] == "validation_error"
    assert Session.objects.get(pk=created["id"]).status == "offer_shown"

    done = client.post(
        "/api/v1/flow/execute",
        {"action": "contact", "offer_id": offers["contact"]["id"], "feedback": "Need CSV"},
        format="json",
    )
    assert done.status_code == 200, done.content
    body = done.json()
    assert body["status"] == "completed" and body["redirect_url"] is None
    assert body["outcome"]["action"] == "contact"
    assert body["outcome"]["details"]["link"] == "mailto:help@acme.example"
    assert body["outcome"]["title"] == "We're here to help" and body["outcome"]["text"] == MESSAGE
    assert body["return_url"].startswith(
        f"https://app.example.com/account?session_id={created['id']}&outcome=contact#result_token="
    )
    assert Session.objects.get(pk=created["id"]).survey_feedback == "Need CSV"

    again = client.post("/api/v1/flow/execute", {"action": "contact"}, format="json")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "session_already_completed"
    assert len(_completed_events(created["id"])) == 1
    assert _stripe_writes(emulator) == []


def test_the_flow_api_gives_the_app_the_redirect_url_to_open(deflecting):
    created = deflecting.create().json()
    client = _subscriber(created["token"])
    client.post("/api/v1/flow/survey", {"reason": REASON}, format="json")
    done = client.post("/api/v1/flow/execute", {"action": "redirect"}, format="json")
    assert done.status_code == 200
    expected = f"{HELP_URL}&session_id={created['id']}"
    assert done.json()["redirect_url"] == expected
    assert done.json()["outcome"]["details"]["url"] == expected
    assert client.get("/api/v1/flow").json()["redirect_url"] == expected


def test_the_sessions_api_shows_the_outcome_to_its_workspace_only(
    deflecting, make_client, other_tenant
):
    session_id, path, browser = _start(deflecting)
    browser.post(path, {"step": "offer", "action": "contact"})
    own = deflecting.client.get(f"/api/v1/sessions/{session_id}")
    assert own.status_code == 200
    assert own.json()["outcome"]["action"] == "contact"
    assert own.json()["outcome"]["details"]["message"] == MESSAGE
    other = make_client(other_tenant).get(f"/api/v1/sessions/{session_id}")
    assert other.status_code == 404
    assert other.json()["error"]["code"] == "session_not_found"
