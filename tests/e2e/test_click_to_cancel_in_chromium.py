"""Cancel is never hidden: clicks from the cancel link to a confirmed cancellation, counted
in Debian's Chromium on a phone-size screen, for every offer configuration.

Each configuration is walked twice, each time to a subscription canceled on the emulator
by the worker: the way most subscribers go (a reason, "No thanks, cancel my
subscription", the confirmation) and the shortest way (whatever each page marks as its way
to cancel). Either must take at most three clicks, and on every page the way to cancel
must be on screen without scrolling, in readable type.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest

from offers.models import OfferAction
from offers.selectors import flow_config_get
from offers.services import flow_config_update, offer_create, offer_delete
from sessions_app.models import Session
from tests.sessions.conftest import seed

from .conftest import ARTIFACTS, PHONE, stripe_subscription

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

MAX_CLICKS = 3
REASON, REASON_LABEL = "too_expensive", "Too expensive"
COUNTS = ARTIFACTS / "click_counts.jsonl"


@dataclass(frozen=True)
class Setup:
    name: str
    offers: tuple[str, ...] = ()  # configured for the reason, in order
    ask_feedback: bool = True
    strict: bool = False
    trialing: bool = False  # a trialing subscription is offered extend_trial first
    javascript: bool = True
    shown: tuple[str, ...] = field(default=())  # offers the subscriber must see

    @property
    def expected_offers(self) -> set[str]:
        return set(self.shown or self.offers) | ({"extend_trial"} if self.trialing else set())


ALL = ("pause", "discount", "downgrade", "contact", "redirect")
SETUPS = [
    Setup("no-offers"),
    Setup("pause", offers=("pause",)),
    Setup("discount", offers=("discount",)),
    Setup("downgrade", offers=("downgrade",)),
    Setup("contact", offers=("contact",)),
    Setup("redirect", offers=("redirect",)),
    Setup("strict-deflections", offers=("contact", "redirect"), strict=True),
    Setup("extend-trial", trialing=True),
    Setup("all-offers", offers=ALL, trialing=True),
    Setup("all-offers-no-feedback", offers=ALL, trialing=True, ask_feedback=False),
    Setup("strict-no-offers", strict=True),
    Setup("strict-all-offers", offers=ALL, trialing=True, strict=True),
    Setup("strict-all-offers-no-feedback", offers=ALL, trialing=True, strict=True,
          ask_feedback=False),
    Setup("no-js-all-offers", offers=ALL, trialing=True, javascript=False),
    Setup("no-js-strict-all-offers", offers=ALL, trialing=True, strict=True, javascript=False),
]  # fmt: skip

# Where on the page the way to cancel is, and whether a phone shows it unscrolled, in type
# at least 16px, 44px tall, with at least 4.5:1 contrast (WCAG AA) against its background.
_CANCEL_PATH = """() => {
  const marked = document.querySelector("[data-cancel-path]");
  if (!marked) return null;
  const el = marked.matches("button, a") ? marked : marked.querySelector("button, a");
  const box = el.getBoundingClientRect();
  const style = getComputedStyle(el);
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).slice(0, 4).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  let node = el, bg = null;
  while (node) {
    const c = rgb(getComputedStyle(node).backgroundColor);
    if (c.length === 3 || (c.length === 4 && c[3] > 0)) { bg = c; break; }
    node = node.parentElement;
  }
  bg = bg || [255, 255, 255];
  const [a, b] = [lum(rgb(style.color)), lum(bg)].sort((x, y) => y - x);
  return {
    text: el.innerText.trim(),
    top: box.top, bottom: box.bottom, left: box.left, right: box.right, height: box.height,
    viewportHeight: window.innerHeight, viewportWidth: window.innerWidth,
    fontSize: parseFloat(style.fontSize), contrast: (a + 0.05) / (b + 0.05),
    visible: style.visibility === "visible" && parseFloat(style.opacity) === 1,
  };
}"""


def _assert_cancel_path_on_screen(page, step: str) -> str:  # type: ignore[no-untyped-def]
    found = page.evaluate(_CANCEL_PATH)
    assert found is not None, f"no way to cancel on the {step} page"
    assert found["visible"] and found["text"], (step, found)
    assert found["top"] >= 0 and found["bottom"] <= found["viewportHeight"], (step, found)
    assert found["left"] >= 0 and found["right"] <= found["viewportWidth"], (step, found)
    assert found["fontSize"] >= 16 and found["height"] >= 44, (step, found)
    assert found["contrast"] >= 4.5, (step, found)
    return found["text"]


def _step(page) -> str:  # type: ignore[no-untyped-def]
    if page.locator("#result-title").count():
        return "result"
    if page.locator("#mrrx-progress").count():
        return "progress"
    if page.locator("input[name=step][value=reason]").count():
        return "reason"
    if page.locator("input[name=step][value=offer]").count():
        return "offers"
    if page.locator("input[name=step][value=feedback]").count():
        return "feedback"
    if page.locator("input[name=step][value=confirm]").count():
        return "confirm"
    raise AssertionError(f"an unknown page: {page.content()[:2000]}")


def _next_click(page, step: str, route: str):  # type: ignore[no-untyped-def]
    """What a subscriber on ``route`` clicks on this page."""
    if route == "shortest":
        marked = page.locator("[data-cancel-path]")
        return (
            marked
            if marked.evaluate("e => e.matches('button, a')")
            else (marked.locator("button").first)
        )
    if step == "reason":
        return page.get_by_role("button", name=REASON_LABEL, exact=True)
    if step == "offers":
        return page.get_by_role("button", name="No thanks, cancel my subscription")
    if step == "feedback":  # a feedback page of its own would cost a click
        return page.get_by_role("button", name="Skip")
    return page.locator("#confirm")


@dataclass
class Walk:
    clicks: int = 0
    steps: list[str] = field(default_factory=list)
    offers_seen: set[str] = field(default_factory=set)


def _cancel(page, route: str) -> Walk:  # type: ignore[no-untyped-def]
    walk = Walk()
    for _ in range(10):  # a bound, so a flow that never ends fails instead of hanging
        step = _step(page)
        if step == "result":
            return walk
        if step == "progress":
            # With or without scripts the page refreshes itself until the worker is done.
            page.wait_for_selector("#result-title", timeout=30_000)
            continue
        on_screen = _assert_cancel_path_on_screen(page, step)
        if step == "offers":
            walk.offers_seen = set(
                page.locator("input[name=action][type=radio]").evaluate_all(
                    "els => els.map(e => e.value)"
                )
            )
        target = _next_click(page, step, route)
        walk.steps.append(
            f"{step}: clicked {target.inner_text().strip()!r} (on screen: {on_screen!r})"
        )
        target.click()
        page.wait_for_load_state()
        walk.clicks += 1
    raise AssertionError(f"no result after {walk.clicks} clicks: {walk.steps}")


# A merchant page a redirect offer may send subscribers to (never followed here).
HELP_ORIGIN = "https://help.acme.example"


def _configure(shop, setup: Setup, seeded: list) -> None:  # type: ignore[no-untyped-def]
    shop.tenant.strict_click_to_cancel = setup.strict
    if HELP_ORIGIN not in shop.tenant.return_url_allowlist:
        shop.tenant.return_url_allowlist = [*shop.tenant.return_url_allowlist, HELP_ORIGIN]
    shop.tenant.save()
    config = flow_config_get(tenant=shop.tenant, livemode=False)
    flow_config_update(
        config=config, ask_feedback=setup.ask_feedback, trial_extension_first=setup.trialing
    )
    for offer in config.offers.filter(reason=REASON):
        offer_delete(offer=offer)
    params = {
        OfferAction.PAUSE: {"months_options": [1, 2, 3]},
        OfferAction.DISCOUNT: {"percent_off": 25, "duration_months": 3},
        # A cheaper price for each subscriber's own price, so the downgrade is shown.
        OfferAction.DOWNGRADE: {
            "targets": {
                s.pro_price_id: {
                    "price_id": s.basic_price_id,
                    "amount": 1900,
                    "currency": "usd",
                    "interval": "month",
                    "product_name": "Basic",
                    "from_amount": 2900,
                }
                for s in seeded
            }
        },
        OfferAction.CONTACT: {
            "message": "Tell us what would make it worth keeping.",
            "email": "help@acme.example",
            "scheduling_url": "https://cal.acme.example/15min",
        },
        OfferAction.REDIRECT: {"url": f"{HELP_ORIGIN}/downgrade", "label": "See cheaper plans"},
    }
    for action in setup.offers:
        offer_create(config=config, reason=REASON, action=action, params=params[action])


@pytest.mark.parametrize("setup", SETUPS, ids=[s.name for s in SETUPS])
def test_cancelling_takes_at_most_three_clicks_with_the_way_always_on_screen(
    setup, chromium, hosted, live_server, celery_worker_process, emulator, shots
):
    seeded = {
        route: seed(emulator, trial_days=7 if setup.trialing else None, email=f"{route}@ex.com")
        for route in ("no-thanks", "shortest")
    }
    _configure(hosted, setup, list(seeded.values()))
    context = chromium.new_context(
        viewport=PHONE, is_mobile=True, has_touch=True, java_script_enabled=setup.javascript
    )
    counts = {}
    for route, subscriber in seeded.items():
        created = hosted.create(
            customer_id=subscriber.customer_id,
            subscription_id=subscriber.subscription_id,
            return_url=f"{live_server.url}/api/v1/health",
        ).json()
        session_id, url = created["id"], created["url"]
        page = context.new_page()
        page.goto(url)
        walk = _cancel(page, route)
        shots.take(page, f"{route}-result")
        page.close()

        session = Session.objects.get(pk=session_id)
        assert session.status == "completed" and session.outcome_action == "cancel", (
            session.status, session.failure, walk.steps,
        )  # fmt: skip
        stripe = stripe_subscription(emulator, subscriber.subscription_id)
        assert stripe["cancel_at_period_end"] is True
        assert walk.clicks <= MAX_CLICKS, (route, walk.clicks, walk.steps)
        if route == "no-thanks":
            # The configuration is what the subscriber saw: the count is about these offers.
            assert walk.offers_seen == setup.expected_offers, walk.offers_seen
            assert session.survey_reason == REASON
        elif setup.strict:
            # The reason is optional: "Skip to cancel", then the confirmation.
            assert walk.clicks == 2 and session.survey_reason == "", walk.steps
        counts[route] = {"clicks": walk.clicks, "steps": walk.steps}
    context.close()
    COUNTS.parent.mkdir(parents=True, exist_ok=True)
    with COUNTS.open("a") as out:
        out.write(json.dumps({"setup": setup.name, **counts}) + "\n")


def test_an_accepted_offers_confirmation_keeps_the_way_to_cancel_on_screen(
    chromium, hosted, live_server, celery_worker_process, emulator, shots
):
    subscriber = seed(emulator, email="changed-mind@ex.com")
    _configure(hosted, Setup("all-offers", offers=ALL), [subscriber])
    created = hosted.create(
        customer_id=subscriber.customer_id,
        subscription_id=subscriber.subscription_id,
        return_url=f"{live_server.url}/api/v1/health",
    ).json()
    context = chromium.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto(created["url"])
    page.get_by_role("button", name=REASON_LABEL, exact=True).click()
    page.locator("input[name=action][value=pause]").check()
    page.get_by_role("button", name="Accept this offer").click()
    assert _step(page) == "confirm"
    shots.take(page, "pause-confirm")
    assert _assert_cancel_path_on_screen(page, "confirm") == "Cancel my subscription instead"

    page.get_by_role("button", name="Cancel my subscription instead").click()
    assert _assert_cancel_path_on_screen(page, "confirm") == "Cancel my subscription"
    page.locator("#confirm").click()
    page.wait_for_selector("#result-title", timeout=30_000)
    context.close()
    session = Session.objects.get(pk=created["id"])
    assert session.outcome_action == "cancel" and session.survey_reason == REASON
    stripe = stripe_subscription(emulator, subscriber.subscription_id)
    assert stripe["cancel_at_period_end"] is True and not stripe["pause_collection"]
