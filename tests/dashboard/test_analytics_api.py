"""GET /api/v1/analytics: the page's figures for the key's workspace and mode, grouped as
asked, with the retention of saves and experiment results against the holdout."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from experiments.models import Arm, ArmKind, Experiment, ExperimentStatus
from retention.models import Save, SaveCheckpoint
from retention.services.saves import session_copies
from tenants.models import SCOPE_SESSIONS_READ
from tests.dashboard.test_analytics import PAUSE, QUERY, _Tables, at, make, sessions, viewer  # noqa: F401

pytestmark = pytest.mark.django_db

API_QUERY = {"from": QUERY["start"], "to": QUERY["end"]}


def save_of(session, *checkpoints: str, mrr: int = 2900, currency: str = "usd") -> Save:
    """A save for ``session`` with its 30/60/90-day checkpoints in the given statuses."""
    saved = session.created_at + timedelta(minutes=5)
    record = Save.objects.create(
        tenant=session.tenant,
        livemode=session.livemode,
        session=session,
        customer_id=session.customer_id,
        subscription_id=session.subscription_id,
        outcome_action=session.outcome_action,
        saved_at=saved,
        mrr_amount=mrr,
        currency=currency,
        **session_copies(session),
    )
    for day, status in zip((30, 60, 90), checkpoints, strict=True):
        SaveCheckpoint.objects.create(
            save_record=record, day=day, due_at=saved + timedelta(days=day), status=status
        )
    return record


@pytest.fixture
def live(make_client, tenant):
    return make_client(tenant, livemode=True)


@pytest.fixture
def saves(sessions):
    """Sessions 1 (pause, usd) and 2 (discount, 12000/year usd) retained at 30; session 2
    churns by 60; session 4 (downgrade, eur) still pending."""
    save_of(sessions[1], "retained", "retained", "retained")
    save_of(sessions[2], "retained", "churned", "churned", mrr=1000)
    save_of(sessions[4], "pending", "pending", "pending", mrr=2500, currency="eur")
    return sessions


def test_totals_are_the_pages_figures(live, viewer, saves):
    response = live.get("/api/v1/analytics", data=API_QUERY)

    assert response.status_code == 200
    body = response.json()
    assert (body["object"], body["livemode"], body["from"], body["to"]) == (
        "analytics", True, "2026-01-10", "2026-01-12"
    )  # fmt: skip
    totals = body["totals"]
    assert (totals["sessions_started"], totals["completed"], totals["saved"]) == (8, 5, 3)
    assert (totals["canceled"], totals["save_rate"]) == (2, 0.6)
    assert totals["mrr_saved"] == [
        {"currency": "eur", "amount": 2500},
        {"currency": "usd", "amount": 3900},
    ]
    assert totals["retained"] == [
        {"day": 30, "saves": 3, "retained": 2, "churned": 0, "pending": 1, "rate": 1.0},
        {"day": 60, "saves": 3, "retained": 1, "churned": 1, "pending": 1, "rate": 0.5},
        {"day": 90, "saves": 3, "retained": 1, "churned": 1, "pending": 1, "rate": 0.5},
    ]
    assert totals["mrr_retained_90"] == [{"currency": "usd", "amount": 2900}]
    # 2900 retained at 90 days over 8 sessions started.
    assert totals["mrr_retained_90_per_session"] == [{"currency": "usd", "amount": 362.5}]

    # The page shows the same numbers for the same range and mode.
    page = viewer.get("/admin/analytics/", {**QUERY, "mode": "live"}).content.decode()
    parser = _Tables()
    parser.feed(page.split('id="tables"')[1].split('id="definitions"')[0])
    tables = {t["caption"].strip(): t["rows"] for t in parser.tables}
    summary = dict(row for row in tables["Summary"] if len(row) == 2)
    assert summary["Sessions started"] == str(totals["sessions_started"])
    assert summary["Completed"] == str(totals["completed"])
    assert summary["Saved"] == str(totals["saved"])
    assert summary["Save rate"] == f"{totals['save_rate'] * 100:.1f}%"
    mrr = {row[0]: row[1] for row in tables["MRR by currency"][1:]}
    assert mrr == {"EUR": "25.00", "USD": "39.00"}
    retention = {row[0]: row[1:6] for row in tables["Retention of saves"][1:]}
    for entry in totals["retained"]:
        assert retention[f"{entry['day']} days"] == [
            str(entry["saves"]), str(entry["retained"]), str(entry["churned"]),
            str(entry["pending"]), f"{entry['rate'] * 100:.1f}%",
        ]  # fmt: skip


def test_every_figure_has_its_definition_linked_to_the_page(live, viewer, saves):
    body = live.get("/api/v1/analytics", data={**API_QUERY, "group_by": "reason"}).json()

    page = viewer.get("/admin/analytics/", {**QUERY, "mode": "live"}).content.decode()
    for figure in body["totals"]:
        definition = body["definitions"][figure]
        assert definition["url"].endswith(f"/admin/analytics/#def-{figure}")
        assert f'<dt id="def-{figure}">' in page, figure
        assert definition["text"].replace("÷", "&divide;")[:30] in page.replace("÷", "&divide;")
    assert body["definitions"]["save_rate"]["text"] == "Saved ÷ Completed."
    assert "group_reason" in body["definitions"]
    assert {"difference_vs_holdout", "not_enough_data"} <= set(body["definitions"])


def test_group_by_reason(live, saves):
    body = live.get("/api/v1/analytics", data={**API_QUERY, "group_by": "reason"}).json()

    groups = {g["key"]: g for g in body["groups"]}
    assert [g["key"] for g in body["groups"]][0] == "too_expensive"
    assert {key: g["sessions_started"] for key, g in groups.items()} == {
        "too_expensive": 3, "missing_features": 1, "other": 1, "not_using_enough": 1,
        "technical_issues": 1, "none": 1,
    }  # fmt: skip
    expensive = groups["too_expensive"]
    assert expensive["label"] == "Too expensive"
    assert (expensive["saved"], expensive["save_rate"]) == (3, 1.0)
    assert expensive["mrr_saved"] == [
        {"currency": "eur", "amount": 2500},
        {"currency": "usd", "amount": 3900},
    ]
    assert [r["retained"] for r in expensive["retained"]] == [2, 1, 1]
    assert groups["none"]["label"] == "No reason given"  # the expired session
    assert groups["other"]["retained"][0]["saves"] == 0
    # The groups add up to the totals.
    assert sum(g["sessions_started"] for g in body["groups"]) == body["totals"]["sessions_started"]


def test_group_by_day(live, saves):
    body = live.get("/api/v1/analytics", data={**API_QUERY, "group_by": "day"}).json()

    assert [(g["key"], g["sessions_started"], g["saved"]) for g in body["groups"]] == [
        ("2026-01-10", 3, 1),
        ("2026-01-11", 2, 1),
        ("2026-01-12", 3, 1),
    ]
    assert [r["retained"] for r in body["groups"][0]["retained"]] == [1, 1, 1]  # session 1
    assert [r["churned"] for r in body["groups"][1]["retained"]] == [0, 1, 1]  # session 2


def test_group_by_offer(live, saves):
    body = live.get("/api/v1/analytics", data={**API_QUERY, "group_by": "offer"}).json()

    groups = {g["key"]: g for g in body["groups"]}
    # Shown in sessions 1, 2, 3 and 6; taken in session 1 only (2 took the discount).
    pause = groups[PAUSE]
    assert (pause["sessions_started"], pause["completed"], pause["saved"]) == (4, 3, 1)
    assert (pause["canceled"], pause["save_rate"]) == (1, pytest.approx(1 / 3))
    assert pause["mrr_saved"] == [{"currency": "usd", "amount": 2900}]
    assert [r["retained"] for r in pause["retained"]] == [1, 1, 1]
    discount = groups["discount:ofr_b"]
    assert (discount["sessions_started"], discount["saved"]) == (2, 1)
    assert discount["mrr_saved"] == [{"currency": "usd", "amount": 1000}]
    assert [(r["retained"], r["churned"]) for r in discount["retained"]] == [(1, 0), (0, 1), (0, 1)]
    assert "extend_trial:default" not in groups  # considered, never shown


@pytest.fixture
def experiment(tenant):
    """20% off (40 sessions, 20 saved, 15 still paying $29 at 90 days) against a holdout
    (40 sessions, none saved), and a 30% off arm with only 10 sessions."""
    exp = Experiment.objects.create(
        tenant=tenant,
        livemode=True,
        name="20 vs 30 off",
        status=ExperimentStatus.RUNNING,
        started_at=at(1),
    )
    Arm.objects.create(experiment=exp, key="pct20", name="20% off", position=0)
    Arm.objects.create(experiment=exp, key="pct30", name="30% off", position=1)
    Arm.objects.create(
        experiment=exp, key="holdout", name="Holdout", kind=ArmKind.HOLDOUT, position=2
    )
    for n in range(40):
        outcome = "discount" if n < 20 else "cancel"
        session = make(tenant, at(11), "completed", outcome_action=outcome,
                       experiment_id=exp.pk, experiment_arm="pct20")  # fmt: skip
        if n < 20:
            save_of(session, "retained", "retained", "retained" if n < 15 else "churned")
        make(tenant, at(11), "completed", outcome_action="cancel", experiment_id=exp.pk,
             experiment_arm="holdout")  # fmt: skip
    for n in range(10):
        session = make(tenant, at(11), "completed", outcome_action="discount",
                       experiment_id=exp.pk, experiment_arm="pct30")  # fmt: skip
        save_of(session, "retained", "retained", "retained")
    return exp


def test_experiment_results_against_the_holdout_with_hand_worked_intervals(live, experiment):
    body = live.get("/api/v1/analytics", data=API_QUERY).json()

    [result] = body["experiments"]
    assert (result["id"], result["status"], result["holdout_arm"]) == (
        experiment.pk, "running", "holdout"
    )  # fmt: skip
    arms = {arm["key"]: arm for arm in result["arms"]}
    pct20 = arms["pct20"]
    assert (pct20["sessions_started"], pct20["saved"], pct20["save_rate"]) == (40, 20, 0.5)
    assert [r["retained"] for r in pct20["retained"]] == [20, 20, 15]
    assert pct20["retained"][2]["rate_per_session"] == 0.375
    assert pct20["mrr_retained_90"] == [{"currency": "usd", "amount": 15 * 2900}]
    assert pct20["mrr_retained_90_per_session"] == [{"currency": "usd", "amount": 1087.5}]
    assert arms["holdout"]["difference_vs_holdout"] == []
    diffs = {(d["figure"], d["currency"]): d for d in pct20["difference_vs_holdout"]}

    # Save rate 20/40 against 0/40, Newcombe's interval from the Wilson intervals
    # (z = 1.959964, z² = 3.841459): 20/40 gives 0.5 ± 1.959964 x sqrt(10 + 0.960365) /
    # 43.841459 = [0.351995, 0.648005]; 0/40 gives [0, 2 x 1.920730 / 43.841459] =
    # [0, 0.087622]. Low: 0.5 - sqrt(0.148005² + 0.087622²) = 0.328003; high: 0.5 +
    # sqrt(0.148005² + 0²) = 0.648005.
    save_rate = diffs[("save_rate", None)]
    assert (save_rate["value"], save_rate["holdout_value"], save_rate["difference"]) == (
        0.5, 0.0, 0.5
    )  # fmt: skip
    assert save_rate["enough_data"] is True
    assert save_rate["ci95_low"] == pytest.approx(0.328003, abs=1e-6)
    assert save_rate["ci95_high"] == pytest.approx(0.648005, abs=1e-6)
    # Retained at 90 days per session: 15/40 = 0.375 against 0/40; Wilson for 15/40 is
    # (16.920730 ± 1.959964 x sqrt(5.625 + 0.960365)) / 43.841459 = [0.242230, 0.529676].
    # Low: 0.375 - sqrt(0.132770² + 0.087622²) = 0.215923; high: 0.375 + 0.154676.
    retained = diffs[("retained_90", None)]
    assert retained["difference"] == 0.375
    assert retained["ci95_low"] == pytest.approx(0.215923, abs=1e-6)
    assert retained["ci95_high"] == pytest.approx(0.529676, abs=1e-6)
    # MRR per session: 15 sessions of 2900 and 25 of 0 against 40 of 0. Mean 1087.5,
    # variance (15 x 2900² - 43500² / 40) / 39 = 2,021,634.6; Welch's df = 39 (the holdout
    # has no variance), t(39) = 2.022691; margin 2.022691 x sqrt(2,021,634.6 / 40) = 454.73.
    mrr = diffs[("mrr_retained_90_per_session", "usd")]
    assert mrr["difference"] == 1087.5
    assert mrr["ci95_low"] == pytest.approx(1087.5 - 454.73, abs=0.05)
    assert mrr["ci95_high"] == pytest.approx(1087.5 + 454.73, abs=0.05)
    assert math.isclose(454.73, 2.022691 * math.sqrt(2_021_634.6 / 40), abs_tol=0.01)

    # 10 sessions are not enough: the difference is given, the interval is not.
    small = {d["figure"]: d for d in arms["pct30"]["difference_vs_holdout"]}
    assert small["save_rate"]["difference"] == 1.0
    assert small["save_rate"]["enough_data"] is False
    assert small["save_rate"]["ci95_low"] is None and small["save_rate"]["ci95_high"] is None


def test_group_by_arm(live, experiment, sessions):
    body = live.get("/api/v1/analytics", data={**API_QUERY, "group_by": "arm"}).json()

    groups = {g["key"]: g for g in body["groups"]}
    assert groups[f"{experiment.pk}:pct20"]["label"] == "20 vs 30 off: 20% off"
    assert groups[f"{experiment.pk}:pct20"]["sessions_started"] == 40
    assert groups[f"{experiment.pk}:holdout"]["save_rate"] == 0.0
    assert groups[f"{experiment.pk}:pct30"]["retained"][2]["retained"] == 10
    assert (groups["none"]["label"], groups["none"]["sessions_started"]) == ("No experiment", 8)
    assert [g["key"] for g in body["groups"]][-1] == "none"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"from": "2026-13-01"}, "from"),
        ({"to": "yesterday"}, "to"),
        ({"from": "2026-01-12", "to": "2026-01-10"}, "from"),
        ({"from": "2024-01-01", "to": "2026-01-10"}, "to"),
        ({"group_by": "week"}, "group_by"),
        ({"source": "custom", "group_by": "arm"}, "group_by"),
        ({"source": "hub"}, "source"),
        ({"grouping": "reason"}, "grouping"),
    ],
)
def test_bad_input_is_a_validation_error(live, sessions, query, field):
    response = live.get("/api/v1/analytics", data=query)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert field in error["details"]
    assert error["message"].startswith("validation_error:")


def test_another_workspaces_data_is_never_counted(make_client, other_tenant, saves, experiment):
    outsider = make_client(other_tenant, livemode=True)

    body = outsider.get("/api/v1/analytics", data={**API_QUERY, "group_by": "arm"}).json()

    assert body["totals"]["sessions_started"] == 0
    assert [r["saves"] for r in body["totals"]["retained"]] == [0, 0, 0]
    assert body["experiments"] == [] and body["groups"] == []


def test_a_test_key_reads_test_mode_only(make_client, tenant, saves, experiment):
    test_key = make_client(tenant, livemode=False)

    body = test_key.get("/api/v1/analytics", data={**API_QUERY, "group_by": "reason"}).json()

    assert body["livemode"] is False
    assert (body["totals"]["sessions_started"], body["totals"]["canceled"]) == (1, 1)
    assert [g["key"] for g in body["groups"]] == ["switching_competitor"]
    assert body["experiments"] == []


def test_the_scope_is_required(make_client, tenant, sessions):
    reader = make_client(tenant, livemode=True, scopes=[SCOPE_SESSIONS_READ])

    response = reader.get("/api/v1/analytics", data=API_QUERY)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "insufficient_permissions"
    assert response.json()["error"]["details"]["missing_scopes"] == ["analytics:read"]


def test_without_dates_the_last_30_days(live, tenant):
    make(tenant, datetime.now(UTC) - timedelta(days=29))
    make(tenant, datetime.now(UTC) - timedelta(days=31))

    body = live.get("/api/v1/analytics").json()

    today = timezone.now().date()
    assert (body["from"], body["to"]) == (str(today - timedelta(days=29)), str(today))
    assert body["totals"]["sessions_started"] == 1
    assert body["group_by"] is None and body["groups"] == []


def test_rate_limited_like_other_reads(live, tenant):
    tenant.rate_limit_overrides = {"analytics.read": 2}
    tenant.save()

    statuses = [live.get("/api/v1/analytics").status_code for _ in range(3)]

    assert statuses == [200, 200, 429]


def test_the_page_shows_retention_and_experiments_as_charts_and_tables(viewer, saves, experiment):
    html = viewer.get("/admin/analytics/", {**QUERY, "mode": "live"}).content.decode()

    proof = html.split('<div class="mrrx-charts" id="proof">')[1].split('id="tables"')[0]
    retention_chart = proof.split('id="chart-retention"')[1].split("</section>")[0]
    assert "<svg" in retention_chart and "//" not in retention_chart.replace(
        "http://www.w3.org/2000/svg", ""
    )
    # 3 saves of the range's sessions plus the 30 of the experiment's, all on Jan 11.
    assert "<title>30 days: 32 retained</title>" in retention_chart
    assert "<title>90 days: 1 pending</title>" in retention_chart
    chart = proof.split(f'id="chart-experiment-{experiment.pk}"')[1].split("</section>")[0]
    assert "20% off: save rate: +50.00 pts (95% CI +32.80 to +64.80)" in chart
    assert "30% off: save rate: not enough data" in chart
    assert 'href="#def-difference_vs_holdout"' in chart

    parser = _Tables()
    parser.feed(html.split('id="tables"')[1].split('id="definitions"')[0])
    tables = {t["caption"].strip(): t["rows"] for t in parser.tables}
    arms = tables["Experiment: 20 vs 30 off (running)"]
    assert arms[1] == ["20% off", "variant", "40", "50.0%", "50.0%", "50.0%", "37.5%", "10.88 USD"]
    differences = tables["Experiment: 20 vs 30 off, against the holdout"]
    assert ["20% off", "Save rate", "+50.0 pts", "+32.8 to +64.8 pts"] in differences
    assert ["20% off", "MRR retained at 90 days per session (USD)", "+10.88 USD",
            "+6.33 to +15.42"] in differences  # fmt: skip
    assert ["30% off", "Save rate", "+100.0 pts", "not enough data"] in differences
    retention = {row[0]: row for row in tables["Retention of saves"][1:]}
    assert retention["90 days"][1:6] == ["33", "26", "6", "1", "81.2%"]
    for key in ("retained", "mrr_retained_90_per_session", "difference_vs_holdout",
                "not_enough_data", "experiment_results"):  # fmt: skip
        assert f'<dt id="def-{key}">' in html
