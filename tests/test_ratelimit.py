from __future__ import annotations

import threading
import time

import pytest
from django.conf import settings
from django.db import connection
from rest_framework.test import APIClient

from mrrx.api.ratelimit import rate_limit_hit

BACKENDS = ["database"] + (["redis"] if settings.REDIS_URL else [])


@pytest.fixture(params=BACKENDS)
def backend(request, settings):  # type: ignore[no-untyped-def]
    settings.RATE_LIMIT_BACKEND = request.param
    return request.param


@pytest.mark.django_db(transaction=True)
@pytest.mark.urls("tests.api_test_urls")
def test_concurrent_requests_let_exactly_the_limit_through(backend, make_client, tenant):
    tenant.rate_limit_overrides = {"sessions.read": 7}
    tenant.save()
    client = make_client(tenant)
    statuses: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(20)

    def call() -> None:
        local = APIClient()
        local.credentials(HTTP_AUTHORIZATION=f"Bearer {client.plaintext}")
        start.wait()
        status = local.get("/api/v1/things/list").status_code
        with lock:
            statuses.append(status)
        connection.close()

    threads = [threading.Thread(target=call) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] * 7 + [429] * 13


@pytest.mark.django_db
@pytest.mark.urls("tests.api_test_urls")
def test_headers_count_down_and_429_says_when_to_retry(backend, make_client, tenant):
    tenant.rate_limit_overrides = {"sessions.read": [3, 60]}
    tenant.save()
    client = make_client(tenant)
    remaining = []
    for _ in range(3):
        response = client.get("/api/v1/things/list")
        assert response.status_code == 200
        assert response["X-RateLimit-Limit"] == "3"
        remaining.append(int(response["X-RateLimit-Remaining"]))
        reset = int(response["X-RateLimit-Reset"])
        assert time.time() < reset <= time.time() + 60
    assert remaining == [2, 1, 0]
    response = client.get("/api/v1/things/list")
    assert response.status_code == 429
    error = response.json()["error"]
    assert error["code"] == "rate_limited"
    assert 1 <= int(response["Retry-After"]) <= 60
    assert response["X-RateLimit-Remaining"] == "0"


@pytest.mark.django_db
@pytest.mark.urls("tests.api_test_urls")
def test_another_workspace_is_unaffected(backend, make_client, tenant, other_tenant):
    tenant.rate_limit_overrides = {"sessions.read": 1}
    tenant.save()
    mine, theirs = make_client(tenant), make_client(other_tenant)
    assert mine.get("/api/v1/things/list").status_code == 200
    assert mine.get("/api/v1/things/list").status_code == 429
    response = theirs.get("/api/v1/things/list")
    assert response.status_code == 200
    assert response["X-RateLimit-Limit"] == "1000"


@pytest.mark.django_db
@pytest.mark.urls("tests.api_test_urls")
def test_live_and_test_mode_are_counted_apart(backend, make_client, tenant):
    tenant.rate_limit_overrides = {"sessions.read": 1}
    tenant.save()
    assert make_client(tenant).get("/api/v1/things/list").status_code == 200
    assert make_client(tenant, livemode=True).get("/api/v1/things/list").status_code == 200


@pytest.mark.django_db
def test_every_api_response_carries_the_headers(backend, api, client):
    for response in (api.get("/api/v1/workspace"), client.get("/api/v1/health")):
        assert {"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} <= set(
            response.headers
        )


@pytest.mark.django_db
def test_window_resets(backend, monkeypatch):
    now = 1_800_000_000
    monkeypatch.setattr(time, "time", lambda: now)
    results = [rate_limit_hit(scope="flow.action", subject="ses_x") for _ in range(11)]
    assert [r.allowed for r in results] == [True] * 10 + [False]
    now += 60
    assert rate_limit_hit(scope="flow.action", subject="ses_x").allowed
