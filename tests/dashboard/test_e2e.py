"""A merchant signs in with a real browser, opens analytics and reads the charts."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from sessions_app.models import Session
from tests.factories import MembershipFactory, TenantFactory, UserFactory

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PASSWORD = "correct horse battery staple"  # tests.factories.UserFactory's


def _seed_sessions(tenant) -> None:  # type: ignore[no-untyped-def]
    now = timezone.now()
    outcomes = ["pause", "discount", "cancel", "cancel", "downgrade", "cancel", "pause"]
    reasons = ["too_expensive", "not_using_enough", "missing_features", "too_expensive", "other"]
    for n in range(35):
        created = now - timedelta(days=n % 12, hours=n % 5)
        Session.objects.create(
            tenant=tenant,
            livemode=True,
            status="completed" if n % 6 else "abandoned",
            outcome_action=outcomes[n % len(outcomes)] if n % 6 else "",
            survey_reason=reasons[n % len(reasons)],
            customer_id=f"cus_e2e_{n}",
            subscription_id=f"sub_e2e_{n}",
            price_amount=2900 if n % 3 else 9900,
            price_currency="usd" if n % 4 else "eur",
            price_interval="month",
            offers_considered=[
                {
                    "offer_id": "pause:ofr_e2e",
                    "action": "pause",
                    "params": {},
                    "shown": True,
                    "reason": None,
                },
                {
                    "offer_id": "discount:ofr_e2e",
                    "action": "discount",
                    "params": {},
                    "shown": n % 2 == 0,
                    "reason": None,
                },
            ],  # fmt: skip
            created_at=created,
            viewed_at=created,
            expires_at=created + timedelta(hours=24),
        )


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_a_merchant_logs_in_and_reads_analytics(live_server, chromium):
    from playwright.sync_api import expect

    tenant = TenantFactory(name="Acme Analytics")
    user = UserFactory(username="merchant@acme.test", email="merchant@acme.test")
    MembershipFactory(user=user, tenant=tenant, role="viewer")
    _seed_sessions(tenant)
    ARTIFACTS.mkdir(exist_ok=True)
    requested: list[str] = []

    context = chromium.new_context(viewport={"width": 1366, "height": 900})
    try:
        page = context.new_page()
        page.on("request", lambda request: requested.append(request.url))
        page.goto(f"{live_server.url}/admin/")
        page.fill("#id_username", "merchant@acme.test")
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        expect(page.locator(".mrrx-bar")).to_contain_text("Acme Analytics")

        page.get_by_role("link", name="Analytics").click()
        expect(page).to_have_url(f"{live_server.url}/admin/analytics/")
        expect(page.locator("#headline")).to_contain_text("Save rate")
        expect(page.locator("#chart-trend svg")).to_be_visible()
        expect(page.locator("#chart-reasons svg")).to_contain_text("Too expensive")
        expect(page.locator("#chart-offers svg")).to_contain_text("accepted")
        expect(page.locator("#tables")).to_contain_text("MRR by currency")
        page.screenshot(path=str(ARTIFACTS / "analytics.png"), full_page=True)

        # A viewer reads; the workspace's settings are not theirs to open.
        response = page.goto(f"{live_server.url}/admin/offers/flowconfig/")
        assert response is not None and response.status == 403
    finally:
        context.close()

    assert requested and all(url.startswith(live_server.url) for url in requested), [
        url for url in requested if not url.startswith(live_server.url)
    ]
