"""What the Prometheus metrics cost: each recording call, the share of a request spent in
the middleware's one, and a scrape.

In one process, on prometheus-client's multiprocess files (as every deployed process
counts). Two requests: the cheapest one that still runs the whole middleware stack and
URL resolution (an unknown API path: the error envelope, no database), whose share is an
upper bound, and an API key's read of its workspace; on a database of its own (PostgreSQL
with DATABASE_URL, else SQLite).

    .venv/bin/python -m bench metrics
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

REQUESTS = int(os.environ.get("BENCH_METRICS_REQUESTS", "5000"))


# CPU time of this process, not wall time: on a busy machine other processes' work would
# otherwise swamp the few microseconds measured.
def _per_call_us(fn: Callable[[], object], calls: int = 100_000) -> float:
    started = time.process_time()
    for _ in range(calls):
        fn()
    return (time.process_time() - started) / calls * 1e6


def _request_and_metrics_us(mrrx_logging, client, path: str) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Median time of a whole request and of the middleware's metrics call within it.

    Timed inside each request rather than as the difference of two runs: on a shared
    machine, runs with and without the call differ by more than the call costs.
    """
    counted = mrrx_logging.record_http_request
    inside: list[float] = []

    def timed(**kwargs: object) -> None:
        started = time.perf_counter()
        counted(**kwargs)
        inside.append(time.perf_counter() - started)

    whole: list[float] = []
    mrrx_logging.record_http_request = timed
    try:
        for _ in range(REQUESTS):
            started = time.perf_counter()
            client.get(path)
            whole.append(time.perf_counter() - started)
    finally:
        mrrx_logging.record_http_request = counted
    return statistics.median(whole) * 1e6, statistics.median(inside) * 1e6


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    import django

    django.setup()
    from django.db import connection

    # A database of the benchmark's own, dropped afterwards (as bench/webhooks.py does).
    original_name = connection.settings_dict["NAME"]
    original_test = connection.settings_dict["TEST"]
    name = "mrrx_bench_metrics"
    if connection.vendor == "sqlite":
        name = str(Path(tempfile.mkdtemp(prefix="mrrx-bench-metrics-")) / "bench.sqlite3")
    connection.settings_dict["TEST"] = {**original_test, "NAME": name}
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        _run()
    finally:
        connection.creation.destroy_test_db(original_name, verbosity=0)
        connection.settings_dict["TEST"] = original_test


def _run() -> None:
    from django.conf import settings
    from django.test import Client

    from mrrx import logging as mrrx_logging
    from mrrx import metrics
    from tenants.services import apikey_issue, tenant_create

    # Settings made the directory, but a module run before this one in the same process
    # may have cleared it (its servers' multiprocess files go when they stop).
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)
    request = SimpleNamespace(method="GET", resolver_match=SimpleNamespace(route="c/<str:token>"))
    print(f"multiprocess files in {os.environ['PROMETHEUS_MULTIPROC_DIR']}")
    for name, call in (
        (
            "record_http_request",
            lambda: metrics.record_http_request(request=request, status=200, seconds=0.012),  # type: ignore[arg-type]
        ),
        (
            "record_stripe_call",
            lambda: metrics.record_stripe_call(
                operation="subscriptions.retrieve", result="ok", seconds=0.2
            ),
        ),
        (
            "record_webhook_attempt",
            lambda: metrics.record_webhook_attempt(status_code=200, seconds=0.1),
        ),
        (
            "record_session_completed",
            lambda: metrics.record_session_completed(outcome="pause", source="flow", livemode=True),
        ),
    ):
        print(f"{name:26} {_per_call_us(call):6.2f} us a call")

    tenant = tenant_create(name=f"Bench metrics {time.time_ns()}")
    tenant.rate_limit_overrides = {"workspace.read": 10**9}
    tenant.save()
    _, key = apikey_issue(tenant=tenant, livemode=False)
    for path, what, client in (
        ("/api/v1/no-such-endpoint", "the 404 envelope, no database", Client()),
        ("/api/v1/workspace", "an API key's read", Client(HTTP_AUTHORIZATION=f"Bearer {key}")),
    ):
        client.get(path)  # warm up
        request_us, metrics_us = _request_and_metrics_us(mrrx_logging, client, path)
        print(
            f"GET {path} ({what}), median of {REQUESTS}: {request_us:.0f} us a request, "
            f"{metrics_us:.1f} us of it in the metrics call ({metrics_us / request_us:.1%})"
        )

    settings.METRICS_TOKEN = "bench-token"
    auth = {"HTTP_AUTHORIZATION": "Bearer bench-token"}
    files = len(os.listdir(os.environ["PROMETHEUS_MULTIPROC_DIR"]))
    started = time.perf_counter()
    for _ in range(20):
        response = client.get("/metrics", **auth)
    scrape_ms = (time.perf_counter() - started) / 20 * 1000
    print(
        f"GET /metrics: {scrape_ms:.1f} ms a scrape ({files} process files, "
        f"{len(response.content) // 1024} KB; includes reading the broker and the database)"
    )


if __name__ == "__main__":
    main()
