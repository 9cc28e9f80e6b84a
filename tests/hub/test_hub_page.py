"""The hub page ``/h/<token>`` as a customer's browser meets it, without JavaScript: what
it shows of each subscription, and each action taken once."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from html import unescape

import jwt
import pytest
from django.utils import timezone

from hub.models import HubAction, HubSession
from hub.services import HUB_LIFETIME
from hub.tokens import hub_token, hub_url
from sessions_app.models import Session
from sessions_app.tokens import SESSION_AUDIENCE, token_verify

from .conftest import SEED_KEY, HubClient, page_path, pause, schedule_cancel

pytestmark = pytest.mark.django_db


def _text(response) -> str:  # type: ignore[no-untyped-def]
    html = response.content.decode()
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


def _section(response, subscription_id: str) -> str:  # type: ignore[no-untyped-def]
    html = response.content.decode()
    start = html.index(f'id="sub-{subscription_id}"')
    end = html.find("</section>", start)
    return unescape(re.sub(r"\s+", " ", html[start:end]))


def _open(hub_shop, browser, **body):  # type: ignore[no-untyped-def]
    created = hub_shop.open(**body)
    path = page_path(created["url"])
    return created, path, browser.get(path)


# --- what it shows --------------------------------------------------------------------------


def test_every_live_subscription_with_price_status_and_next_bill(hub_shop, browser):
    hub_shop.tenant.name, hub_shop.tenant.brand_color = "Acme Analytics", "#0f766e"
    hub_shop.tenant.save()
    created, path, page = _open(hub_shop, browser)
    assert page.status_code == 200
    assert page["Referrer-Policy"] == "same-origin"
    assert "frame-ancestors 'self' https://app.example.com" in page["Content-Security-Policy"]
    text = _text(page)
    assert "Acme Analytics" in text and "#0f766e" in page.content.decode()
    pro = _section(page, hub_shop.customer.pro_subscription_id)
    assert "Pro Plan" in pro and "$29.00 / month" in pro and "Active" in pro
    assert re.search(r"Next bill: \$29\.00 on \w{3}\.? \d{1,2}, \d{4}", pro), pro
    addon = _section(page, hub_shop.customer.addon_subscription_id)
    assert "Team Add-on" in addon and "$9.00 / month" in addon
    # Both can be canceled; neither is paused or ending.
    for section in (pro, addon):
        assert 'value="cancel"' in section
        assert 'value="resume"' not in section and 'value="reactivate"' not in section
    hub = HubSession.objects.get(pk=created["id"])
    assert hub.views == 1 and hub.viewed_at is not None


def test_a_paused_subscription_offers_resume_and_says_until_when(hub_shop, browser, emulator):
    resumes_at = pause(emulator, hub_shop.customer.addon_subscription_id)
    _, _, page = _open(hub_shop, browser)
    addon = _section(page, hub_shop.customer.addon_subscription_id)
    assert 'data-status="paused"' in addon and "Paused until" in addon
    assert "No payments while paused" in addon
    assert 'value="resume"' in addon and "Resume now" in addon
    assert time.strftime("%Y", time.gmtime(resumes_at)) in addon


def test_a_subscription_set_to_cancel_offers_to_keep_it(hub_shop, browser, emulator):
    schedule_cancel(emulator, hub_shop.customer.pro_subscription_id)
    _, _, page = _open(hub_shop, browser)
    pro = _section(page, hub_shop.customer.pro_subscription_id)
    assert 'data-status="canceling"' in pro and "Cancels on" in pro
    assert "won't be charged again" in pro and "Next bill" not in pro
    assert 'value="reactivate"' in pro and "Keep my subscription" in pro
    assert 'value="cancel"' not in pro


def test_a_trial_and_a_discount_in_force_are_shown(hub_shop, browser, emulator):
    stripe = emulator.client(SEED_KEY)
    stripe.v1.coupons.create(
        {"id": "QUARTER", "percent_off": 25, "duration": "repeating", "duration_in_months": 3}
    )
    stripe.v1.subscriptions.update(
        hub_shop.customer.pro_subscription_id, {"discounts": [{"coupon": "QUARTER"}]}
    )
    trial = stripe.v1.subscriptions.create(
        {
            "customer": hub_shop.customer.customer_id,
            "items": [{"price": hub_shop.customer.seeded.basic_price_id}],
            "trial_period_days": 14,
        }
    )
    _, _, page = _open(hub_shop, browser)
    pro = _section(page, hub_shop.customer.pro_subscription_id)
    assert "25% off until" in pro
    assert "Next bill: $21.75 on" in pro  # 2900 less a quarter, rounded as Stripe does
    trialing = _section(page, trial.id)
    assert 'data-status="trialing"' in trialing and "Free trial until" in trialing
    assert "First bill: $19.00 on" in trialing


def test_a_customer_without_a_live_subscription_is_told_so(hub_shop, browser, emulator):
    alone = emulator.client(SEED_KEY).v1.customers.create({"email": "alone@example.com"})
    _, _, page = _open(hub_shop, browser, customer_id=alone.id)
    assert page.status_code == 200
    assert "You have no active subscriptions." in _text(page)
    assert 'id="no-subscriptions"' in page.content.decode()


def test_canceled_subscriptions_are_not_listed(hub_shop, browser, emulator):
    emulator.client(SEED_KEY).v1.subscriptions.cancel(hub_shop.customer.addon_subscription_id)
    _, _, page = _open(hub_shop, browser)
    assert hub_shop.customer.addon_subscription_id not in page.content.decode()
    assert hub_shop.customer.pro_subscription_id in page.content.decode()


def test_back_to_the_merchant_and_no_script_needed(hub_shop, browser):
    _, _, page = _open(hub_shop, browser, return_url="https://app.example.com/billing")
    html = page.content.decode()
    assert 'href="https://app.example.com/billing"' in html and "Back to" in html
    # Every action is a plain form or link; the only script is an enhancement, loaded last.
    assert html.count("<script") == 1 and "mrrx-hub.js" in html
    assert 'name="viewport"' in html


def test_stripe_trouble_gets_a_clear_page(hub_shop, browser, emulator):
    created = hub_shop.open()
    emulator.fail_next(1, status=500, path_prefix="/v1/subscriptions")
    page = browser.get(page_path(created["url"]))
    assert page.status_code == 503
    assert "We could not load your subscriptions" in _text(page)


# --- bad links ------------------------------------------------------------------------------


def test_a_tampered_link_is_401_and_an_expired_one_410(hub_shop, browser):
    created = hub_shop.open()
    tampered = created["token"][:-3] + ("abc" if not created["token"].endswith("abc") else "xyz")
    assert browser.get(f"/h/{tampered}").status_code == 401
    assert browser.get("/h/not-a-token").status_code == 401
    hub = HubSession.objects.get(pk=created["id"])
    hub.expires_at = timezone.now() - timedelta(minutes=1)
    hub.save()
    expired = browser.get(f"/h/{hub_token(hub)}")
    assert expired.status_code == 410
    assert "This link has expired" in _text(expired)
    # Still the workspace's page, with the way back to the merchant.
    assert hub_shop.tenant.name in _text(expired)
    assert 'href="https://app.example.com/account"' in expired.content.decode()
    assert browser.post(f"/h/{hub_token(hub)}", {"action": "cancel"}).status_code == 410


def test_a_cancellation_sessions_token_does_not_open_a_hub(hub_shop, browser):
    created = hub_shop.open()
    claims = jwt.decode(created["token"], options={"verify_signature": False})
    assert claims["aud"] == "mrrx:hub"
    session = hub_shop.client.post(
        "/api/v1/sessions",
        {
            "customer_id": hub_shop.customer.customer_id,
            "subscription_id": hub_shop.customer.pro_subscription_id,
        },
    ).json()
    assert browser.get(f"/h/{session['token']}").status_code == 401


def test_a_forged_post_is_refused_and_changes_nothing(hub_shop, browser):
    created, path, _ = _open(hub_shop, browser)
    sub = hub_shop.customer.pro_subscription_id
    no_token = HubClient.__mro__[2].post(browser, path, {"action": "cancel", "subscription": sub})
    assert no_token.status_code == 403
    other_origin = browser.post(
        path, {"action": "cancel", "subscription": sub}, HTTP_ORIGIN="https://evil.example"
    )
    assert other_origin.status_code == 403
    assert HubAction.objects.count() == 0 and Session.objects.count() == 0


# --- cancel ---------------------------------------------------------------------------------


def test_cancel_opens_a_session_for_that_subscription_and_continues_into_the_flow(
    hub_shop, browser, settings
):
    created, path, _ = _open(hub_shop, browser, metadata={"user_id": "u1"})
    sub = hub_shop.customer.addon_subscription_id
    response = browser.post(path, {"action": "cancel", "subscription": sub})
    assert response.status_code == 302
    assert response["Location"].startswith("/c/")
    token = response["Location"].removeprefix("/c/")
    session = Session.objects.get(pk=token_verify(token=token, audience=SESSION_AUDIENCE)["sid"])
    assert session.subscription_id == sub and session.hub_session_id == created["id"]
    assert session.metadata == {"user_id": "u1"}
    hub = HubSession.objects.get(pk=created["id"])
    # Back to the hub when the flow is over; the hub is ours, not on the allowlist.
    assert session.return_url == hub_url(hub)
    assert session.return_url.startswith(f"{settings.PUBLIC_BASE_URL}/h/")
    flow = browser.get(response["Location"])
    assert flow.status_code == 200 and "Team Add-on" in _text(flow)
    [action] = HubAction.objects.all()
    assert (action.kind, action.status, action.cancellation_session_id) == (
        "cancel",
        "opened",
        session.id,
    )


def test_cancel_again_continues_the_same_session(hub_shop, browser):
    _, path, _ = _open(hub_shop, browser)
    sub = hub_shop.customer.pro_subscription_id
    first = browser.post(path, {"action": "cancel", "subscription": sub})
    second = browser.post(path, {"action": "cancel", "subscription": sub})
    assert first["Location"] == second["Location"]
    assert Session.objects.count() == 1 and HubAction.objects.count() == 1
    page = browser.get(path)
    assert "Continue cancellation" in _section(page, sub)


def test_cancel_continues_a_session_the_merchant_opened(hub_shop, browser):
    merchant = hub_shop.client.post(
        "/api/v1/sessions",
        {
            "customer_id": hub_shop.customer.customer_id,
            "subscription_id": hub_shop.customer.pro_subscription_id,
        },
    ).json()
    _, path, _ = _open(hub_shop, browser)
    response = browser.post(
        path, {"action": "cancel", "subscription": hub_shop.customer.pro_subscription_id}
    )
    assert response.status_code == 302
    token = response["Location"].removeprefix("/c/")
    assert token_verify(token=token, audience=SESSION_AUDIENCE)["sid"] == merchant["id"]
    assert Session.objects.count() == 1


def test_coming_back_from_the_flow_shows_what_happened(hub_shop, browser):
    created, path, _ = _open(hub_shop, browser)
    sub = hub_shop.customer.addon_subscription_id
    flow_path = browser.post(path, {"action": "cancel", "subscription": sub})["Location"]
    session = Session.objects.get()
    Session.objects.filter(pk=session.pk).update(
        status="completed",
        outcome_action="pause",
        selected_action="pause",
        outcome_details={"pause_duration_days": 30, "resume_date": "2027-01-01T00:00:00.000Z"},
        executed_at=timezone.now(),
    )
    assert flow_path.startswith("/c/")
    back = browser.get(f"{path}?session_id={session.id}&outcome=pause")
    assert re.search(r"Your subscription is paused until Jan\.? 1, 2027", _text(back))
    # Only a session of this visit is reported.
    assert 'id="returned"' not in browser.get(f"{path}?session_id=ses_other").content.decode()


def test_another_customers_subscription_cannot_be_canceled_from_the_hub(
    hub_shop, browser, emulator
):
    stranger = emulator.client(SEED_KEY).v1.customers.create({"email": "x@example.com"})
    theirs = emulator.client(SEED_KEY).v1.subscriptions.create(
        {"customer": stranger.id, "items": [{"price": hub_shop.customer.addon_price_id}]}
    )
    _, path, _ = _open(hub_shop, browser)
    response = browser.post(path, {"action": "cancel", "subscription": theirs.id})
    assert response.status_code == 404
    assert "No such subscription." in _text(response)
    assert Session.objects.count() == 0 and HubAction.objects.count() == 0


# --- resume, reactivate ---------------------------------------------------------------------


def test_resume_is_claimed_once_however_often_it_is_sent(
    hub_shop, browser, emulator, django_capture_on_commit_callbacks
):
    pause(emulator, hub_shop.customer.addon_subscription_id)
    created, path, _ = _open(hub_shop, browser)
    sub = hub_shop.customer.addon_subscription_id
    with django_capture_on_commit_callbacks() as queued:
        first = browser.post(path, {"action": "resume", "subscription": sub})
        second = browser.post(path, {"action": "resume", "subscription": sub})
    assert first.status_code == second.status_code == 302
    assert first["Location"].endswith(f"#sub-{sub}")
    # Its forms name the page without that fragment, so that the next redirect (into the
    # cancel flow) does not inherit it.
    assert f'<form method="post" action="{path}">' in browser.get(path).content.decode()
    assert len(queued) == 1
    [action] = HubAction.objects.all()
    assert (action.kind, action.status, action.attempts) == ("resume", "executing", 1)
    assert action.idempotency_key == f"{created['id']}:resume:{sub}"
    assert action.params["pause_resumes_at"]
    page = browser.get(path)
    section = _section(page, sub)
    assert "Resuming your subscription" in section and 'value="resume"' not in section
    # Without scripts the page refreshes itself, at its own address (not the #fragment
    # the action redirected to, which a browser would only scroll to).
    assert f'<meta http-equiv="refresh" content="2;url={path}">' in page.content.decode()
    status = browser.get(f"{path}/status").json()
    assert status == {"busy": True}


def test_a_resume_finishing_while_the_page_is_drawn_is_not_shown_beside_the_pause(
    hub_shop, browser, emulator, django_capture_on_commit_callbacks, monkeypatch
):
    """The worker may finish between the page's reads. Whatever it shows as done, it shows
    beside Stripe's state after it: never "active again" under "Paused until"."""
    from billing.gateway.stripe_gateway import StripeGateway
    from hub.execution import hub_action_execute

    pause(emulator, hub_shop.customer.addon_subscription_id)
    _, path, _ = _open(hub_shop, browser)
    sub = hub_shop.customer.addon_subscription_id
    with django_capture_on_commit_callbacks():
        browser.post(path, {"action": "resume", "subscription": sub})
    [action] = HubAction.objects.all()
    read = StripeGateway.subscription_overviews_for_customer

    def read_then_the_worker_finishes(self, customer_id):  # type: ignore[no-untyped-def]
        overviews = read(self, customer_id)
        if HubAction.objects.get(pk=action.pk).status == "executing":
            hub_action_execute(action_id=action.pk)
        return overviews

    monkeypatch.setattr(
        StripeGateway, "subscription_overviews_for_customer", read_then_the_worker_finishes
    )
    drawn = _section(browser.get(path), sub)
    assert HubAction.objects.get(pk=action.pk).status == "completed"
    # Drawn from a Stripe read taken before the resume: still at work, not "active again".
    assert "Paused until" in drawn and "Resuming your subscription" in drawn
    assert "active again" not in drawn
    monkeypatch.undo()
    after = _section(browser.get(path), sub)
    assert "active again" in after and "Paused until" not in after and "Active" in after


def test_resume_of_a_subscription_that_is_not_paused_is_refused(hub_shop, browser):
    _, path, _ = _open(hub_shop, browser)
    response = browser.post(
        path, {"action": "resume", "subscription": hub_shop.customer.pro_subscription_id}
    )
    assert response.status_code == 400
    assert "This subscription is not paused." in _text(response)
    assert HubAction.objects.count() == 0


def test_reactivate_is_one_claimed_action(
    hub_shop, browser, emulator, django_capture_on_commit_callbacks
):
    schedule_cancel(emulator, hub_shop.customer.pro_subscription_id)
    created, path, _ = _open(hub_shop, browser)
    sub = hub_shop.customer.pro_subscription_id
    with django_capture_on_commit_callbacks() as queued:
        assert browser.post(path, {"action": "reactivate", "subscription": sub}).status_code == 302
    assert len(queued) == 1
    action = HubAction.objects.get()
    assert action.idempotency_key == f"{created['id']}:reactivate:{sub}"


def test_unknown_actions_and_missing_subscriptions_are_refused(hub_shop, browser):
    _, path, _ = _open(hub_shop, browser)
    sub = hub_shop.customer.pro_subscription_id
    assert browser.post(path, {"action": "delete", "subscription": sub}).status_code == 400
    assert browser.post(path, {"action": "resume"}).status_code == 400
    assert HubAction.objects.count() == 0


def test_actions_are_limited_per_visit(hub_shop, browser, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "hub.action": (2, 60)}
    _, path, _ = _open(hub_shop, browser)
    body = {"action": "resume", "subscription": hub_shop.customer.pro_subscription_id}
    statuses = [browser.post(path, body).status_code for _ in range(3)]
    assert statuses == [400, 400, 429]


def test_the_hub_link_lasts_an_hour(hub_shop):
    created = hub_shop.open()
    hub = HubSession.objects.get(pk=created["id"])
    assert hub.expires_at - hub.created_at == HUB_LIFETIME == timedelta(hours=1)
