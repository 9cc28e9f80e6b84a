"""Analytics by source: the cancel flow's sessions, direct cancels and the merchant's own
flow (custom sessions) are each reported on their own, never added together."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest

from dashboard.analytics import Period, analytics_report
from sessions_app.models import CustomSession, Session
from tests.factories import TenantFactory

pytestmark = pytest.mark.django_db

PERIOD = Period(start=date(2026, 3, 1), end=date(2026, 3, 2))
QUERY = {"start": "2026-03-01", "end": "2026-03-02", "mode": "live"}


def at(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 3, day, hour, tzinfo=UTC)


def session(tenant, source: str, outcome: str, **fields) -> Session:  # type: ignore[no-untyped-def]
    n = Session.objects.count()
    values = {
        "tenant": tenant,
        "livemode": True,
        "source": source,
        "status": "completed",
        "outcome_action": outcome,
        "customer_id": f"cus_{n}",
        "subscription_id": f"sub_{n}",
        "created_at": at(1),
        "expires_at": at(2),
        "viewed_at": at(1),
        "price_amount": 2900,
        "price_currency": "usd",
        "price_interval": "month",
        **fields,
    }
    return Session.objects.create(**values)


def custom(tenant, external_id: str, started_at: datetime, **fields) -> CustomSession:  # type: ignore[no-untyped-def]
    values = {"livemode": True, "customer_id": f"cus_{external_id}", **fields}
    return CustomSession.objects.create(
        tenant=tenant, external_id=external_id, started_at=started_at, **values
    )


DISCOUNT = {"action": "discount", "label": "25% off"}
PAUSE = {"action": "pause", "label": "Pause 1 month"}


@pytest.fixture
def mixed(tenant):
    # The cancel flow: one save, one cancellation.
    session(tenant, "flow", "pause", survey_reason="too_expensive")
    session(tenant, "flow", "cancel", survey_reason="missing_features")
    # Direct cancels by the merchant's backend.
    session(tenant, "api", "cancel", survey_reason="too_expensive", price_amount=9900)
    session(tenant, "api", "cancel")
    # The merchant's own flow, worked out by hand in the tests below.
    custom(tenant, "a", at(1, 9), survey_reason="too_expensive", outcome_action="discount",
           offers_shown=[DISCOUNT], mrr_amount=2900, mrr_currency="usd")  # fmt: skip
    custom(tenant, "b", at(1, 10), survey_reason="missing_features", outcome_action="cancel",
           offers_shown=[DISCOUNT, PAUSE], mrr_amount=5000, mrr_currency="usd")  # fmt: skip
    custom(tenant, "c", at(2), survey_reason="too_expensive", offers_shown=[PAUSE])
    custom(tenant, "d", at(2, 23), outcome_action="pause", offers_shown=[PAUSE])
    # Outside the range, another mode, another workspace.
    custom(tenant, "e", at(3, 0), outcome_action="cancel")
    custom(tenant, "f", at(1), livemode=False, outcome_action="cancel")
    custom(TenantFactory(), "g", at(1), outcome_action="cancel")


def test_the_cancel_flow_figures_leave_the_other_sources_out(tenant, mixed):
    report = analytics_report(tenant=tenant, livemode=True, period=PERIOD)
    assert report.source == "flow"
    assert (report.counts["started"], report.counts["saved"], report.counts["canceled"]) == (
        2,
        1,
        1,
    )
    assert [(row.currency, row.saved, row.lost) for row in report.mrr] == [("usd", 2900, 2900)]
    assert report.other_sources == {"api": 2, "custom": 4}


def test_direct_cancels_are_their_own_source(tenant, mixed):
    report = analytics_report(tenant=tenant, livemode=True, period=PERIOD, source="api")
    assert (report.counts["started"], report.counts["completed"], report.counts["canceled"]) == (
        2,
        2,
        2,
    )
    assert report.save_rate == 0
    assert [(row.currency, row.lost) for row in report.mrr] == [("usd", 12800)]
    assert report.other_sources == {"flow": 2, "custom": 4}


def test_custom_sessions_figures_match_the_hand_worked_answers(tenant, mixed):
    report = analytics_report(tenant=tenant, livemode=True, period=PERIOD, source="custom")
    c = report.counts
    assert c == {
        "started": 4,
        "opened": 4,
        "reason_given": 3,
        "completed": 3,  # a, b and d reported an outcome
        "saved": 2,  # a (discount) and d (pause)
        "deflected": 0,
        "canceled": 1,
        "abandoned": 1,  # c: left without an outcome
        "expired": 0,
        "failed": 0,
    }
    assert round(report.save_rate, 4) == round(2 / 3, 4)
    # d reported no MRR: it is saved, but adds no amount and no currency.
    [usd] = report.mrr
    assert (usd.currency, usd.saved, usd.lost, usd.saved_sessions, usd.canceled_sessions) == (
        "usd",
        2900,
        5000,
        1,
        1,
    )
    reasons = {row.code: (row.sessions, row.saved, row.canceled) for row in report.reasons}
    assert reasons == {"too_expensive": (2, 1, 0), "missing_features": (1, 0, 1)}
    offers = {(row.action, row.label): (row.shown, row.accepted) for row in report.offers}
    assert offers == {("discount", "25% off"): (2, 1), ("pause", "Pause 1 month"): (3, 1)}
    trend = {row.day: (row.started, row.completed, row.saved, row.canceled) for row in report.trend}
    assert trend == {date(2026, 3, 1): (2, 2, 1, 1), date(2026, 3, 2): (2, 1, 1, 0)}
    assert report.other_sources == {"flow": 2, "api": 2}


@pytest.fixture
def viewer(merchant_client, tenant):
    return merchant_client(tenant, "viewer")


def test_the_page_names_its_source_and_links_the_others(viewer, mixed):
    html = viewer.get("/admin/analytics/", QUERY).content.decode()
    note = html.split('id="source-note"')[1].split("</p>")[0]
    assert "MRRX cancel flow (hosted page and flow API)" in note
    assert "2 from direct cancel api" in note
    assert "4 from your own flow (custom sessions)" in note
    assert "source=custom" in note and "source=api" in note
    # The sessions behind the figures are the flow's only.
    assert "source__exact=flow" in html


def test_the_custom_source_page_and_csv(viewer, mixed):
    page = viewer.get("/admin/analytics/", {**QUERY, "source": "custom"})
    html = page.content.decode()
    assert page.status_code == 200
    assert '<option value="custom" selected>' in html
    assert "66.7%" in html and "$29.00" in html and "$50.00" in html
    assert "3 with an outcome" in html and "1 without" in html
    exported = viewer.get("/admin/analytics/", {**QUERY, "source": "custom", "format": "csv"})
    assert "-custom-2026-03-01-2026-03-02.csv" in exported["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(exported.content.decode())))
    assert ["Summary", "Source", "Your own flow (custom sessions)"] in rows
    assert ["Summary", "Sessions started", "4"] in rows
    assert ["Summary", "Save rate", "66.7%"] in rows
    assert ["MRR by currency", "USD", "29.00", "50.00", "1", "1"] in rows


def test_an_unknown_source_is_refused_and_the_flow_shown(viewer, mixed):
    html = viewer.get("/admin/analytics/", {**QUERY, "source": "everything"}).content.decode()
    assert "Select a valid choice" in html
    assert '<option value="flow" selected>' in html


def test_another_workspaces_custom_sessions_do_not_count(merchant_client, mixed, other_tenant):
    outsider = merchant_client(other_tenant, "owner")
    exported = outsider.get("/admin/analytics/", {**QUERY, "source": "custom", "format": "csv"})
    rows = list(csv.reader(io.StringIO(exported.content.decode())))
    assert ["Summary", "Sessions started", "0"] in rows


def test_dates_older_than_the_range_are_outside_it(tenant):
    custom(tenant, "old", at(1) - timedelta(days=30), outcome_action="cancel")
    report = analytics_report(tenant=tenant, livemode=True, period=PERIOD, source="custom")
    assert report.counts["started"] == 0
