from __future__ import annotations

import re

import pytest

from mrrx.celery import app as celery_app

pytestmark = [pytest.mark.django_db, pytest.mark.smoke]

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture
def stripe_reachable(settings, live_server):  # type: ignore[no-untyped-def]
    # Any HTTP answer proves reachability; our own server stands in for Stripe's host.
    settings.STRIPE_API_BASE = live_server.url


def test_health_needs_no_key(client):
    response = client.get("/api/v1/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "healthy"
    assert body["version"] == "1.0.0"
    assert ISO_MS.match(body["timestamp"])
    assert "components" not in body


def test_deep_health_reports_each_component(client, stripe_reachable):
    response = client.get("/api/v1/health?deep=1")
    assert response.status_code == 200, response.json()
    components = response.json()["components"]
    assert set(components) == {"database", "cache", "broker", "stripe"}
    assert all(c["status"] == "healthy" for c in components.values())


def test_deep_health_is_503_naming_a_dead_broker(client, stripe_reachable, monkeypatch):
    monkeypatch.setattr(celery_app.conf, "broker_url", "redis://127.0.0.1:1/0")
    response = client.get("/api/v1/health?deep=1")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unhealthy"
    assert body["failing"] == ["broker"]
    assert body["components"]["broker"]["status"] == "unhealthy"
    assert body["components"]["database"]["status"] == "healthy"


def test_deep_health_is_503_naming_a_dead_cache(client, stripe_reachable, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        }
    }
    response = client.get("/api/v1/health?deep=1")
    assert response.status_code == 503
    assert response.json()["failing"] == ["cache"]


def test_deep_health_is_503_when_stripe_is_unreachable(client, settings):
    settings.STRIPE_API_BASE = "http://127.0.0.1:1"
    response = client.get("/api/v1/health?deep=1")
    assert response.status_code == 503
    assert response.json()["failing"] == ["stripe"]


def test_schema_and_docs_are_served(client):
    schema = client.get("/api/v1/schema", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/api/v1/health" in paths and "/api/v1/workspace" in paths
    assert not any(p.startswith("/v1/") for p in paths)
    docs = client.get("/api/docs")
    assert docs.status_code == 200
    # Docs assets are served locally, never from a third-party host.
    assert b"cdn." not in docs.content and b"unpkg" not in docs.content


def test_openapi_schema_validates_without_warnings(tmp_path):
    from django.core.management import call_command

    target = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    assert "/api/v1/sessions" in target.read_text()
