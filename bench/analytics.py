"""The analytics page and GET /api/v1/analytics for a workspace with 100,000 sessions:
render and answer times, p50 and p99.

Builds the sessions with bulk_create on the configured database server, in a database of
its own (made and dropped here, so that neither other benchmarks' rows nor their dead
tuples weigh on it), all started within the page's default 30-day range so that every one
is counted; vacuums as autovacuum would; then renders /admin/analytics/ through Django's
test client as a signed-in viewer, and asks the analytics API (totals, then each
``group_by``) with an ``analytics:read`` key. A third of the sessions are in a running
experiment (two arms and a holdout), and every saved one has its save with 30/60/90-day
checkpoints, so that retention and experiment results are computed on real volumes.
Needs DATABASE_URL (PostgreSQL):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python -m bench analytics
"""

from __future__ import annotations

import os
import random
import statistics
import time
from datetime import timedelta
from urllib.parse import urlsplit, urlunsplit

from . import report

SESSIONS = int(os.environ.get("BENCH_ANALYTICS_SESSIONS", "100000"))
RUNS = int(os.environ.get("BENCH_ANALYTICS_RUNS", "40"))
BUDGET_MS = 300
API_BUDGET_MS = 500
ARMS = ("pct20", "pct30", "holdout")


def _sessions(tenant, count: int, experiment_id: str = "") -> list:  # type: ignore[no-untyped-def]
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
        in_experiment = bool(experiment_id) and rng.random() < 0.33
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
                experiment_id=experiment_id if in_experiment else "",
                experiment_arm=rng.choice(ARMS) if in_experiment else "",
            )
        )
    return rows


def _saves(sessions: list) -> tuple[list, list]:  # type: ignore[no-untyped-def]
    """A save per saved session, and its three checkpoints (most retained, some churned,
    the 90-day ones of recent saves pending)."""
    from mrrx.ids import new_id
    from retention.models import Save, SaveCheckpoint
    from retention.services.saves import session_copies

    rng = random.Random(11)
    saves, checkpoints = [], []
    for session in sessions:
        if session.status != "completed" or session.outcome_action == "cancel":
            continue
        save = Save(
            id=new_id("sav"),
            tenant_id=session.tenant_id,
            livemode=session.livemode,
            session_id=session.id,
            customer_id=session.customer_id,
            subscription_id=session.subscription_id,
            outcome_action=session.outcome_action,
            saved_at=session.created_at,
            mrr_amount=session.price_amount,
            currency=session.price_currency,
            **session_copies(session),
        )
        saves.append(save)
        churn_day = rng.choice((30, 60, 90, None, None, None))
        for day in (30, 60, 90):
            status = "churned" if churn_day is not None and day >= churn_day else "retained"
            checkpoints.append(
                SaveCheckpoint(
                    save_record_id=save.id,
                    day=day,
                    due_at=session.created_at + timedelta(days=day),
                    status="pending" if day == 90 and rng.random() < 0.3 else status,
                )
            )
    return saves, checkpoints


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

        from mrrx import parallel

        parallel.shutdown()  # the page's read threads hold connections to the database
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
    from django.test.utils import CaptureQueriesContext, override_settings
    from django.utils import timezone

    from experiments.models import Arm, ArmKind, Experiment, ExperimentStatus
    from retention.models import Save, SaveCheckpoint
    from sessions_app.models import Session, offers_key_of
    from tenants.models import Membership
    from tenants.services import tenant_create
    from tests.factories import UserFactory

    call_command("migrate", verbosity=0)
    tenant = tenant_create(name="Analytics bench")
    user = UserFactory(username="bench-viewer")
    Membership.objects.create(user=user, tenant=tenant, role=Membership.Role.VIEWER)
    started = time.perf_counter()
    experiment = Experiment.objects.create(
        tenant=tenant,
        livemode=True,
        name="Bench: 20% vs 30% off",
        status=ExperimentStatus.RUNNING,
        started_at=timezone.now() - timedelta(days=60),
    )
    for position, key in enumerate(ARMS):
        kind = ArmKind.HOLDOUT if key == "holdout" else ArmKind.VARIANT
        Arm.objects.create(experiment=experiment, key=key, name=key, kind=kind, position=position)
    rows = _sessions(tenant, SESSIONS, experiment.pk)
    for row in rows:  # what Session.save sets; bulk_create does not call it
        row.offers_key = offers_key_of(row.offers_considered)
    for offset in range(0, len(rows), 10000):
        Session.objects.bulk_create(rows[offset : offset + 10000])
    saves, checkpoints = _saves(rows)
    Save.objects.bulk_create(saves, batch_size=10000)
    SaveCheckpoint.objects.bulk_create(checkpoints, batch_size=10000)
    with connection.cursor() as cursor:
        # What autovacuum does soon after a load: statistics, and the visibility map
        # that lets PostgreSQL answer from the index alone.
        for table in ("sessions_app_session", "retention_save", "retention_savecheckpoint"):
            cursor.execute(f"VACUUM ANALYZE {table}")
    print(
        f"analytics: {SESSIONS:,} sessions, {len(saves):,} saves and {len(checkpoints):,} "
        f"checkpoints built in {time.perf_counter() - started:.1f} s"
    )

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
    # Counted one after another: the page's concurrent reads (READ_CONCURRENCY) run on
    # connections of their own, which this connection's capture does not see.
    with override_settings(READ_CONCURRENCY=1), CaptureQueriesContext(connection) as queries:
        client.get("/admin/analytics/")
    timings.sort()
    p50 = statistics.median(timings)
    p99 = timings[max(0, int(len(timings) * 0.99) - 1)]
    print(
        f"analytics page, {SESSIONS:,} sessions, {RUNS} renders: p50 {p50:.0f} ms, "
        f"p99 {p99:.0f} ms ({len(queries)} queries; budget {BUDGET_MS} ms: "
        f"{'within' if p99 < BUDGET_MS else 'OVER'})"
    )
    report.record(
        f"analytics page p99, {SESSIONS:,} sessions",
        p99,
        "ms",
        at_most=BUDGET_MS,
        command="python -m bench analytics",
    )
    _api(tenant)


def _api(tenant) -> None:  # type: ignore[no-untyped-def]
    """GET /api/v1/analytics over the page's default range: totals, then each group_by."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from tenants.models import SCOPE_ANALYTICS_READ
    from tenants.services import apikey_issue

    tenant.rate_limit_overrides = {"analytics.read": 100_000}
    tenant.save(update_fields=["rate_limit_overrides"])
    _, key = apikey_issue(tenant=tenant, livemode=True, scopes=[SCOPE_ANALYTICS_READ])
    client = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    for group_by in ("", "reason", "offer", "arm", "day"):
        query = {"group_by": group_by} if group_by else {}
        for _ in range(3):
            assert client.get("/api/v1/analytics", query).status_code == 200
        timings = []
        for _ in range(RUNS):
            started = time.perf_counter()
            response = client.get("/api/v1/analytics", query)
            timings.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.content[:300]
        with CaptureQueriesContext(connection) as queries:
            client.get("/api/v1/analytics", query)
        timings.sort()
        p50 = statistics.median(timings)
        p99 = timings[max(0, int(len(timings) * 0.99) - 1)]
        print(
            f"analytics API{' group_by=' + group_by if group_by else ''}, {SESSIONS:,} "
            f"sessions, {RUNS} calls: p50 {p50:.0f} ms, p99 {p99:.0f} ms ({len(queries)} "
            f"queries; budget {API_BUDGET_MS} ms: {'within' if p99 < API_BUDGET_MS else 'OVER'})"
        )
        report.record(
            f"analytics API p99{' group_by=' + group_by if group_by else ''}",
            p99,
            "ms",
            at_most=API_BUDGET_MS,
            command="python -m bench analytics",
        )


if __name__ == "__main__":
    main()
