"""Which sessions an experiment takes: those opened from the subscription hub (a cancel
there continues into the same flow), not direct cancels, where no offer is shown."""

from __future__ import annotations

import pytest

from sessions_app.models import Session
from sessions_app.tokens import SESSION_AUDIENCE, token_verify
from tests.hub.conftest import browser, hub_shop, page_path  # noqa: F401

from .conftest import PCT30, start_experiment

pytestmark = pytest.mark.django_db


def test_a_cancel_from_the_hub_is_assigned_and_gets_the_arms_offers(hub_shop, browser):  # noqa: F811
    experiment = start_experiment(hub_shop.tenant, weights=(0, 1, 0))
    created = hub_shop.open()
    path = page_path(created["url"])
    browser.get(path)
    sub = hub_shop.customer.pro_subscription_id
    response = browser.post(path, {"action": "cancel", "subscription": sub})
    assert response.status_code == 302
    token = response["Location"].removeprefix("/c/")
    session = Session.objects.get(pk=token_verify(token=token, audience=SESSION_AUDIENCE)["sid"])
    assert (session.experiment_id, session.experiment_arm) == (experiment.pk, "pct30")

    browser.get(response["Location"])
    browser.post(response["Location"], {"step": "reason", "reason": "too_expensive"})
    session.refresh_from_db()
    [discount] = [o for o in session.offers_considered if o["action"] == "discount"]
    assert discount["params"]["percent_off"] == PCT30["params"]["percent_off"]


def test_a_direct_cancel_is_not_assigned(hub_shop):  # noqa: F811
    start_experiment(hub_shop.tenant, weights=(0, 0, 1))
    sub = hub_shop.customer.pro_subscription_id
    response = hub_shop.client.post(
        f"/api/v1/subscriptions/{sub}/cancel",
        {"reason": "too_expensive"},
        HTTP_IDEMPOTENCY_KEY="direct-1",
    )
    assert response.status_code in (200, 201), response.content
    session = Session.objects.get(subscription_id=sub, source="api")
    assert session.experiment_id == "" and session.experiment_arm == ""
    body = hub_shop.client.get(f"/api/v1/sessions/{session.pk}").json()
    assert body["experiment"] is None
