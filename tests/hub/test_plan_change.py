"""Change plan in the hub: only the changes the merchant allows, with the new amount shown
before the customer confirms, confirmed once."""

from __future__ import annotations

import re
import time
from html import unescape

import pytest

from billing.gateway import StripeGateway
from hub.models import HubAction

from .conftest import MERCHANT_KEY, page_path, schedule_cancel

pytestmark = pytest.mark.django_db


def _text(response) -> str:  # type: ignore[no-untyped-def]
    html = response.content.decode()
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


def _hidden(response, name: str) -> str:  # type: ignore[no-untyped-def]
    match = re.search(rf'name="{name}" value="([^"]*)"', response.content.decode())
    assert match, name
    return match.group(1)


def _dollars(cents: int) -> str:
    return f"${cents / 100:,.2f}"


@pytest.fixture
def visit(hub_shop, browser):  # type: ignore[no-untyped-def]
    created = hub_shop.open()
    return created, page_path(created["url"])


def test_no_change_plan_without_an_allowed_change(hub_shop, browser, visit):
    _, path = visit
    assert "Change plan" not in _text(browser.get(path))
    plans = browser.get(f"{path}/plan/{hub_shop.customer.pro_subscription_id}")
    assert "There are no other plans to switch to." in _text(plans)


def test_the_plan_page_lists_only_the_allowed_changes_with_their_prices(hub_shop, browser, visit):
    seeded = hub_shop.customer.seeded
    hub_shop.allow_plan_change(seeded.pro_price_id, seeded.basic_price_id)
    # A change from another price is not this subscription's to make.
    hub_shop.allow_plan_change(seeded.basic_price_id, seeded.pro_price_id)
    _, path = visit
    page = browser.get(path)
    assert "Change plan" in _text(page)
    plans = browser.get(f"{path}/plan/{seeded.subscription_id}")
    assert plans.status_code == 200
    text = _text(plans)
    assert "Pro Plan · $29.00 / month" in text
    html = plans.content.decode()
    assert f'href="?price={seeded.basic_price_id}"' in html
    assert f'href="?price={seeded.pro_price_id}"' not in html
    assert "$19.00 / month" in text


def test_the_preview_shows_what_stripe_will_invoice_and_credits_unused_time(
    hub_shop, browser, visit, emulator
):
    seeded = hub_shop.customer.seeded
    hub_shop.allow_plan_change(seeded.pro_price_id, seeded.basic_price_id)
    _, path = visit
    before = int(time.time())
    preview = browser.get(f"{path}/plan/{seeded.subscription_id}?price={seeded.basic_price_id}")
    assert preview.status_code == 200
    proration_date = int(_hidden(preview, "proration_date"))
    assert before <= proration_date <= int(time.time())
    # Stripe's own numbers for the same change at the same moment.
    expected = StripeGateway(api_key=MERCHANT_KEY, livemode=False).invoice_preview(
        seeded.subscription_id,
        new_price_id=seeded.basic_price_id,
        proration_behavior="create_prorations",
        proration_date=proration_date,
    )
    assert expected is not None and expected.proration_amount < 0
    text = _text(preview)
    assert f"Your next bill: {_dollars(expected.amount_due)} on" in text
    assert f"Includes a credit of {_dollars(-expected.proration_amount)}" in text
    assert "Switch to Pro Plan" in text  # the button names the plan
    assert _hidden(preview, "price") == seeded.basic_price_id
    assert HubAction.objects.count() == 0  # a preview is only a read


def test_an_immediate_invoice_is_shown_as_paid_now(hub_shop, browser, visit, emulator):
    seeded = hub_shop.customer.seeded
    hub_shop.allow_plan_change(seeded.basic_price_id, seeded.pro_price_id, "always_invoice")
    stripe_sub = emulator.client("sk_test_seed").v1.subscriptions.retrieve(seeded.subscription_id)
    emulator.client("sk_test_seed").v1.subscriptions.update(
        seeded.subscription_id,
        {
            "items": [{"id": stripe_sub["items"].data[0].id, "price": seeded.basic_price_id}],
            "proration_behavior": "none",
        },
    )
    _, path = visit
    preview = browser.get(f"{path}/plan/{seeded.subscription_id}?price={seeded.pro_price_id}")
    assert re.search(r"You pay \$\d+\.\d\d now for the rest of this period\.", _text(preview))


def test_without_proration_the_new_price_starts_next_period(hub_shop, browser, visit):
    seeded = hub_shop.customer.seeded
    hub_shop.allow_plan_change(seeded.pro_price_id, seeded.basic_price_id, "none")
    _, path = visit
    preview = browser.get(f"{path}/plan/{seeded.subscription_id}?price={seeded.basic_price_id}")
    text = _text(preview)
    assert "Your next bill: $19.00 on" in text
    assert "The new price applies from your next billing period." in text


def test_a_price_that_is_not_allowed_is_not_offered(hub_shop, browser, visit):
    seeded = hub_shop.customer.seeded
    _, path = visit
    response = browser.get(f"{path}/plan/{seeded.subscription_id}?price={seeded.basic_price_id}")
    assert response.status_code == 404
    refused = browser.post(
        path,
        {
            "action": "change_plan",
            "subscription": seeded.subscription_id,
            "price": seeded.basic_price_id,
            "proration_date": str(int(time.time())),
        },
    )
    assert refused.status_code == 400
    assert "That plan is not available for this subscription." in _text(refused)
    assert HubAction.objects.count() == 0


def test_confirming_claims_the_change_once_with_the_previewed_moment(
    hub_shop, browser, visit, django_capture_on_commit_callbacks
):
    seeded = hub_shop.customer.seeded
    hub_shop.allow_plan_change(seeded.pro_price_id, seeded.basic_price_id)
    created, path = visit
    preview = browser.get(f"{path}/plan/{seeded.subscription_id}?price={seeded.basic_price_id}")
    form = {
        "action": "change_plan",
        "subscription": seeded.subscription_id,
        "price": seeded.basic_price_id,
        "proration_date": _hidden(preview, "proration_date"),
    }
    with django_capture_on_commit_callbacks() as queued:
        assert browser.post(path, form).status_code == 302
        assert browser.post(path, form).status_code == 302
    assert len(queued) == 1
    action = HubAction.objects.get()
    assert action.kind == "change_plan" and action.price_id == seeded.basic_price_id
    assert action.idempotency_key == (
        f"{created['id']}:change_plan:{seeded.subscription_id}:{seeded.basic_price_id}"
    )
    assert action.params == {
        "from_price_id": seeded.pro_price_id,
        "proration_behavior": "create_prorations",
        "proration_date": int(form["proration_date"]),
    }


def test_a_stale_preview_must_be_reviewed_again(hub_shop, browser, visit):
    seeded = hub_shop.customer.seeded
    hub_shop.allow_plan_change(seeded.pro_price_id, seeded.basic_price_id)
    _, path = visit
    for stale in (str(int(time.time()) - 2 * 3600), str(int(time.time()) + 3600), "", "x"):
        response = browser.post(
            path,
            {
                "action": "change_plan",
                "subscription": seeded.subscription_id,
                "price": seeded.basic_price_id,
                "proration_date": stale,
            },
        )
        assert response.status_code == 400
        assert "The price shown is out of date." in _text(response)
    assert HubAction.objects.count() == 0


def test_no_plan_change_while_set_to_cancel(hub_shop, browser, visit, emulator):
    seeded = hub_shop.customer.seeded
    hub_shop.allow_plan_change(seeded.pro_price_id, seeded.basic_price_id)
    schedule_cancel(emulator, seeded.subscription_id)
    _, path = visit
    page = browser.get(path)
    assert "Change plan" not in _text(page)
