"""Retention of saves for a range: counted by when the save's session started (not when the
save was made), and read from the saves and their checkpoints alone, never joined to the
session table, on the page and in every grouping of the API."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from dashboard.figures import Scope, retention_of
from retention.services import save_record_for_custom_session
from sessions_app.models import CustomSession
from tests.dashboard.test_analytics import PAUSE, PERIOD, QUERY, at, make, offer, sessions, viewer  # noqa: F401
from tests.dashboard.test_analytics_api import API_QUERY, experiment, live, save_of, saves  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def started_before(tenant):
    """A session started the evening before the range, saved (and every checkpoint
    retained) inside it."""
    session = make(tenant, at(9, 23), "completed", outcome_action="pause",
                   survey_reason="too_expensive", offers_considered=[offer(PAUSE)])  # fmt: skip
    record = save_of(session, "retained", "retained", "retained")
    record.saved_at = at(10, 9)
    record.save(update_fields=["saved_at"])
    return session


def _checkpoint_queries(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if "retention_savecheckpoint" in q["sql"]]


def test_a_save_whose_session_started_before_the_range_is_not_counted(
    tenant, saves, started_before
):
    scope = Scope(tenant=tenant, livemode=True, period=PERIOD)

    with CaptureQueriesContext(connection) as queries:
        retention = retention_of(scope.checkpoints())

    assert [(r.saves, r.retained, r.churned, r.pending) for r in retention.values()] == [
        (3, 2, 0, 1),
        (3, 1, 1, 1),
        (3, 1, 1, 1),
    ]
    [sql] = _checkpoint_queries(queries)
    assert "retention_save" in sql
    assert "sessions_app_session" not in sql


@pytest.mark.parametrize("group_by", ["", "reason", "offer", "arm", "day"])
def test_the_apis_retention_never_reads_the_session_table(
    live, saves, started_before, experiment, group_by
):
    query = {**API_QUERY, "group_by": group_by} if group_by else API_QUERY

    with CaptureQueriesContext(connection) as queries:
        response = live.get("/api/v1/analytics", data=query)

    assert response.status_code == 200
    body = response.json()
    # The experiment's 30 saves and the fixture's 3; not the one started the day before.
    assert [r["saves"] for r in body["totals"]["retained"]] == [33, 33, 33]
    checkpoint_sql = _checkpoint_queries(queries)
    # The range's retention (totals, groups), and the experiment's results.
    assert len(checkpoint_sql) >= 2
    assert not [sql for sql in checkpoint_sql if "sessions_app_session" in sql]


def test_the_pages_retention_and_experiments_never_read_the_session_table(
    viewer, saves, started_before, experiment
):
    with CaptureQueriesContext(connection) as queries:
        page = viewer.get("/admin/analytics/", {**QUERY, "mode": "live"})

    assert page.status_code == 200
    checkpoint_sql = _checkpoint_queries(queries)
    assert len(checkpoint_sql) >= 2
    assert not [sql for sql in checkpoint_sql if "sessions_app_session" in sql]


def test_custom_sessions_saves_are_counted_by_when_the_custom_session_started(tenant, live):
    for external_id, started_at in (("in", at(11)), ("before", at(9, 23)), ("after", at(13))):
        record = CustomSession.objects.create(
            tenant=tenant,
            livemode=True,
            external_id=external_id,
            customer_id=f"cus_{external_id}",
            subscription_id=f"sub_{external_id}",
            started_at=started_at,
            survey_reason="too_expensive",
            outcome_action="discount",
        )
        save_record_for_custom_session(custom_session_id=record.pk)

    with CaptureQueriesContext(connection) as queries:
        body = live.get(
            "/api/v1/analytics", data={**API_QUERY, "source": "custom", "group_by": "day"}
        ).json()

    assert [r["saves"] for r in body["totals"]["retained"]] == [1, 1, 1]
    days = {group["key"]: group["retained"][0]["saves"] for group in body["groups"]}
    assert days == {"2026-01-10": 0, "2026-01-11": 1, "2026-01-12": 0}
    assert not [sql for sql in _checkpoint_queries(queries) if "sessions_app_" in sql]
