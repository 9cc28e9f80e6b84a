"""What the HTTP benchmarks share: a database of their own, the Stripe emulator, gunicorn,
a workspace with subscriptions to cancel, and a closed-loop load of concurrent clients."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_up(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def _admin_sql(url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql)


@contextlib.contextmanager
def own_database(name: str) -> Iterator[str]:
    """A database of the benchmark's own on DATABASE_URL's server, migrated, dropped
    afterwards; DATABASE_URL points at it meanwhile (for this process and children)."""
    server_url = os.environ["DATABASE_URL"]
    database = f"mrrx_bench_{name}_{os.getpid()}"
    _admin_sql(server_url, f'CREATE DATABASE "{database}"')
    os.environ["DATABASE_URL"] = urlunsplit(urlsplit(server_url)._replace(path=f"/{database}"))
    try:
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, check=True
        )
        _point_django_at(database)
        yield os.environ["DATABASE_URL"]
    finally:
        os.environ["DATABASE_URL"] = server_url
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
        _admin_sql(server_url, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        _point_django_at(urlsplit(server_url).path.lstrip("/"))


def _point_django_at(database: str) -> None:
    """Django is set up once per process: when a module before this one set it up, its
    connection names the database it began with, not the one DATABASE_URL names now."""
    from django.conf import settings

    if not settings.configured:
        return  # set up later, from DATABASE_URL
    from django.db import connections

    connections.close_all()
    connections["default"].settings_dict["NAME"] = database


def start(args: list[str], **kwargs) -> subprocess.Popen:  # type: ignore[type-arg, no-untyped-def]
    return subprocess.Popen(args, cwd=ROOT, env={**os.environ}, **kwargs)


def stop(procs: list[subprocess.Popen]) -> None:  # type: ignore[type-arg]
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def start_emulator() -> tuple[subprocess.Popen, str]:  # type: ignore[type-arg]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start(
        [sys.executable, "-m", "stripe_emulator", "--port", str(port)], stdout=subprocess.DEVNULL
    )
    wait_up(f"{url}/_emulator/health")
    os.environ["STRIPE_API_BASE"] = os.environ["STRIPE_CONNECT_BASE"] = url
    return proc, url


def start_gunicorn(workers: int = 2) -> tuple[subprocess.Popen, str]:  # type: ignore[type-arg]
    port = free_port()
    proc = start(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "mrrx.wsgi",
            "--workers",
            str(workers),
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
        ]
    )
    base = f"http://127.0.0.1:{port}"
    wait_up(f"{base}/api/v1/health")
    return proc, base


def setup_workspace(stripe_url: str, subscriptions: int) -> dict:  # type: ignore[type-arg]
    """A connected workspace without rate limits, a key, and subscriptions to cancel."""
    import django

    django.setup()
    import stripe
    from django.conf import settings

    from billing.services import stripe_connection_connect_key
    from tenants.services import apikey_issue, tenant_create

    settings.STRIPE_API_BASE = settings.STRIPE_CONNECT_BASE = stripe_url
    tenant = tenant_create(name=f"Bench {time.time_ns()}")
    tenant.rate_limit_overrides = {scope: 10**9 for scope in settings.RATE_LIMITS}
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
    return {"tenant": tenant, "key": key, "pairs": pairs}


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(len(ordered) * q / 100 + 0.5) - 1))]


async def closed_loop(make_request, seconds: float, clients: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """``clients`` concurrent clients, each sending its next request when the last answers."""
    latencies: list[float] = []
    errors = 0
    stop_at = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:

        async def worker(n: int) -> None:
            nonlocal errors
            i = 0
            while time.monotonic() < stop_at:
                started = time.perf_counter()
                response = await make_request(client, n, i)
                latencies.append(time.perf_counter() - started)
                if response.status_code >= 300:
                    errors += 1
                i += 1

        started = time.monotonic()
        await asyncio.gather(*(worker(n) for n in range(clients)))
        elapsed = time.monotonic() - started
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000 if latencies else 0.0,
        "p99_ms": percentile(latencies, 99) * 1000,
        "requests": len(latencies),
        "errors": errors,
    }
