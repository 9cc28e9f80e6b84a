"""Sessions API under load: POST and GET /api/v1/sessions beside their bare ceilings; then
the expiry sweep over 1,000,000 due sessions.

gunicorn (2 sync workers) on PostgreSQL + Redis, the Stripe emulator answering (its round
trip counts on our side only), 16 concurrent clients for 15 s each, in a database of its
own. The ceilings (bench/urls.py) sit behind the same key auth in the same gunicorn: a
body validated like the create's and one INSERT; one row read by its key. The runs
alternate ceiling and ours, in three rounds of 5 s, so that load from elsewhere falls on
both. Needs DATABASE_URL
and REDIS_URL:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python -m bench sessions

BENCH_SECONDS, BENCH_SWEEP_ROWS change the sizes; BENCH_PROFILE=1 samples the gunicorn
workers with py-spy during each run and prints the top lines (bench/profiling.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import statistics
import time

from . import common, profiling, report

CLIENTS = 16
ROUNDS = 3
SECONDS = float(os.environ.get("BENCH_SECONDS", "15"))
SWEEP_ROWS = int(os.environ.get("BENCH_SWEEP_ROWS", "1000000"))
COMMAND = "python -m bench sessions"


def _http_bench() -> None:
    procs = []
    try:
        emulator, stripe_url = common.start_emulator()
        procs.append(emulator)
        # One subscription per create, with room for the fastest run this machine makes.
        data = common.setup_workspace(stripe_url, subscriptions=int(SECONDS * 400))
        gunicorn, base = common.start_gunicorn(workers=2)
        procs.append(gunicorn)
        auth = {"Authorization": f"Bearer {data['key']}"}
        pairs = iter(data["pairs"])
        created: list[str] = []
        ceiling_rows: list[str] = []

        def body() -> dict[str, str]:
            customer, sub = next(pairs)
            return {"customer_id": customer, "subscription_id": sub}

        async def create(client, n, i):  # type: ignore[no-untyped-def]
            response = await client.post(f"{base}/api/v1/sessions", json=body(), headers=auth)
            if response.status_code == 201:
                created.append(response.json()["id"])
            return response

        async def ceiling_create(client, n, i):  # type: ignore[no-untyped-def]
            response = await client.post(
                f"{base}/bench/ceiling",
                json={"customer_id": "cus_ceiling", "subscription_id": f"sub_ceiling_{n}_{i}"},
                headers=auth,
            )
            if response.status_code == 201:
                ceiling_rows.append(response.json()["id"])
            return response

        async def get(client, n, i):  # type: ignore[no-untyped-def]
            session_id = created[(n * 7919 + i) % len(created)]
            return await client.get(f"{base}/api/v1/sessions/{session_id}", headers=auth)

        async def ceiling_get(client, n, i):  # type: ignore[no-untyped-def]
            key = ceiling_rows[(n * 7919 + i) % len(ceiling_rows)]
            return await client.get(f"{base}/bench/ceiling/{key}", headers=auth)

        # Warm up both sides (connections, caches, code paths).
        asyncio.run(common.closed_loop(ceiling_create, 1, CLIENTS))
        asyncio.run(common.closed_loop(create, 1, CLIENTS))
        # Rounds alternate ceiling and ours, so that a slow moment of the machine falls on
        # both; each figure is over all its rounds (requests / seconds, median p50/p99).
        rounds: dict[str, list[dict[str, float]]] = {}
        for number in range(1, ROUNDS + 1):
            for name, fn in (
                ("ceiling_create", ceiling_create),
                ("sessions_create", create),
                ("ceiling_get", ceiling_get),
                ("sessions_get", get),
            ):
                profile = profiling.profiled(f"sessions-{name}", [gunicorn.pid])
                with profile if number == 1 else contextlib.nullcontext():
                    got = asyncio.run(common.closed_loop(fn, SECONDS / ROUNDS, CLIENTS))
                rounds.setdefault(name, []).append(got)
                print(
                    f"round {number} {name:16} "
                    + json.dumps({k: round(v, 1) for k, v in got.items()})
                )
        results = {name: _combined(runs) for name, runs in rounds.items()}
        for op in ("create", "get"):
            shares = [
                f"{o['rps'] / c['rps']:.0%}"
                for o, c in zip(rounds[f"sessions_{op}"], rounds[f"ceiling_{op}"], strict=True)
            ]
            print(f"session {op}: ours / ceiling by round {', '.join(shares)}")
        for op, target in (("create", 0.75), ("get", 0.95)):
            ours, ceiling = results[f"sessions_{op}"], results[f"ceiling_{op}"]
            report.record(
                f"session {op} (requests/s)",
                ours["rps"],
                "req/s",
                ceiling=ceiling["rps"],
                ceiling_name="bare key auth + "
                + ("validation + INSERT" if op == "create" else "SELECT by key"),
                ratio_at_least=target,
                command=COMMAND,
            )
            report.record(
                f"session {op} p99 ({CLIENTS} clients)",
                ours["p99_ms"],
                "ms",
                ceiling=ceiling["p99_ms"],
                command=COMMAND,
            )
            if ours["errors"]:
                report.record(f"session {op} errors", ours["errors"], "", at_most=0)
    finally:
        common.stop(procs)


def _combined(runs: list[dict[str, float]]) -> dict[str, float]:
    """Rounds of one operation as one figure: its requests over its seconds."""
    requests = sum(r["requests"] for r in runs)
    seconds = sum(r["requests"] / r["rps"] for r in runs if r["rps"])
    return {
        "rps": requests / seconds if seconds else 0.0,
        "p50_ms": statistics.median(r["p50_ms"] for r in runs),
        "p99_ms": statistics.median(r["p99_ms"] for r in runs),
        "requests": requests,
        "errors": sum(r["errors"] for r in runs),
    }


def _sweep_bench() -> None:
    import django

    django.setup()
    from datetime import timedelta

    from django.db import connection
    from django.utils import timezone

    from sessions_app.services import sessions_expire_due
    from tenants.services import tenant_create

    tenant = tenant_create(name=f"Sweep {time.time_ns()}")
    past = timezone.now() - timedelta(minutes=1)
    started = time.perf_counter()
    _insert_due_sessions(tenant.pk, past, SWEEP_ROWS)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE sessions_app_session")
    print(f"sweep: {SWEEP_ROWS:,} due sessions written in {time.perf_counter() - started:.1f} s")

    # The ceiling: writing the same rows once more (logged, as the table is), as a bare
    # copy with no index at all: the least any change to every one of them can cost here.
    with connection.cursor() as cursor:
        started = time.perf_counter()
        cursor.execute(
            "CREATE TABLE sweep_ceiling AS SELECT * FROM sessions_app_session WHERE tenant_id = %s",
            [tenant.pk],
        )
        ceiling = time.perf_counter() - started
        cursor.execute("DROP TABLE sweep_ceiling")

    started = time.perf_counter()
    result = sessions_expire_due()
    elapsed = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM webhooks_event WHERE tenant_id = %s AND type = %s",
            [tenant.pk, "session.expired"],
        )
        written = cursor.fetchone()[0]
    print(
        f"sweep: {json.dumps(result)} turned and {written:,} session.expired events written "
        f"in {elapsed:.2f} s ({SWEEP_ROWS / elapsed:,.0f}/s); a bare copy of the rows "
        f"{ceiling:.2f} s"
    )
    report.record(
        f"expiry sweep, {SWEEP_ROWS:,} sessions + events",
        elapsed,
        "s",
        ceiling=ceiling,
        ceiling_name="bare logged copy of the rows",
        at_most=15.0 * SWEEP_ROWS / 1_000_000,
        command=COMMAND,
    )
    if written != SWEEP_ROWS:
        report.record("sweep events missing", SWEEP_ROWS - written, "", at_most=0)


def _insert_due_sessions(tenant_id: str, past, rows: int) -> None:  # type: ignore[no-untyped-def]
    """``rows`` due sessions, two thirds never opened, one third opened, written by the
    database itself (every column at its model default but those named here)."""
    from django.db import connection

    from sessions_app.models import Session

    given = {  # SQL over g, the row's number; %s are parameters
        "id": ("'ses_' || lpad(to_hex(g), 25, '0')", []),
        "tenant_id": ("%s", [tenant_id]),
        "livemode": ("false", []),
        "status": ("CASE WHEN g %% 3 = 0 THEN 'viewed' ELSE 'created' END", []),
        "customer_id": ("'cus_sweep_' || (g %% 5000)", []),
        "subscription_id": ("'sub_sweep_' || g", []),
        "price_amount": ("2900", []),
        "price_currency": ("'usd'", []),
        "price_interval": ("'month'", []),
        "created_at": ("%s", [past]),
        "expires_at": ("%s", [past]),
    }
    columns, values, params = [], [], []
    for field in Session._meta.concrete_fields:
        columns.append(field.column)
        sql, values_params = given.get(
            field.column, ("%s", [field.get_db_prep_save(field.get_default(), connection)])
        )
        values.append(sql)
        params.extend(values_params)
    batch = 250_000
    with connection.cursor() as cursor:
        for offset in range(0, rows, batch):
            cursor.execute(
                f"INSERT INTO {Session._meta.db_table} ({', '.join(columns)})"
                f" SELECT {', '.join(values)} FROM generate_series(%s, %s) AS g",
                [*params, offset, min(rows, offset + batch) - 1],
            )


def main() -> None:
    if not (os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL")):
        print("bench/sessions.py needs DATABASE_URL and REDIS_URL (PostgreSQL and Redis); skipped.")
        return
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    with common.own_database("sessions"):
        _http_bench()
        _sweep_bench()


if __name__ == "__main__":
    main()
