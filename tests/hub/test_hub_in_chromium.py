"""A customer uses the subscription hub in Debian's Chromium, driven by Playwright: with
two subscriptions, they resume one and cancel the other through the retention flow
(accepting no offer); on a desktop, without JavaScript, on a phone, and in mrrx.js's modal
on the merchant's page."""

from __future__ import annotations

import json

import pytest
from standardwebhooks import Webhook

from hub.models import HubAction
from sessions_app.models import Session
from tests.browser import PHONE
from tests.e2e.test_embed import MerchantSite
from tests.webhooks.reference import reference_verify

from .conftest import pause, stripe_subscription

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

BRAND = "Acme Analytics"


@pytest.fixture(autouse=True)
def _loopback(settings, celery_broker):  # noqa: F811
    settings.WEBHOOK_ALLOW_LOOPBACK = True


@pytest.fixture
def hosted(settings, live_server, hub_shop):  # type: ignore[no-untyped-def]
    """The product served for real: links point at the live server, which is allowlisted."""
    settings.PUBLIC_BASE_URL = live_server.url
    tenant = hub_shop.tenant
    tenant.return_url_allowlist = [live_server.url]
    tenant.brand_color, tenant.name = "#0f766e", BRAND
    tenant.support_email = "help@acme.example"
    tenant.save()
    return hub_shop


@pytest.fixture
def merchant_site():  # type: ignore[no-untyped-def]
    site = MerchantSite()
    yield site
    site.close()


def _received(receiver, worker, secret: str, types: set[str]) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    """The webhooks of ``types``, once all have arrived, each checked as a receiver would."""

    def arrived() -> dict[str, dict] | None:
        found = {}
        for request in receiver.to("/hook"):
            body = request.body.decode()
            assert reference_verify(body, request.headers["x-mrrx-signature"], secret)
            Webhook(secret).verify(body, request.headers)
            found[request.headers["x-mrrx-event-type"]] = json.loads(body)
        return found if types <= set(found) else None

    return worker.wait_until(arrived, timeout=30)


def _cancel_through_the_flow(page, shots, name: str) -> None:  # type: ignore[no-untyped-def]
    """Reason, offers (taking none), confirm: the retention flow as the hub hands it over."""
    page.get_by_role("button", name="Too expensive").click()
    shots.take(page, f"{name}-offers")
    page.get_by_role("button", name="No thanks, cancel my subscription").click()
    shots.take(page, f"{name}-confirm")
    page.get_by_role("button", name="Cancel my subscription", exact=True).click()
    page.wait_for_selector("#result-title", timeout=30_000)
    shots.take(page, f"{name}-result")


def _check_outcome(hosted, emulator, receiver, worker, secret: str, hub_id: str) -> None:  # type: ignore[no-untyped-def]
    customer = hosted.customer
    addon = stripe_subscription(emulator, customer.addon_subscription_id)
    pro = stripe_subscription(emulator, customer.pro_subscription_id)
    assert addon["pause_collection"] is None and addon["status"] == "active"
    assert pro["cancel_at_period_end"] is True
    assert pro["cancellation_details"]["feedback"] == "too_expensive"
    session = Session.objects.get(hub_session_id=hub_id)
    assert session.subscription_id == customer.pro_subscription_id
    assert (session.status, session.outcome_action) == ("completed", "cancel")
    events = _received(
        receiver,
        worker,
        secret,
        {"subscription.resumed", "session.created", "session.completed", "subscription.canceled"},
    )
    resumed = events["subscription.resumed"]["data"]
    assert (resumed["session_id"], resumed["subscription_id"], resumed["source"]) == (
        hub_id,
        customer.addon_subscription_id,
        "hub",
    )
    canceled = events["subscription.canceled"]["data"]
    assert (canceled["session_id"], canceled["subscription_id"]) == (
        session.id,
        customer.pro_subscription_id,
    )
    assert canceled["survey_response"]["reason"] == "too_expensive"
    api = hosted.client.get(f"/api/v1/hub_sessions/{hub_id}").json()
    assert [(a["type"], a["status"]) for a in api["actions"]] == [
        ("resume", "completed"),
        ("cancel", "opened"),
    ]
    assert [(s["id"], s["status"]) for s in api["sessions"]] == [(session.id, "completed")]
    assert HubAction.objects.filter(kind="resume").count() == 1


@pytest.mark.parametrize("device", ["desktop", "without-javascript", "phone"])
def test_customer_resumes_one_subscription_and_cancels_the_other(
    device, chromium, hosted, live_server, celery_worker_process, emulator, receiver,
    make_endpoint, shots,
):  # fmt: skip
    _, secret = make_endpoint(hosted.tenant)
    customer = hosted.customer
    pause(emulator, customer.addon_subscription_id)
    created = hosted.open(return_url=f"{live_server.url}/api/v1/health")
    options: dict = {}
    if device == "without-javascript":
        options["java_script_enabled"] = False
    elif device == "phone":
        options.update(viewport=PHONE, is_mobile=True, has_touch=True)
    context = chromium.new_context(**options)
    page = context.new_page()
    page.goto(created["url"])
    shots.take(page, "hub")
    assert page.title().endswith(BRAND)
    if device == "phone":
        # Nothing wider than the phone: no sideways scrolling.
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    addon = page.locator(f"#sub-{customer.addon_subscription_id}")
    pro = page.locator(f"#sub-{customer.pro_subscription_id}")
    assert "Paused until" in addon.inner_text() and "Team Add-on" in addon.inner_text()
    assert "Pro Plan" in pro.inner_text() and "Next bill: $29.00" in pro.inner_text()

    addon.get_by_role("button", name="Resume now").click()
    # Progress, then the result: by polling with scripts, by the page refreshing without.
    page.wait_for_selector(
        f"#sub-{customer.addon_subscription_id} >> text=Your subscription is active again.",
        timeout=30_000,
    )
    shots.take(page, "resumed")
    assert "Active" in addon.inner_text()

    pro.get_by_role("button", name="Cancel subscription").click()
    _cancel_through_the_flow(page, shots, device)
    page.get_by_role("link", name=f"Back to {BRAND}").click()
    page.wait_for_selector("#returned", timeout=30_000)
    shots.take(page, "back-in-the-hub")
    assert "canceled" in page.locator("#returned").inner_text()
    pro = page.locator(f"#sub-{customer.pro_subscription_id}")
    assert "Cancels on" in pro.inner_text()
    assert pro.get_by_role("button", name="Keep my subscription").is_visible()
    if device == "phone":
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    context.close()
    _check_outcome(hosted, emulator, receiver, celery_worker_process, secret, created["id"])


MERCHANT_PAGE = """<!doctype html><html><head><title>Acme account</title>
<script src="{mrrx}/static/mrrx.js"></script></head><body>
<button id="manage">Manage subscriptions</button><pre id="out"></pre>
<script>
document.getElementById("manage").onclick = function () {{
  MRRX.openHub({url!r}, {{ onClose: function () {{
    document.getElementById("out").textContent = "closed";
  }} }});
}};
</script></body></html>"""


def test_the_hub_in_mrrx_js_modal_on_the_merchants_page(
    chromium, hosted, live_server, celery_worker_process, emulator, receiver, make_endpoint,
    merchant_site, shots,
):  # fmt: skip
    _, secret = make_endpoint(hosted.tenant)
    customer = hosted.customer
    hosted.tenant.return_url_allowlist = [live_server.url, merchant_site.url]
    hosted.tenant.save()
    pause(emulator, customer.addon_subscription_id)
    created = hosted.open(return_url=f"{merchant_site.url}/account")
    merchant_site.html = MERCHANT_PAGE.format(mrrx=live_server.url, url=created["url"])

    page = chromium.new_page()
    page.goto(f"{merchant_site.url}/account")
    page.click("#manage")
    hub = page.frame_locator("iframe")
    addon = hub.locator(f"#sub-{customer.addon_subscription_id}")
    addon.get_by_role("button", name="Resume now").click()
    hub.locator(
        f"#sub-{customer.addon_subscription_id} >> text=Your subscription is active again."
    ).wait_for(timeout=30_000)
    shots.take(page, "modal-resumed")
    hub.locator(f"#sub-{customer.pro_subscription_id}").get_by_role(
        "button", name="Cancel subscription"
    ).click()
    hub.get_by_role("button", name="Too expensive").click()
    hub.get_by_role("button", name="No thanks, cancel my subscription").click()
    hub.get_by_role("button", name="Cancel my subscription", exact=True).click()
    # The finished flow hands its result up; mrrx.js takes the modal back to the hub.
    hub.locator("#returned").wait_for(timeout=30_000)
    shots.take(page, "modal-back-in-the-hub")
    assert "Cancels on" in hub.locator(f"#sub-{customer.pro_subscription_id}").inner_text()
    # Going back closes the modal, and the merchant's page hears of it.
    hub.get_by_role("link", name=f"Back to {BRAND}").click()
    page.wait_for_function("document.getElementById('out').textContent === 'closed'")
    assert page.locator("iframe").count() == 0
    assert page.url == f"{merchant_site.url}/account"
    page.close()
    _check_outcome(hosted, emulator, receiver, celery_worker_process, secret, created["id"])
