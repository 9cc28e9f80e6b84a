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
    subject = f"ses_{time.time_ns()}"  # Redis keeps a run's counters for a minute
    now = 1_800_000_000
    monkeypatch.setattr(time, "time", lambda: now)
    results = [rate_limit_hit(scope="flow.action", subject=subject) for _ in range(11)]
    assert [r.allowed for r in results] == [True] * 10 + [False]
    now += 60
    assert rate_limit_hit(scope="flow.action", subject=subject).allowed


# --- high limits: numbers leased from Redis a few at a time -----------------------------

needs_redis = pytest.mark.skipif(not settings.REDIS_URL, reason="the leases are Redis's")


@pytest.fixture
def redis_counter(settings, monkeypatch):  # type: ignore[no-untyped-def]
    """The Redis backend at a fixed moment; reads the window's counter of a subject."""
    import redis

    from mrrx.api import ratelimit

    settings.RATE_LIMIT_BACKEND = "redis"
    now = 1_900_000_000 + time.time_ns() % 1_000_000 * 3600  # a window of this test's own
    monkeypatch.setattr(time, "time", lambda: now)
    ratelimit._leases.clear()
    server = redis.Redis.from_url(settings.REDIS_URL)

    def counter(scope: str, subject: str) -> int:
        window = ratelimit.limit_for(scope=scope)[1]
        value = server.get(f"rl:{scope}:{subject}:{now - now % window}")
        return int(value or 0)

    yield counter
    ratelimit._leases.clear()


@needs_redis
def test_a_high_limit_asks_redis_once_a_lease(redis_counter):
    limits = {"sessions.read": 20_000}  # a lease of 20
    hits = [rate_limit_hit(scope="sessions.read", subject="k", overrides=limits) for _ in range(20)]
    assert redis_counter("sessions.read", "k") == 20
    assert [h.remaining for h in hits] == list(range(19_999, 19_979, -1))
    assert all(h.allowed for h in hits)
    nxt = rate_limit_hit(scope="sessions.read", subject="k", overrides=limits)
    assert redis_counter("sessions.read", "k") == 40 and nxt.remaining == 19_979


@needs_redis
def test_a_low_limit_counts_every_request_in_redis(redis_counter):
    hits = [rate_limit_hit(scope="sessions.read", subject="s") for _ in range(5)]  # 1000/h
    assert redis_counter("sessions.read", "s") == 5
    assert [h.remaining for h in hits] == [999, 998, 997, 996, 995]


@needs_redis
def test_leases_never_let_more_than_the_limit_through(redis_counter):
    from mrrx.api import ratelimit

    limits = {"sessions.read": 10_000}  # a lease of 10
    allowed = 0
    for n in range(10_200):
        if n % 1000 == 999:
            ratelimit._leases.clear()  # another process takes the next requests
        allowed += rate_limit_hit(scope="sessions.read", subject="m", overrides=limits).allowed
    # Each process switch lost what was left of a lease: fewer than the limit, never more.
    assert 10_000 - 10 * (10_200 // 1000) <= allowed <= 10_000
    assert not rate_limit_hit(scope="sessions.read", subject="m", overrides=limits).allowed
