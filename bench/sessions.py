"""Sessions API under load: POST and GET /api/v1/sessions against a bare ceiling.

gunicorn (2 sync workers) on PostgreSQL + Redis, the Stripe emulator answering, 16
concurrent clients for 15 s each; then the expiry sweep over 1,000,000 due sessions.
Needs DATABASE_URL and REDIS_URL (as CI sets them).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test REDIS_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python -m bench sessions
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from unittest.mock import patch

import httpx

ROOT = Path(__file__).resolve().parent.parent
CLIENTS = 16
SECONDS = float(os.environ.get("BENCH_SECONDS", "15"))
SWEEP_ROWS = int(os.environ.get("BENCH_SWEEP_ROWS", "1000000"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


async def _load(make_request, seconds: float) -> dict[str, float]:  # type: ignore[no-untyped-def]
    latencies: list[float] = []
    errors = 0
    stop = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:

        async def worker(n: int) -> None:
            nonlocal errors
            i = 0
            while time.monotonic() < stop:
                started = time.perf_counter()
                response = await make_request(client, n, i)
                latencies.append(time.perf_counter() - started)
                if response.status_code >= 300:
                    errors += 1
                i += 1

        started = time.monotonic()
        await asyncio.gather(*(worker(n) for n in range(CLIENTS)))
        elapsed = time.monotonic() - started
    latencies.sort()
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "requests": len(latencies),
        "errors": errors,
    }


def _setup(base_url: str, stripe_url: str, subscriptions: int) -> dict:  # type: ignore[type-arg]
    """A connected workspace, a key, and enough subscriptions for every create."""
    import django

    django.setup()
    import stripe
    from django.conf import settings

    from billing.services import stripe_connection_connect_key
    from tenants.services import apikey_issue, tenant_create

    settings.STRIPE_API_BASE = settings.STRIPE_CONNECT_BASE = stripe_url
    tenant = tenant_create(name=f"Bench {time.time_ns()}")
    tenant.rate_limit_overrides = {"sessions.create": 10**9, "sessions.read": 10**9}
    tenant.save()
    stripe_connection_connect_key(tenant=tenant, livemode=False, key="rk_test_bench_key_0000")
    _, key = apikey_issue(tenant=tenant, livemode=False)
    client = stripe.StripeClient(
        "sk_test_bench", base_addresses={"api": stripe_url}, max_network_retries=0
    )
    product = client.v1.products.create({"name": "Bench Plan"})
    price = client.v1.prices.create(
        {
            "product": product.id,
            "unit_amount": 2900,
            "currency": "usd",
            "recurring": {"interval": "month"},
        }
    )
    pairs = []
    for i in range(subscriptions):
        customer = client.v1.customers.create({"email": f"bench{i}@example.com"})
        sub = client.v1.subscriptions.create(
            {"customer": customer.id, "items": [{"price": price.id}]}
        )
        pairs.append((customer.id, sub.id))
    return {"key": key, "pairs": pairs}


def _http_bench(env: dict[str, str]) -> None:
    port, stripe_port = _free_port(), _free_port()
    stripe_url = f"http://127.0.0.1:{stripe_port}"
    env = {**env, "STRIPE_API_BASE": stripe_url, "STRIPE_CONNECT_BASE": stripe_url}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "stripe_emulator", "--port", str(stripe_port)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
        ),
    ]
    try:
        _wait(f"{stripe_url}/_emulator/health")
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
            cwd=ROOT,
            env=env,
            check=True,
        )
        os.environ.update(env)
        data = _setup(f"http://127.0.0.1:{port}", stripe_url, subscriptions=6000)
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "mrrx.wsgi",
                    "--workers",
                    "2",
                    "--bind",
                    f"127.0.0.1:{port}",
                    "--log-level",
                    "warning",
                ],
                cwd=ROOT,
                env=env,
            )
        )
        base = f"http://127.0.0.1:{port}"
        _wait(f"{base}/api/v1/health")
        auth = {"Authorization": f"Bearer {data['key']}"}
        pairs = iter(data["pairs"])
        created: list[str] = []

        async def create(client, n, i):  # type: ignore[no-untyped-def]
            customer, sub = next(pairs)
            response = await client.post(
                f"{base}/api/v1/sessions",
                json={"customer_id": customer, "subscription_id": sub},
                headers=auth,
            )
            if response.status_code == 201:
                created.append(response.json()["id"])
            return response

        async def ceiling_create(client, n, i):  # type: ignore[no-untyped-def]
            return await client.post(f"{base}/bench/ceiling", json={}, headers=auth)

        async def get(client, n, i):  # type: ignore[no-untyped-def]
            return await client.get(
                f"{base}/api/v1/sessions/{created[(n * 7919 + i) % len(created)]}", headers=auth
            )

        async def ceiling_get(client, n, i):  # type: ignore[no-untyped-def]
            return await client.get(f"{base}/bench/ceiling", headers=auth)

        results = {}
        for name, fn in (
            ("ceiling_create", ceiling_create),
            ("sessions_create", create),
            ("ceiling_get", ceiling_get),
            ("sessions_get", get),
        ):
            results[name] = asyncio.run(_load(fn, SECONDS))
            print(f"{name:16} " + json.dumps({k: round(v, 1) for k, v in results[name].items()}))
        for op in ("create", "get"):
            share = results[f"sessions_{op}"]["rps"] / results[f"ceiling_{op}"]["rps"]
            print(f"sessions {op}: {share:.0%} of the ceiling")
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=20)


def _sweep_bench() -> None:
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from datetime import timedelta

    from django.db import connection
    from django.utils import timezone

    from mrrx.ids import new_id
    from sessions_app.models import Session
    from sessions_app.services import sessions_emit_end_events, sessions_expire_due
    from tenants.services import tenant_create

    tenant = tenant_create(name=f"Sweep {time.time_ns()}")
    past = timezone.now() - timedelta(minutes=1)
    started = time.perf_counter()
    batch = 20000
    for offset in range(0, SWEEP_ROWS, batch):
        Session.objects.bulk_create(
            [
                Session(
                    id=new_id("ses"),
                    tenant=tenant,
                    livemode=False,
                    customer_id="cus_sweep",
                    subscription_id=f"sub_sweep_{offset + i}",
                    status="created" if (offset + i) % 3 else "viewed",
                    created_at=past,
                    expires_at=past,
                )
                for i in range(min(batch, SWEEP_ROWS - offset))
            ],
            batch_size=batch,
        )
    print(f"sweep: inserted {SWEEP_ROWS} due sessions in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    with patch("sessions_app.services.sessions_emit_end_events", lambda **kw: 0):
        result = sessions_expire_due()
    elapsed = time.perf_counter() - started
    print(f"sweep: {json.dumps(result)} turned in {elapsed:.2f} s ({SWEEP_ROWS / elapsed:,.0f}/s)")
    started = time.perf_counter()
    emitted = sessions_emit_end_events(budget_seconds=3600)
    elapsed = time.perf_counter() - started
    print(
        f"sweep: {emitted} session.expired events written in {elapsed:.2f} s "
        f"({emitted / elapsed:,.0f}/s)"
    )
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM webhooks_event WHERE tenant_id = %s", [tenant.pk])
        cursor.execute("DELETE FROM sessions_app_session WHERE tenant_id = %s", [tenant.pk])


def main() -> None:
    if not (os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL")):
        print("bench/sessions.py needs DATABASE_URL and REDIS_URL (PostgreSQL and Redis); skipped.")
        return
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "bench.settings"}
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    _http_bench(env)
    _sweep_bench()


if __name__ == "__main__":
    main()
