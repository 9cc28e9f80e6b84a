"""Component checks behind ``GET /api/v1/health?deep=1``."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable

import httpx
from django.conf import settings
from django.core.cache import cache
from django.db import connection

from .celery import app as celery_app


def check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def check_cache() -> None:
    key, value = f"health:{secrets.token_hex(4)}", secrets.token_hex(4)
    cache.set(key, value, 10)
    if cache.get(key) != value:
        raise RuntimeError("cache did not return what was stored")
    cache.delete(key)


def check_broker() -> None:
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)


def check_stripe() -> None:
    base = settings.STRIPE_API_BASE or "https://api.stripe.com"
    # Any HTTP answer (even 401) proves the API is reachable.
    httpx.get(f"{base}/v1/account", timeout=3)


CHECKS: dict[str, Callable[[], None]] = {
    "database": check_database,
    "cache": check_cache,
    "broker": check_broker,
    "stripe": check_stripe,
}


def run_checks() -> dict[str, dict[str, object]]:
    """Each component's status and latency; a failure names its error class only."""
    results: dict[str, dict[str, object]] = {}
    for name, check in CHECKS.items():
        started = time.perf_counter()
        try:
            check()
        except Exception as exc:
            results[name] = {"status": "unhealthy", "error": type(exc).__name__}
        else:
            results[name] = {"status": "healthy"}
        results[name]["latency_ms"] = round((time.perf_counter() - started) * 1000, 1)
    return results
