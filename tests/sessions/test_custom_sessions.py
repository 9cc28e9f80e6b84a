"""``/api/v1/custom_sessions``: cancellations reported from a merchant's own flow."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from sessions_app.models import CustomSession
from tenants.models import SCOPE_SESSIONS_READ

pytestmark = pytest.mark.django_db

REPORT = {
    "external_id": "flow-8812",
    "customer_id": "cus_ABC123",
    "subscription_id": "sub_XYZ789",
    "started_at": "2026-11-20T14:00:00Z",
    "reason": "too_expensive",
    "offers_shown": [{"action": "discount", "label": "25% off for 3 months"}],
    "outcome": {"action": "discount", "details": {"percent_off": 25}},
    "mrr": {"amount": 2900, "currency": "USD"},
    "metadata": {"user_id": "usr_123"},
}


def test_first_report_creates_the_record(api):
    response = api.post("/api/v1/custom_sessions", REPORT)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["id"].startswith("csn_")
    assert body["external_id"] == "flow-8812"
    assert body["started_at"] == "2026-11-20T14:00:00.000Z"
    assert body["reason"] == "too_expensive"
    assert body["offers_shown"] == [{"action": "discount", "label": "25% off for 3 months"}]
    assert body["outcome"] == {"action": "discount", "details": {"percent_off": 25}}
    assert body["mrr"] == {"amount": 2900, "currency": "usd"}
    assert body["livemode"] is False
    row = CustomSession.objects.get(id=body["id"])
    assert (row.tenant, row.outcome_action, row.mrr_amount) == (api.tenant, "discount", 2900)


def test_a_later_report_updates_what_it_gives_and_keeps_the_rest(api):
    first = api.post("/api/v1/custom_sessions", {**REPORT, "outcome": None}).json()
    assert first["outcome"] is None
    response = api.post(
        "/api/v1/custom_sessions",
        {
            "external_id": "flow-8812",
            "customer_id": "cus_ABC123",
            "started_at": "2026-11-25T09:00:00Z",
            "outcome": {"action": "cancel"},
        },
    )
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == first["id"]
    assert body["outcome"] == {"action": "cancel", "details": {}}
    # Not given: kept. started_at: never moves.
    assert body["reason"] == "too_expensive"
    assert body["mrr"] == {"amount": 2900, "currency": "usd"}
    assert body["started_at"] == "2026-11-20T14:00:00.000Z"
    assert CustomSession.objects.count() == 1


def test_unix_seconds_are_accepted_for_started_at(api):
    body = api.post("/api/v1/custom_sessions", {**REPORT, "started_at": 1795874400}).json()
    assert body["started_at"] == "2026-11-28T14:00:00.000Z"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"external_id": ""}, "external_id"),
        ({"started_at": "yesterday"}, "started_at"),
        ({"reason": "bored"}, "reason"),
        ({"reason": "other"}, "reason_other"),
        ({"offers_shown": [{"action": "teleport"}]}, "offers_shown"),
        ({"offers_shown": [{"action": "pause", "colour": "red"}]}, "offers_shown"),
        ({"outcome": {"action": "pause", "when": "now"}}, "outcome"),
        ({"mrr": {"amount": -1, "currency": "usd"}}, "mrr"),
        ({"mrr": {"amount": 100, "currency": "dollars"}}, "mrr"),
        ({"metadata": {"k": 1}}, "metadata"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_recorded(api, change, field):
    response = api.post("/api/v1/custom_sessions", {**REPORT, **change})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert field in error["details"]
    assert not CustomSession.objects.exists()


def test_missing_required_fields_are_named(api):
    response = api.post("/api/v1/custom_sessions", {"external_id": "x"})
    assert response.status_code == 400
    assert set(response.json()["error"]["details"]) == {"customer_id", "started_at"}


def test_a_read_only_key_may_not_record(make_client, tenant):
    reader = make_client(tenant, scopes=[SCOPE_SESSIONS_READ])
    response = reader.post("/api/v1/custom_sessions", REPORT)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "insufficient_permissions"
    assert not CustomSession.objects.exists()


def test_get_and_list_within_the_workspace_and_mode(api, make_client, tenant, other_tenant):
    created = api.post("/api/v1/custom_sessions", REPORT).json()
    api.post("/api/v1/custom_sessions", {**REPORT, "external_id": "flow-8813"})
    assert api.get(f"/api/v1/custom_sessions/{created['id']}").json() == created

    page = api.get("/api/v1/custom_sessions?limit=1").json()
    assert [r["external_id"] for r in page["data"]] == ["flow-8813"]
    assert page["pagination"]["has_more"] is True
    cursor = page["pagination"]["next_cursor"]
    rest = api.get(f"/api/v1/custom_sessions?limit=1&cursor={cursor}").json()
    assert [r["external_id"] for r in rest["data"]] == ["flow-8812"]
    found = api.get("/api/v1/custom_sessions?external_id=flow-8812").json()["data"]
    assert [r["id"] for r in found] == [created["id"]]

    # Another workspace, and the live mode of this one, see none of it.
    stranger = make_client(other_tenant)
    response = stranger.get(f"/api/v1/custom_sessions/{created['id']}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert stranger.get("/api/v1/custom_sessions").json()["data"] == []
    live = make_client(tenant, livemode=True)
    assert live.get(f"/api/v1/custom_sessions/{created['id']}").status_code == 404


def test_the_same_external_id_in_another_workspace_is_its_own_record(api, make_client):
    api.post("/api/v1/custom_sessions", REPORT)
    response = make_client().post("/api/v1/custom_sessions", REPORT)
    assert response.status_code == 201
    assert CustomSession.objects.count() == 2


def test_a_bad_cursor_is_a_validation_error(api):
    response = api.get("/api/v1/custom_sessions?cursor=ses_123")
    assert response.status_code == 400
    assert "cursor" in response.json()["error"]["details"]


def test_a_replay_with_the_same_idempotency_key_answers_the_same(api):
    headers = {"HTTP_IDEMPOTENCY_KEY": "report-1"}
    first = api.post("/api/v1/custom_sessions", REPORT, **headers)
    again = api.post("/api/v1/custom_sessions", REPORT, **headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert CustomSession.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_identical_reports_make_one_record(make_client):
    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL; SQLite serializes them")
    client = make_client()
    statuses: list[int] = []
    barrier = threading.Barrier(20)

    def report() -> None:
        from rest_framework.test import APIClient

        own = APIClient()
        own.credentials(HTTP_AUTHORIZATION=f"Bearer {client.plaintext}")
        barrier.wait()
        try:
            statuses.append(own.post("/api/v1/custom_sessions", REPORT, format="json").status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=report) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] * 19 + [201]
    assert CustomSession.objects.filter(external_id="flow-8812").count() == 1
