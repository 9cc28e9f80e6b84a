"""Analytics figures from a known set of sessions: every metric, both modes, the date
boundaries, two currencies; the page, its charts, and a CSV equal to its tables."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser

import pytest
from django.db import connection

from dashboard.analytics import Period, analytics_report
from sessions_app.models import Session
from tests.factories import TenantFactory

pytestmark = pytest.mark.django_db

PERIOD = Period(start=date(2026, 1, 10), end=date(2026, 1, 12))
QUERY = {"start": "2026-01-10", "end": "2026-01-12"}


def at(day: int, hour: int = 12, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 1, day, hour, minute, second, tzinfo=UTC)


def offer(offer_id: str, shown: bool = True) -> dict:
    action = offer_id.split(":", 1)[0]
    return {"offer_id": offer_id, "action": action, "params": {}, "shown": shown,
            "reason": None if shown else "not_trialing"}  # fmt: skip


PAUSE, DISCOUNT, DOWNGRADE, TRIAL = (
    "pause:ofr_a",
    "discount:ofr_b",
    "downgrade:ofr_c",
    "extend_trial:default",
)
_counter = iter(range(1_000_000))


def make(tenant, created_at, status="created", *, livemode=True, **fields) -> Session:
    n = next(_counter)
    opened = status not in ("created", "expired")
    values = {
        "tenant": tenant,
        "livemode": livemode,
        "status": status,
        "customer_id": f"cus_{n}",
        "subscription_id": f"sub_{n}",
        "created_at": created_at,
        "expires_at": created_at + timedelta(hours=24),
        "viewed_at": created_at + timedelta(minutes=1) if opened else None,
        "price_amount": 2900,
        "price_currency": "usd",
        "price_interval": "month",
        **fields,
    }
    return Session.objects.create(**values)


@pytest.fixture
def sessions(tenant):
    """Eight live sessions in the range, with their answers worked out by hand below."""
    s = {}
    s[1] = make(
        tenant,
        at(10, 8),
        "completed",
        outcome_action="pause",
        survey_reason="too_expensive",
        offers_considered=[offer(PAUSE), offer(DISCOUNT), offer(TRIAL, shown=False)],
    )
    s[2] = make(
        tenant,
        at(11),
        "completed",
        outcome_action="discount",
        survey_reason="too_expensive",
        price_amount=12000,
        price_interval="year",
        offers_considered=[offer(PAUSE), offer(DISCOUNT)],
    )
    s[3] = make(
        tenant,
        at(11),
        "completed",
        outcome_action="cancel",
        survey_reason="missing_features",
        price_amount=700,
        price_interval="week",
        offers_considered=[offer(PAUSE)],
    )
    s[4] = make(
        tenant,
        at(12),
        "completed",
        outcome_action="downgrade",
        survey_reason="too_expensive",
        price_amount=5000,
        price_currency="eur",
        price_interval_count=2,
        offers_considered=[offer(DOWNGRADE)],
    )
    s[5] = make(
        tenant,
        at(12, 23, 59, 59),
        "completed",
        outcome_action="cancel",
        survey_reason="other",
        price_amount=100,
        price_currency="eur",
        price_interval="day",
    )
    s[6] = make(
        tenant,
        at(10),
        "abandoned",
        survey_reason="not_using_enough",
        offers_considered=[offer(PAUSE)],
    )
    s[7] = make(tenant, at(10), "expired")
    s[8] = make(tenant, at(12), "failed", survey_reason="technical_issues")  # fmt: skip
    # Outside the range by a second on each side, another mode, another workspace.
    make(tenant, at(13, 0), "completed", outcome_action="pause", survey_reason="other")
    make(tenant, at(9, 23, 59, 59), "completed", outcome_action="cancel", survey_reason="other")
    make(tenant, at(11), "completed", livemode=False, outcome_action="cancel",
         survey_reason="switching_competitor", price_amount=1000, price_currency="gbp",
         offers_considered=[offer(PAUSE)])  # fmt: skip
    make(TenantFactory(), at(11), "completed", outcome_action="pause", survey_reason="other")
    return s


def test_live_figures_match_the_hand_worked_answers(tenant, sessions):
    report = analytics_report(tenant=tenant, livemode=True, period=PERIOD)

    assert report.counts == {
        "started": 8,
        "opened": 7,  # all but the expired one
        "reason_given": 7,
        "completed": 5,
        "saved": 3,  # pause, discount, downgrade
        "deflected": 0,
        "canceled": 2,
        "abandoned": 1,
        "expired": 1,
        "failed": 1,
    }
    assert report.save_rate == pytest.approx(0.6)
    mrr = {row.currency: row for row in report.mrr}
    assert set(mrr) == {"usd", "eur"}  # one figure per currency, never a sum across them
    # usd saved: 2900/month + 12000/year = 2900 + 1000; lost: 700/week = 700 x 52 / 12.
    assert (mrr["usd"].saved, mrr["usd"].lost) == (3900, 3033)
    assert (mrr["usd"].saved_sessions, mrr["usd"].canceled_sessions) == (2, 1)
    # eur saved: 5000 every 2 months = 2500; lost: 100/day = 100 x 365 / 12 = 3041.67.
    assert (mrr["eur"].saved, mrr["eur"].lost) == (2500, 3042)

    reasons = {row.code: row for row in report.reasons}
    assert {code: row.sessions for code, row in reasons.items()} == {
        "too_expensive": 3,
        "missing_features": 1,
        "other": 1,
        "not_using_enough": 1,
        "technical_issues": 1,
    }
    assert (reasons["too_expensive"].saved, reasons["too_expensive"].canceled) == (3, 0)
    assert reasons["too_expensive"].save_rate == 1.0
    assert (reasons["missing_features"].completed, reasons["missing_features"].saved) == (1, 0)

    offers = {row.offer_id: row for row in report.offers}
    assert (offers[PAUSE].shown, offers[PAUSE].accepted) == (4, 1)
    assert offers[PAUSE].acceptance_rate == 0.25
    assert (offers[DISCOUNT].shown, offers[DISCOUNT].accepted) == (2, 1)
    assert (offers[DOWNGRADE].shown, offers[DOWNGRADE].accepted) == (1, 1)
    assert (offers[TRIAL].considered, offers[TRIAL].shown, offers[TRIAL].accepted) == (1, 0, 0)
    assert offers[TRIAL].acceptance_rate is None

    trend = [(d.day.day, d.started, d.completed, d.saved, d.canceled) for d in report.trend]
    assert trend == [(10, 3, 1, 1, 0), (11, 2, 2, 1, 1), (12, 3, 2, 1, 1)]


def test_test_mode_is_reported_only_when_asked(tenant, sessions):
    report = analytics_report(tenant=tenant, livemode=False, period=PERIOD)

    assert report.counts["started"] == 1
    assert (report.counts["completed"], report.counts["saved"]) == (1, 0)
    assert report.save_rate == 0.0
    [gbp] = report.mrr
    assert (gbp.currency, gbp.saved, gbp.lost) == ("gbp", 0, 1000)
    assert [(r.offer_id, r.shown, r.accepted) for r in report.offers] == [(PAUSE, 1, 0)]


def test_a_range_with_nothing_in_it_says_so(tenant, sessions):
    report = analytics_report(
        tenant=tenant, livemode=True, period=Period(date(2025, 1, 1), date(2025, 1, 2))
    )
    assert report.counts["started"] == 0 and report.save_rate is None
    assert report.mrr == [] and report.offers == [] and report.reasons == []
    assert [d.started for d in report.trend] == [0, 0]


class _Tables(HTMLParser):
    """Each <table> of the page as [caption, [header], [row], ...]."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[dict] = []
        self._cell: list[str] | None = None
        self._row: list[str] | None = None
        self._caption = False

    def handle_starttag(self, tag, attrs):  # type: ignore[no-untyped-def]
        if tag == "table":
            self.tables.append({"caption": "", "rows": []})
        elif tag == "caption":
            self._caption = True
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):  # type: ignore[no-untyped-def]
        if tag == "caption":
            self._caption = False
        elif tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.tables[-1]["rows"].append(self._row)
            self._row = None

    def handle_data(self, data):  # type: ignore[no-untyped-def]
        if self._caption:
            self.tables[-1]["caption"] += data
        elif self._cell is not None:
            self._cell.append(data)


@pytest.fixture
def viewer(merchant_client, tenant):
    return merchant_client(tenant, "viewer")


def test_the_page_shows_figures_charts_and_definitions(viewer, sessions):
    response = viewer.get("/admin/analytics/", QUERY)

    assert response.status_code == 200
    html = response.content.decode()
    charts = html.split('<div class="mrrx-charts">')[1].split(
        '<div class="mrrx-charts" id="proof"'
    )[0]
    assert charts.count('<svg xmlns="http://www.w3.org/2000/svg"') == 4  # trend, funnel, ...
    # Drawn here, fetched from nowhere: no URL but the SVG namespace.
    assert "//" not in charts.replace("http://www.w3.org/2000/svg", "")
    for text in ("60.0%", "$39.00", "$30.33", "€25.00", "€30.42", "How each figure is counted",
                 "Saved ÷ Completed.", "Too expensive"):  # fmt: skip
        assert text in html, text
    assert "<script" not in html.split('id="content-main"')[1]


def test_csv_has_exactly_the_numbers_of_the_tables(viewer, sessions):
    page = viewer.get("/admin/analytics/", QUERY)
    exported = viewer.get("/admin/analytics/", {**QUERY, "format": "csv"})

    assert exported["Content-Type"].startswith("text/csv")
    assert "attachment" in exported["Content-Disposition"]
    parser = _Tables()
    html = page.content.decode()
    parser.feed(html.split('id="tables"')[1].split('id="definitions"')[0])
    from_html = []
    for table in parser.tables:
        for row in table["rows"]:
            if row != ["Nothing in this range."]:
                from_html.append([table["caption"].strip(), *row])
    from_csv = list(csv.reader(io.StringIO(exported.content.decode())))
    assert from_csv == from_html
    assert ["Summary", "Save rate", "60.0%"] in from_csv
    assert ["MRR by currency", "EUR", "25.00", "30.42", "1", "1"] in from_csv
    assert ["Daily trend", "2026-01-11", "2", "2", "1", "1"] in from_csv


def test_test_mode_page_and_bad_ranges(viewer, sessions):
    test_mode = viewer.get("/admin/analytics/", {**QUERY, "mode": "test"}).content.decode()
    assert "test-mode sessions only" in test_mode and "£10.00" in test_mode

    backwards = viewer.get("/admin/analytics/", {"start": "2026-01-12", "end": "2026-01-10"})
    assert backwards.status_code == 200
    assert "must not be after" in backwards.content.decode()


def test_analytics_are_per_workspace(merchant_client, sessions, other_tenant):
    outsider = merchant_client(other_tenant, "owner")
    html = outsider.get("/admin/analytics/", QUERY).content.decode()
    assert "Bravo" not in html
    exported = outsider.get("/admin/analytics/", {**QUERY, "format": "csv"}).content.decode()
    row = next(line for line in exported.splitlines() if line.startswith("Summary,Sessions"))
    assert row == "Summary,Sessions started,0"


def test_anonymous_users_are_sent_to_log_in(client):
    response = client.get("/admin/analytics/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_an_operator_reads_the_analytics_of_the_workspace_they_switch_to(
    operator_client, tenant, other_tenant, sessions
):
    operator_client.post("/admin/workspace/", {"workspace": tenant.pk})
    page = operator_client.get("/admin/analytics/", QUERY).content.decode()
    assert f"Analytics · {tenant.name}" in page and "60.0%" in page

    operator_client.post("/admin/workspace/", {"workspace": other_tenant.pk})
    page = operator_client.get("/admin/analytics/", QUERY).content.decode()
    assert f"Analytics · {other_tenant.name}" in page and "60.0%" not in page


# The mode the page opens on when none is asked for.

NOTE = "Showing test mode: there are no live-mode sessions yet."


def _opened_on(client, **query: str) -> tuple[str, str, bool]:  # type: ignore[no-untyped-def]
    """The mode the page shows, its "Sessions started" figure, and whether it has the note."""
    html = client.get("/admin/analytics/", query).content.decode()
    mode = re.search(r'<option value="(live|test)" selected>', html).group(1)  # type: ignore[union-attr]
    assert f", {mode} mode, " in html
    started = re.search(
        r'<div class="label">Sessions started</div><div class="value">(\d+)</div>', html
    ).group(1)  # type: ignore[union-attr]
    return mode, started, NOTE in html


def test_a_workspace_with_only_test_sessions_opens_on_test_mode_and_says_so(viewer, tenant):
    now = datetime.now(UTC)
    make(tenant, now, livemode=False)
    make(tenant, now, "completed", livemode=False, outcome_action="pause")

    assert _opened_on(viewer) == ("test", "2", True)


def test_a_workspace_with_only_live_sessions_opens_on_live_mode(viewer, tenant):
    make(tenant, datetime.now(UTC))

    assert _opened_on(viewer) == ("live", "1", False)


def test_a_workspace_with_sessions_in_both_modes_opens_on_live_mode(viewer, tenant):
    now = datetime.now(UTC)
    make(tenant, now)
    make(tenant, now, livemode=False)
    make(tenant, now, livemode=False)

    assert _opened_on(viewer) == ("live", "1", False)


def test_a_workspace_without_sessions_opens_on_live_mode(viewer):
    assert _opened_on(viewer) == ("live", "0", False)


def test_the_mode_asked_for_is_shown(viewer, tenant):
    now = datetime.now(UTC)
    make(tenant, now, livemode=False)

    assert _opened_on(viewer, mode="live") == ("live", "0", False)
    assert _opened_on(viewer, mode="test") == ("test", "1", False)
    # Also when the dates are wrong and the default range is shown instead.
    assert _opened_on(viewer, mode="live", start="2026-01-12", end="2026-01-10") == (
        "live",
        "0",
        False,
    )


def test_another_workspaces_sessions_do_not_choose_the_mode(
    merchant_client, viewer, tenant, other_tenant
):
    now = datetime.now(UTC)
    make(tenant, now, livemode=False)
    make(other_tenant, now)
    make(other_tenant, now)

    assert _opened_on(viewer) == ("test", "1", True)
    assert _opened_on(merchant_client(other_tenant, "viewer")) == ("live", "2", False)
    # Nor do they in a workspace with no sessions at all.
    assert _opened_on(merchant_client(TenantFactory(), "viewer")) == ("live", "0", False)


@pytest.mark.django_db(transaction=True)
def test_the_page_read_at_once_on_several_connections_is_the_page_read_in_turn(
    viewer, sessions, settings, monkeypatch
):
    """With the data committed, the page's reads run on the read threads' connections
    (READ_CONCURRENCY): the CSV of its tables is the same as when they run one by one."""
    from mrrx import parallel

    submitted = []
    real = parallel._checked
    monkeypatch.setattr(parallel, "_checked", lambda call: submitted.append(call) or real(call))
    settings.READ_CONCURRENCY = 2
    at_once = viewer.get("/admin/analytics/", {**QUERY, "format": "csv"})
    assert at_once.status_code == 200
    if connection.vendor == "postgresql":
        assert len(submitted) >= 2  # the retention, the experiments, one scan of the range
    settings.READ_CONCURRENCY = 1
    in_turn = viewer.get("/admin/analytics/", {**QUERY, "format": "csv"})
    assert at_once.content == in_turn.content
    assert "60.0%" in at_once.content.decode()
