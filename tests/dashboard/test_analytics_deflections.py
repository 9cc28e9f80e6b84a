"""Contact and redirect outcomes in analytics: deflected, a figure of its own, never saved."""

from __future__ import annotations

import pytest

from dashboard.analytics import analytics_report
from tests.dashboard.test_analytics import PERIOD, QUERY, at, make, offer, viewer  # noqa: F401
from tests.factories import TenantFactory

pytestmark = pytest.mark.django_db

CONTACT, REDIRECT, PAUSE = "contact:ofr_k", "redirect:ofr_r", "pause:ofr_p"
SHOWN = [offer(PAUSE), offer(CONTACT), offer(REDIRECT)]


@pytest.fixture
def deflections(tenant):
    """Live, in the range: one pause, two contacts, one redirect, one cancellation."""
    make(
        tenant,
        at(10),
        "completed",
        outcome_action="pause",
        survey_reason="too_expensive",
        offers_considered=SHOWN,
    )
    for day in (10, 11):
        make(
            tenant,
            at(day),
            "completed",
            outcome_action="contact",
            survey_reason="missing_features",
            offers_considered=SHOWN,
        )
    make(
        tenant,
        at(12),
        "completed",
        outcome_action="redirect",
        survey_reason="too_expensive",
        price_amount=12000,
        price_interval="year",
        offers_considered=SHOWN,
    )
    make(
        tenant,
        at(12),
        "completed",
        outcome_action="cancel",
        survey_reason="other",
        price_amount=700,
        offers_considered=SHOWN,
    )
    # Another workspace's deflection and a test-mode one are not counted.
    make(TenantFactory(), at(11), "completed", outcome_action="contact")
    make(tenant, at(11), "completed", livemode=False, outcome_action="redirect")
    # fmt: skip


def test_deflections_are_counted_apart_from_saves_and_from_mrr(tenant, deflections):
    report = analytics_report(tenant=tenant, livemode=True, period=PERIOD)

    c = report.counts
    assert (c["completed"], c["saved"], c["deflected"], c["canceled"]) == (5, 1, 3, 1)
    assert report.save_rate == pytest.approx(1 / 5)
    [usd] = report.mrr
    # Saved: the pause's 2900 only; lost: the cancellation's 700. The deflections' 2900,
    # 2900 and 12000/year are in neither.
    assert (usd.saved, usd.lost, usd.saved_sessions, usd.canceled_sessions) == (2900, 700, 1, 1)
    reasons = {row.code: (row.completed, row.saved) for row in report.reasons}
    assert reasons == {"missing_features": (2, 0), "too_expensive": (2, 1), "other": (1, 0)}
    assert [(d.day.day, d.completed, d.saved) for d in report.trend] == [
        (10, 2, 1),
        (11, 1, 0),
        (12, 2, 0),
    ]
    offers = {row.offer_id: (row.shown, row.accepted) for row in report.offers}
    assert offers == {PAUSE: (5, 1), CONTACT: (5, 2), REDIRECT: (5, 1)}


def test_the_api_gives_deflected_in_totals_and_per_offer(make_client, tenant, deflections):
    live = make_client(tenant, livemode=True)
    query = {"from": QUERY["start"], "to": QUERY["end"]}
    totals = live.get("/api/v1/analytics", data=query).json()["totals"]
    assert (totals["completed"], totals["saved"], totals["deflected"]) == (5, 1, 3)
    assert totals["mrr_saved"] == [{"currency": "usd", "amount": 2900}]

    groups = live.get("/api/v1/analytics", data={**query, "group_by": "offer"}).json()["groups"]
    by_offer = {g["key"]: (g["saved"], g["deflected"]) for g in groups}
    assert by_offer == {PAUSE: (1, 0), CONTACT: (0, 2), REDIRECT: (0, 1)}
    # The other workspace's key sees none of it.
    other = make_client(TenantFactory(), livemode=True)
    assert other.get("/api/v1/analytics", data=query).json()["totals"]["deflected"] == 0


def test_the_page_shows_the_deflected_figure_and_its_definition(viewer, deflections):  # noqa: F811
    html = viewer.get("/admin/analytics/", QUERY).content.decode()
    assert "Deflected" in html
    assert "the subscriber was answered and the subscription left as it was" in html
    assert "1 saved of 5 completed" in html
