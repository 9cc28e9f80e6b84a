"""A subscriber takes a contact or a redirect offer in Debian's Chromium, with and without
scripts: the message and its ways on stay on screen, or the merchant's page opens."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from sessions_app.models import Session

from .conftest import PHONE, offers_only, stripe_subscription

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

HELP_ORIGIN = "https://help.acme.example"
MESSAGE = "Most teams find the export they need in Settings. Tell us if you don't."


@pytest.fixture
def deflecting(hosted):  # type: ignore[no-untyped-def]
    hosted.tenant.return_url_allowlist = [*hosted.tenant.return_url_allowlist, HELP_ORIGIN]
    hosted.tenant.save()
    offers_only(
        hosted.tenant,
        "missing_features",
        ("contact", {"message": MESSAGE, "email": "help@acme.example",
                     "scheduling_url": "https://cal.acme.example/15min"}),
        ("redirect", {"url": f"{HELP_ORIGIN}/export", "label": "Show me how to export"}),
    )  # fmt: skip
    return hosted


def _open(deflecting, live_server, chromium, *, javascript: bool):  # type: ignore[no-untyped-def]
    body = deflecting.create(return_url=f"{live_server.url}/api/v1/health").json()
    context = chromium.new_context(
        viewport=PHONE, is_mobile=True, has_touch=True, java_script_enabled=javascript
    )
    page = context.new_page()
    page.goto(body["url"])
    page.get_by_role("button", name="Missing features I need").click()
    return body["id"], context, page


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_talk_to_us_keeps_the_message_and_its_buttons_on_screen(
    chromium, deflecting, live_server, emulator, shots, client, javascript
):
    before = stripe_subscription(emulator, deflecting.seeded.subscription_id)
    session_id, context, page = _open(deflecting, live_server, chromium, javascript=javascript)
    assert page.get_by_text("Talk to us first").is_visible()
    page.locator("input[name=action][value=contact]").check()
    page.get_by_role("button", name="Accept this offer").click()
    page.wait_for_selector("#result-title")
    shots.take(page, "contact-result")

    assert page.locator("#result-title").inner_text() == "We're here to help"
    assert page.locator("#result-text").inner_text() == MESSAGE
    email = page.get_by_role("link", name="Email us")
    assert email.is_visible() and email.get_attribute("href") == "mailto:help@acme.example"
    call = page.get_by_role("link", name="Book a call")
    assert call.get_attribute("href") == "https://cal.acme.example/15min"
    # Nothing takes the page away by itself: the subscriber goes back when they choose.
    assert page.locator("meta[http-equiv=refresh]").count() == 0
    page.get_by_role("link", name="Back to Acme Analytics").click()
    page.wait_for_url(f"{live_server.url}/api/v1/health**")
    back = urlsplit(page.url)
    assert parse_qs(back.query) == {"session_id": [session_id], "outcome": ["contact"]}
    token = back.fragment.removeprefix("result_token=")
    verified = client.post(
        "/api/v1/results/verify", {"token": token}, content_type="application/json"
    ).json()
    assert verified["outcome"]["action"] == "contact"
    context.close()

    session = Session.objects.get(pk=session_id)
    assert (session.status, session.outcome_action) == ("completed", "contact")
    assert stripe_subscription(emulator, deflecting.seeded.subscription_id) == before


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_a_redirect_opens_the_merchants_page_with_the_session_id(
    chromium, deflecting, live_server, emulator, shots, javascript
):
    before = stripe_subscription(emulator, deflecting.seeded.subscription_id)
    session_id, context, page = _open(deflecting, live_server, chromium, javascript=javascript)
    # The merchant's page, served here in place of their site.
    context.route(
        f"{HELP_ORIGIN}/**",
        lambda route: route.fulfill(
            status=200, content_type="text/html", body="<h1>Exporting your data</h1>"
        ),
    )
    page.locator("input[name=action][value=redirect]").check()
    page.get_by_role("button", name="Accept this offer").click()
    page.wait_for_url(f"{HELP_ORIGIN}/export?**")
    shots.take(page, "merchant-page")
    assert parse_qs(urlsplit(page.url).query) == {"session_id": [session_id]}
    assert page.locator("h1").inner_text() == "Exporting your data"
    context.close()

    session = Session.objects.get(pk=session_id)
    assert (session.status, session.outcome_action) == ("completed", "redirect")
    assert stripe_subscription(emulator, deflecting.seeded.subscription_id) == before
