from __future__ import annotations

import pytest

from mrrx.ids import new_id
from tenants.services import apikey_issue

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.api_test_urls")]


def test_ids_are_prefixed_fixed_width_and_time_ordered():
    earlier = new_id("ses", at_ms=1_700_000_000_000)
    later = new_id("ses", at_ms=1_700_000_000_001)
    assert earlier.startswith("ses_") and len(earlier) == len(later) == 29
    assert earlier < later


def test_walk_visits_every_row_exactly_once_while_rows_are_added(api):
    for _ in range(45):
        apikey_issue(tenant=api.tenant, livemode=False, name="row")
    original = set(api.tenant.api_keys.filter(livemode=False).values_list("pk", flat=True))
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        url = "/api/v1/things/list?limit=10" + (f"&cursor={cursor}" if cursor else "")
        body = api.get(url).json()
        seen.extend(row["id"] for row in body["data"])
        pages += 1
        # Newcomers arrive while the walk goes on.
        apikey_issue(tenant=api.tenant, livemode=False, name="newcomer")
        if not body["pagination"]["has_more"]:
            assert body["pagination"]["next_cursor"] is None
            break
        cursor = body["pagination"]["next_cursor"]
        assert cursor == body["data"][-1]["id"]
    assert len(seen) == len(set(seen))
    assert original <= set(seen)
    assert seen == sorted(seen, reverse=True)
    assert pages == 5


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=101", "limit=ten", "cursor=nope", "cursor=ses_123"]
)
def test_bad_pagination_parameters_are_validation_errors(api, query):
    response = api.get(f"/api/v1/things/list?{query}")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert set(response.json()["error"]["details"]) <= {"limit", "cursor"}


def test_default_page_is_20_newest_first(api):
    for _ in range(25):
        apikey_issue(tenant=api.tenant, livemode=False)
    body = api.get("/api/v1/things/list").json()
    assert len(body["data"]) == 20 and body["pagination"]["has_more"] is True
