"""Cancel is never hidden: strict click-to-cancel makes the reason optional, and cancelling
takes at most three actions whatever the workspace configures.

Through Django's test client (the hosted pages and the flow API) and a Celery worker; the
clicks in a real browser are counted in tests/e2e/test_click_to_cancel_in_chromium.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from offers.selectors import flow_config_get
from offers.services import flow_config_update
from sessions_app.models import Session
from sessions_app.tasks import session_execute
from sessions_app.tokens import session_token
from tests.factories import MembershipFactory, TenantFactory, UserFactory
from tests.worker_fixture import WorkerProcess, isolated_broker, start_worker

from .conftest import FlowClient, Seeded, Shop, connect, seed, stripe_subscription

pytestmark = pytest.mark.django_db

RETURN_URL = "https://app.example.com/account"


# The emulator keeps live-mode objects apart from test-mode ones, as Stripe does.
LIVE_SEED_KEY = "sk_live_seed"


def live_seed(emulator) -> Seeded:  # type: ignore[no-untyped-def]
    """``seed``'s customer on the Pro price, in live mode."""
    client = emulator.client(LIVE_SEED_KEY)
    product = client.v1.products.create({"name": "Pro Plan"})
    recurring = {"interval": "month"}
    pro = client.v1.prices.create(
        {"product": product.id, "unit_amount": 2900, "currency": "usd", "recurring": recurring}
    )
    basic = client.v1.prices.create(
        {"product": product.id, "unit_amount": 1900, "currency": "usd", "recurring": recurring}
    )
    customer = client.v1.customers.create({"email": "live@example.com"})
    sub = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": pro.id}]})
    return Seeded(
        product_id=product.id,
        pro_price_id=pro.id,
        basic_price_id=basic.id,
        customer_id=customer.id,
        subscription_id=sub.id,
        item_id=sub["items"]["data"][0]["id"],
    )


def live_subscription(emulator, subscription_id: str) -> dict:  # type: ignore[no-untyped-def]
    sub = emulator.client(LIVE_SEED_KEY).v1.subscriptions.retrieve(subscription_id)
    return sub.to_dict()


@pytest.fixture
def live_shop(emulator, make_client, tenant) -> Shop:  # type: ignore[no-untyped-def]
    """As ``shop``, in live mode: where strict click-to-cancel is the law."""
    connection = connect(tenant, livemode=True)
    return Shop(
        client=make_client(tenant, livemode=True),
        seeded=live_seed(emulator),
        connection=connection,
    )


@pytest.fixture
def browser() -> FlowClient:
    return FlowClient()


def _strict(shop: Shop, on: bool) -> None:
    shop.tenant.strict_click_to_cancel = on
    shop.tenant.save()


def _start(shop: Shop) -> tuple[str, str]:
    body = shop.create(return_url=RETURN_URL).json()
    assert body["status"] == "created", body
    return body["id"], urlsplit(body["url"]).path


def _subscriber(path: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {path.removeprefix('/c/')}")
    return client


def _api_error(response, code: str, status: int) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["code"] == code and error["message"].startswith(code), error
    return error


def _session(session_id: str) -> Session:
    return Session.objects.get(pk=session_id)


def _run_action(session_id: str) -> Session:
    """What the worker does with the queued action: the task, run here."""
    session_execute.apply(args=[session_id])
    return _session(session_id)


# --- Strict on: the reason is optional ------------------------------------------------------


def test_strict_live_workspace_cancels_without_a_reason(live_shop, browser, emulator):
    assert live_shop.tenant.strict_click_to_cancel  # new workspaces start strict
    session_id, path = _start(live_shop)
    page = browser.get(path).content.decode()
    assert 'id="skip-to-cancel"' in page and "Skip to cancel" in page
    assert "Telling us why is optional" in page

    assert browser.post(path, {"step": "cancel"}).status_code == 302
    session = _session(session_id)
    assert session.status == "survey_completed" and session.selected_action == "cancel"
    assert session.survey_reason == "" and session.offers_considered == []
    assert session.offer_shown_at is None and session.survey_completed_at is not None
    confirm = browser.get(path).content.decode()
    assert 'id="confirm"' in confirm and "Cancel my subscription" in confirm
    # No survey on this path: no feedback box either, though the workspace asks for it.
    assert flow_config_get(tenant=live_shop.tenant, livemode=True).ask_feedback
    assert 'name="feedback"' not in confirm

    assert browser.post(path, {"step": "confirm", "action": "cancel"}).status_code == 302
    session = _run_action(session_id)
    assert session.status == "completed" and session.outcome_action == "cancel"
    stripe = live_subscription(emulator, live_shop.seeded.subscription_id)
    assert stripe["cancel_at_period_end"] is True
    assert not (stripe.get("cancellation_details") or {}).get("feedback")
    api = live_shop.client.get(f"/api/v1/sessions/{session_id}").json()
    assert api["outcome"]["action"] == "cancel" and api["survey_response"] is None


def test_strict_test_mode_skips_the_reason_too(shop, browser):
    # What a merchant tries out in test mode is what live subscribers get.
    session_id, path = _start(shop)
    assert 'id="skip-to-cancel"' in browser.get(path).content.decode()
    assert browser.post(path, {"step": "cancel"}).status_code == 302
    assert _session(session_id).status == "survey_completed"


def test_strict_flow_api_cancels_before_any_survey_answer(live_shop, emulator):
    session_id, path = _start(live_shop)
    subscriber = _subscriber(path)
    shown = subscriber.get("/api/v1/flow").json()
    assert shown["status"] == "viewed" and shown["reason_required"] is False
    assert shown["cancel"]["action"] == "cancel" and shown["offers"] is None

    response = subscriber.post(
        "/api/v1/flow/execute", {"action": "cancel", "feedback": "no survey"}, format="json"
    )

    assert response.status_code == 202, response.content
    assert response.json()["status"] == "executing" and response.json()["reason"] is None
    session = _session(session_id)
    assert session.survey_reason == "" and session.survey_feedback == ""
    assert _run_action(session_id).outcome_action == "cancel"
    assert live_subscription(emulator, live_shop.seeded.subscription_id)["cancel_at_period_end"]


def test_strict_flow_api_cancel_from_a_session_never_opened(live_shop):
    session_id, path = _start(live_shop)
    response = _subscriber(path).post("/api/v1/flow/execute", {"action": "cancel"}, format="json")
    assert response.status_code == 202, response.content
    session = _session(session_id)
    assert session.status == "executing" and session.viewed_at is not None


def test_strict_still_needs_the_survey_for_offers_and_refuses_bad_input(live_shop):
    session_id, path = _start(live_shop)
    subscriber = _subscriber(path)
    subscriber.get("/api/v1/flow")
    post = subscriber.post
    error = _api_error(
        post("/api/v1/flow/execute", {"action": "pause"}, format="json"), "validation_error", 400
    )
    assert "survey" in error["details"]["reason"]
    _api_error(
        post("/api/v1/flow/execute", {"action": "cancel", "offer_id": "pause:x"}, format="json"),
        "action_not_available",
        400,
    )
    body = {"action": "cancel", "pause_duration_days": 30}
    error = _api_error(post("/api/v1/flow/execute", body, format="json"), "validation_error", 400)
    assert "pause_duration_days" in error["details"]
    body = {"action": "cancel", "reason": "too_expensive"}
    error = _api_error(post("/api/v1/flow/execute", body, format="json"), "validation_error", 400)
    assert "reason" in error["details"]
    session = _session(session_id)
    assert session.status == "viewed" and session.selected_action == ""


# --- Strict off: the reason is required, as before ------------------------------------------


@pytest.mark.parametrize("mode", ["live", "test"])
def test_without_strict_the_reason_is_required(mode, live_shop, shop, browser):
    # ``shop`` and ``live_shop`` are the same workspace, connected in both modes.
    current = live_shop if mode == "live" else shop
    _strict(current, False)
    session_id, path = _start(current)
    page = browser.get(path).content.decode()
    assert 'id="skip-to-cancel"' not in page and "next page lets you cancel" in page

    skipped = browser.post(path, {"step": "cancel"})
    assert skipped.status_code == 400 and "Choose one of the listed reasons" in (
        skipped.content.decode()
    )
    subscriber = _subscriber(path)
    assert subscriber.get("/api/v1/flow").json()["reason_required"] is True
    assert subscriber.get("/api/v1/flow").json()["cancel"] is None
    response = subscriber.post("/api/v1/flow/execute", {"action": "cancel"}, format="json")
    _api_error(response, "validation_error", 400)
    assert _session(session_id).status == "viewed"

    # With a reason, the offers page's cancel and the confirmation: three actions.
    assert browser.post(path, {"step": "reason", "reason": "too_expensive"}).status_code == 302
    assert browser.post(path, {"step": "cancel"}).status_code == 302
    assert browser.post(path, {"step": "confirm", "action": "cancel"}).status_code == 302
    session = _session(session_id)
    assert session.status == "executing" and session.survey_reason == "too_expensive"


# --- At most three actions, whatever is configured -----------------------------------------


@pytest.mark.parametrize("ask_feedback", [True, False])
@pytest.mark.parametrize("strict", [True, False])
def test_reason_no_thanks_confirm_is_three_posts(shop, browser, emulator, ask_feedback, strict):
    _strict(shop, strict)
    flow_config_update(
        config=flow_config_get(tenant=shop.tenant, livemode=False), ask_feedback=ask_feedback
    )
    session_id, path = _start(shop)
    browser.get(path)
    posts = [
        {"step": "reason", "reason": "not_using_enough"},
        {"step": "offer", "action": "cancel"},
        {"step": "confirm", "action": "cancel", "feedback": "Moving to a spreadsheet"},
    ]
    for number, post in enumerate(posts, start=1):
        assert browser.post(path, post).status_code == 302, number
        if number == 2:
            confirm = browser.get(path).content.decode()
            assert ('name="feedback"' in confirm) is ask_feedback
    session = _run_action(session_id)
    assert session.status == "completed" and session.outcome_action == "cancel"
    assert session.survey_feedback == ("Moving to a spreadsheet" if ask_feedback else "")
    stripe = stripe_subscription(emulator, shop.seeded.subscription_id)
    assert stripe["cancellation_details"]["feedback"] == "unused"


def test_every_step_before_the_confirmation_offers_the_way_to_cancel(shop, browser):
    session_id, path = _start(shop)
    reason_page = browser.get(path).content.decode()
    browser.post(path, {"step": "reason", "reason": "not_using_enough"})
    offers_page = browser.get(path).content.decode()
    browser.post(path, {"step": "offer", "action": "pause", "pause_months": "2"})
    offer_confirm = browser.get(path).content.decode()
    for page in (reason_page, offers_page, offer_confirm):
        # First in the page, before the heading: no scrolling to find it.
        assert page.index("data-cancel-path") < page.index("<h1>")
    assert "Skip to cancel" in reason_page and "Skip to cancel" in offers_page
    assert "No thanks, cancel my subscription" in offers_page
    assert "Cancel my subscription instead" in offer_confirm


# --- Changing one's mind on an offer's confirmation -----------------------------------------


def test_cancel_instead_of_an_accepted_offer_keeps_the_reason_and_takes_feedback(
    shop, browser, emulator
):
    session_id, path = _start(shop)
    browser.get(path)
    browser.post(path, {"step": "reason", "reason": "not_using_enough"})
    browser.post(path, {"step": "offer", "action": "pause", "pause_months": "2"})
    assert 'name="feedback"' in browser.get(path).content.decode()

    assert browser.post(path, {"step": "cancel"}).status_code == 302
    session = _session(session_id)
    assert session.status == "action_selected" and session.selected_action == "cancel"
    assert session.action_params == {"at_period_end": True}
    confirm = browser.get(path).content.decode()
    assert "Cancel my subscription instead" not in confirm and 'name="feedback"' in confirm

    browser.post(path, {"step": "confirm", "action": "cancel", "feedback": "Changed my mind"})
    session = _run_action(session_id)
    assert session.outcome_action == "cancel" and session.survey_reason == "not_using_enough"
    stripe = stripe_subscription(emulator, shop.seeded.subscription_id)
    assert stripe["cancel_at_period_end"] is True and not stripe["pause_collection"]
    assert stripe["cancellation_details"]["comment"] == "Changed my mind"


def test_a_confirmation_of_the_old_choice_does_not_confirm_a_new_one(shop, browser):
    session_id, path = _start(shop)
    browser.get(path)
    browser.post(path, {"step": "reason", "reason": "not_using_enough"})
    browser.post(path, {"step": "offer", "action": "pause"})
    other_tab = FlowClient()
    other_tab.post(path, {"step": "cancel"})

    stale = browser.post(path, {"step": "confirm", "action": "pause", "feedback": "a break"})

    assert stale.status_code == 400
    page = stale.content.decode()
    assert "Your choice changed in another window" in page and 'value="cancel"' in page
    session = _session(session_id)
    assert session.status == "action_selected" and session.survey_feedback == ""
    assert session.selected_action == "cancel"


# --- Bad input and other workspaces ---------------------------------------------------------


def test_bad_confirmations_and_steps_change_nothing(shop, browser):
    session_id, path = _start(shop)
    browser.get(path)
    browser.post(path, {"step": "reason", "reason": "too_expensive"})
    browser.post(path, {"step": "offer", "action": "cancel"})

    too_long = browser.post(path, {"step": "confirm", "action": "cancel", "feedback": "x" * 5001})
    assert too_long.status_code == 400 and "too long" in too_long.content.decode()
    unknown = browser.post(path, {"step": "leave"})
    assert unknown.status_code == 400
    session = _session(session_id)
    assert session.status == "action_selected" and session.survey_feedback == ""

    browser.post(path, {"step": "confirm", "action": "cancel"})
    assert _session(session_id).status == "executing"
    # Once running, "cancel" again changes nothing; nor does it after the end.
    assert browser.post(path, {"step": "cancel"}).status_code == 302
    Session.objects.filter(pk=session_id).update(status="completed", outcome_action="cancel")
    assert browser.post(path, {"step": "cancel"}).status_code == 302
    session = _session(session_id)
    assert session.status == "completed" and session.execution_attempts == 1


def test_forged_or_foreign_tokens_skip_nothing(shop, browser, emulator, make_client):
    session_id, path = _start(shop)
    session = _session(session_id)
    for tenant_id, livemode in (("ws_someone_else", False), (session.tenant_id, True)):
        forged = session_token(
            session_id=session_id,
            tenant_id=tenant_id,
            livemode=livemode,
            expires_at=session.expires_at,
        )
        assert browser.post(f"/c/{forged}", {"step": "cancel"}).status_code == 401
        response = _subscriber(f"/c/{forged}").post(
            "/api/v1/flow/execute", {"action": "cancel"}, format="json"
        )
        _api_error(response, "invalid_token", 401)
    expired = session_token(
        session_id=session_id,
        tenant_id=session.tenant_id,
        livemode=False,
        expires_at=timezone.now() - timedelta(minutes=1),
    )
    assert browser.post(f"/c/{expired}", {"step": "cancel"}).status_code == 410
    assert _session(session_id).status == "created"

    # Another workspace's own token skips on its own session only, by its own setting.
    other = TenantFactory(strict_click_to_cancel=False)
    connect(other)
    seeded = seed(emulator, email="other@example.com")
    theirs = make_client(other).post(
        "/api/v1/sessions",
        {"customer_id": seeded.customer_id, "subscription_id": seeded.subscription_id},
    )
    their_path = urlsplit(theirs.json()["url"]).path
    browser.get(their_path)
    assert browser.post(their_path, {"step": "cancel"}).status_code == 400
    assert _session(theirs.json()["id"]).status == "viewed"
    assert _session(session_id).status == "created"


# --- The setting in admin -------------------------------------------------------------------


def _workspace_form(tenant, **changes) -> dict:  # type: ignore[no-untyped-def]
    data = {
        "name": tenant.name,
        "brand_color": tenant.brand_color,
        "support_email": tenant.support_email,
        "return_url_allowlist": '["https://app.example.com"]',
        "default_return_url": tenant.default_return_url,
        "receipts_enabled": "on",
        "_save": "Save",
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def test_an_owner_turns_strict_click_to_cancel_off_and_on(tenant, shop, browser):
    user = UserFactory()
    MembershipFactory(user=user, tenant=tenant, role="owner")
    owner = FlowClient()
    owner.force_login(user)
    url = f"/admin/tenants/tenant/{tenant.pk}/change/"
    page = owner.get(url).content.decode()
    assert "Strict click-to-cancel" in page
    assert "may cancel without giving a reason" in page
    assert re.search(r'<input[^>]*name="strict_click_to_cancel"[^>]*checked', page)

    response = owner.post(url, _workspace_form(tenant))  # the box left unticked
    assert response.status_code == 302, response.content.decode()[:2000]
    tenant.refresh_from_db()
    assert tenant.strict_click_to_cancel is False
    _, path = _start(shop)
    assert 'id="skip-to-cancel"' not in browser.get(path).content.decode()

    owner.post(url, _workspace_form(tenant, strict_click_to_cancel="on"))
    tenant.refresh_from_db()
    assert tenant.strict_click_to_cancel is True


def test_an_admin_member_may_not_change_the_setting(tenant):
    user = UserFactory()
    MembershipFactory(user=user, tenant=tenant, role="admin")
    admin_member = FlowClient()
    admin_member.force_login(user)
    response = admin_member.post(
        f"/admin/tenants/tenant/{tenant.pk}/change/", _workspace_form(tenant)
    )
    assert response.status_code == 403
    tenant.refresh_from_db()
    assert tenant.strict_click_to_cancel is True


# --- In a real worker -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def worker(
    django_db_setup,  # type: ignore[no-untyped-def]
    django_db_blocker,
    stripe_emulator,
    tmp_path_factory,
) -> Iterator[WorkerProcess]:
    """A Celery worker for this module only, on a broker namespace of its own (the
    package's other tests never publish to it)."""
    env = {
        "STRIPE_API_BASE": stripe_emulator.base_url,
        "STRIPE_CONNECT_BASE": stripe_emulator.base_url,
        "WEBHOOK_ALLOW_LOOPBACK": "1",
    }
    with (
        isolated_broker() as broker,
        start_worker(broker=broker, env=env, log_dir=tmp_path_factory.mktemp("celery")) as process,
    ):
        yield process


@pytest.mark.django_db(transaction=True)
def test_the_skip_path_cancels_on_stripe_in_a_worker(worker, live_shop, browser, emulator):
    session_id, path = _start(live_shop)
    browser.get(path)
    assert browser.post(path, {"step": "cancel"}).status_code == 302
    assert browser.post(path, {"step": "confirm", "action": "cancel"}).status_code == 302

    session = worker.wait_until(
        lambda: (s := _session(session_id)).status in ("completed", "failed") and s
    )

    assert session.status == "completed", session.failure
    assert session.outcome_details["cancel_at_period_end"] is True
    stripe = live_subscription(emulator, live_shop.seeded.subscription_id)
    assert stripe["cancel_at_period_end"] is True
    result = browser.get(path).content.decode()
    assert "Your subscription is canceled" in result
