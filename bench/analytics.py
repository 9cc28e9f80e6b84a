"""The analytics page for a workspace with 100,000 sessions: render time, p50 and p99.

Builds the sessions with bulk_create on the configured database server, in a database of
its own (made and dropped here, so that neither other benchmarks' rows nor their dead
tuples weigh on it), all started within the page's default 30-day range so that every one
is counted; vacuums as autovacuum would; then renders /admin/analytics/ through Django's
test client as a signed-in viewer. Needs DATABASE_URL (PostgreSQL):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python -m bench analytics
"""

from __future__ import annotations

import os
import random
import statistics
import time
from datetime import timedelta
from urllib.parse import urlsplit, urlunsplit

SESSIONS = int(os.environ.get("BENCH_ANALYTICS_SESSIONS", "100000"))
RUNS = int(os.environ.get("BENCH_ANALYTICS_RUNS", "40"))
BUDGET_MS = 300


def _sessions(tenant, count: int) -> list:  # type: ignore[no-untyped-def]
    from django.utils import timezone

    from mrrx.ids import new_id
    from sessions_app.models import Session

    rng = random.Random(7)
    now = timezone.now()
    reasons = ["too_expensive", "not_using_enough", "missing_features", "switching_competitor",
               "technical_issues", "business_closing", "other"]  # fmt: skip
    outcomes = ["pause", "discount", "downgrade", "extend_trial", "cancel", "cancel", "cancel"]
    prices = [(2900, "usd", "month", 1), (29000, "usd", "year", 1), (2500, "eur", "month", 1),
              (900, "gbp", "week", 1), (9900, "usd", "month", 3)]  # fmt: skip
    rows = []
    for n in range(count):
        created = now - timedelta(seconds=rng.randrange(29 * 24 * 3600))
        roll = rng.random()
        status = ("completed" if roll < 0.6 else "abandoned" if roll < 0.8 else
                  "expired" if roll < 0.95 else "failed")  # fmt: skip
        amount, currency, interval, interval_count = rng.choice(prices)
        opened = status != "expired"
        rows.append(
            Session(
                id=new_id("ses"),
                tenant=tenant,
                livemode=rng.random() < 0.9,
                status=status,
                customer_id=f"cus_bench_{n}",
                subscription_id=f"sub_bench_{n}",
                price_amount=amount,
                price_currency=currency,
                price_interval=interval,
                price_interval_count=interval_count,
                survey_reason=rng.choice(reasons) if opened else "",
                outcome_action=rng.choice(outcomes) if status == "completed" else "",
                offers_considered=[
                    {
                        "offer_id": f"{action}:ofr_bench_{action}",
                        "action": action,
                        "params": {},
                        "shown": rng.random() < 0.8,
                        "reason": None,
                    }
                    for action in ("pause", "discount", "downgrade")
                ]
                if opened
                else [],
                created_at=created,
                viewed_at=created if opened else None,
                expires_at=created + timedelta(hours=24),
            )
        )
    return rows


def main() -> None:
    if not os.environ.get("DATABASE_URL"):
        print(
            "bench/analytics.py needs DATABASE_URL (PostgreSQL), e.g. "
            "DATABASE_URL=postgres://postgres@127.0.0.1:5432/test; skipped."
        )
        return
    server_url = os.environ["DATABASE_URL"]
    database = f"mrrx_bench_analytics_{os.getpid()}"
    _admin_sql(server_url, f'CREATE DATABASE "{database}"')
    try:
        os.environ["DATABASE_URL"] = urlunsplit(urlsplit(server_url)._replace(path=f"/{database}"))
        _run()
    finally:
        from django.db import connections

        connections.close_all()
        _admin_sql(server_url, f'DROP DATABASE IF EXISTS "{database}"')


def _admin_sql(url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql)


def _run() -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from sessions_app.models import Session
    from tenants.models import Membership
    from tenants.services import tenant_create
    from tests.factories import UserFactory

    call_command("migrate", verbosity=0)
    tenant = tenant_create(name="Analytics bench")
    user = UserFactory(username="bench-viewer")
    Membership.objects.create(user=user, tenant=tenant, role=Membership.Role.VIEWER)
    started = time.perf_counter()
    rows = _sessions(tenant, SESSIONS)
    for offset in range(0, len(rows), 10000):
        Session.objects.bulk_create(rows[offset : offset + 10000])
    with connection.cursor() as cursor:
        # What autovacuum does soon after a load: statistics, and the visibility map
        # that lets PostgreSQL answer from the index alone.
        cursor.execute("VACUUM ANALYZE sessions_app_session")
    print(f"analytics: {SESSIONS:,} sessions built in {time.perf_counter() - started:.1f} s")

    client = Client()
    client.force_login(user)
    for _ in range(3):  # warm the caches and the connection
        assert client.get("/admin/analytics/").status_code == 200
    timings = []
    for _ in range(RUNS):
        started = time.perf_counter()
        response = client.get("/admin/analytics/")
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    with CaptureQueriesContext(connection) as queries:
        client.get("/admin/analytics/")
    timings.sort()
    p50 = statistics.median(timings)
    p99 = timings[max(0, int(len(timings) * 0.99) - 1)]
    print(
        f"analytics page, {SESSIONS:,} sessions, {RUNS} renders: p50 {p50:.0f} ms, "
        f"p99 {p99:.0f} ms ({len(queries)} queries; budget {BUDGET_MS} ms: "
        f"{'within' if p99 < BUDGET_MS else 'OVER'})"
    )


if __name__ == "__main__":
    main()
