"""The soak: the product under a steady half of its measured peak for a long time.

gunicorn (2 workers, gunicorn.conf.py), a Celery worker (the Procfile's queues) and the
Stripe emulator, on PostgreSQL and Redis, in a database of its own. First the peak: 16
clients in a closed loop for 10 s. Then, for ``--minutes`` (30 by default), paced
arrivals at half that rate. Both go the same way through the API: the session
created (its ``session.created`` webhook delivered, signed, to a local receiver), read by
the merchant, opened through the flow API. Every 30 s the sessions older than a minute
are made due and the expiry sweep ends them (their ``session.expired`` events delivered
too), which frees their subscriptions for later arrivals.

Printed each minute: arrivals, errors, p50/p99; at start and end: each process's RSS.
Passes with no error, every webhook received, memory and p99 steady (the last minute's
p99 at most twice the first's, RSS growth under 50 MB a process). Not part of the
default ``make bench`` run:

    DATABASE_URL=... REDIS_URL=... .venv/bin/python -m bench soak --minutes 30
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import httpx

from . import common, report

MINUTES = float(os.environ.get("BENCH_SOAK_MINUTES", "30"))
PEAK_SECONDS = 10
COMMAND = "python -m bench soak --minutes {minutes:g}"


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _family(pid: int) -> list[int]:
    """A process and its children (gunicorn's workers, the Celery pool)."""
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            pids += _family(int(child))
    return pids


def _memory(procs: dict[str, int]) -> dict[str, float]:
    found = {}
    for name, pid in procs.items():
        for n, member in enumerate(_family(pid)):
            with contextlib.suppress(FileNotFoundError):
                found[f"{name}[{n}]"] = _rss_mb(member)
    return found


def _sweeper(stop: threading.Event, errors: list[str]) -> None:
    """Every 30 s: sessions older than a minute made due, then the product's sweep."""
    from datetime import timedelta

    from django.db import close_old_connections
    from django.utils import timezone

    from sessions_app.models import ACTIVE_STATUSES, Session
    from sessions_app.services import sessions_expire_due

    while not stop.wait(30):
        try:
            close_old_connections()
            now = timezone.now()
            Session.objects.filter(
                status__in=ACTIVE_STATUSES, created_at__lt=now - timedelta(minutes=1)
            ).exclude(status="executing").update(expires_at=now)
            sessions_expire_due(now=now)
        except Exception as exc:  # reported with the errors
            errors.append(f"sweep: {exc!r}")


def main() -> None:
    if not (os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL")):
        print("bench/soak.py needs DATABASE_URL and REDIS_URL (PostgreSQL and Redis); skipped.")
        return
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    os.environ["WEBHOOK_ALLOW_LOOPBACK"] = "1"
    # The load generator reads the database between requests, from its event loop.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with common.own_database("soak"):
        _run()


def _run() -> None:
    from .webhooks import _Receiver

    procs = []
    receiver = _Receiver()
    try:
        emulator, stripe_url = common.start_emulator()
        procs.append(emulator)
        data = common.setup_workspace(
            stripe_url, subscriptions=int(os.environ.get("BENCH_SOAK_SUBSCRIPTIONS", "3000"))
        )
        from django.conf import settings

        from webhooks.services import endpoint_create

        settings.WEBHOOK_ALLOW_LOOPBACK = True
        endpoint_create(tenant=data["tenant"], livemode=False, url=receiver.url())
        gunicorn = common.start(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "mrrx.wsgi",
                "--config",
                "gunicorn.conf.py",
                "--workers",
                "2",
                "--bind",
                f"127.0.0.1:{(port := common.free_port())}",
                "--log-level",
                "warning",
            ]
        )
        procs.append(gunicorn)
        worker = common.start(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "mrrx",
                "worker",
                "--queues",
                "actions,webhooks,default",
                "--concurrency",
                "4",
                "--pool",
                "threads",
                "--loglevel",
                "WARNING",
            ]
        )
        procs.append(worker)
        base = f"http://127.0.0.1:{port}"
        common.wait_up(f"{base}/api/v1/health")
        _soak(
            base,
            data,
            receiver,
            {"gunicorn": gunicorn.pid, "celery": worker.pid, "emulator": emulator.pid},
        )
    finally:
        common.stop(procs)
        receiver.close()


def _soak(base: str, data: dict, receiver, pids: dict[str, int]) -> None:  # type: ignore[type-arg, no-untyped-def]
    auth = {"Authorization": f"Bearer {data['key']}"}
    free = list(data["pairs"])
    in_use: dict[str, tuple[str, str]] = {}
    lock = threading.Lock()
    errors: list[str] = []

    def take() -> tuple[str, str]:
        with lock:
            if not free:
                # Sessions the sweep ended give their subscriptions back.
                from sessions_app.models import Session

                ended = Session.objects.filter(
                    id__in=list(in_use), status__in=["expired", "abandoned"]
                ).values_list("id", flat=True)
                for session_id in ended:
                    free.append(in_use.pop(session_id))
            if not free:
                raise RuntimeError("no subscription free: raise BENCH_SOAK_SUBSCRIPTIONS")
            return free.pop()

    async def arrival(client: httpx.AsyncClient) -> tuple[float, bool]:
        started = time.perf_counter()
        pair = take()
        created = await client.post(
            f"{base}/api/v1/sessions",
            json={"customer_id": pair[0], "subscription_id": pair[1]},
            headers=auth,
        )
        if created.status_code != 201:
            with lock:
                free.append(pair)
            errors.append(f"create {created.status_code}: {created.text[:200]}")
            return time.perf_counter() - started, False
        body = created.json()
        with lock:
            in_use[body["id"]] = pair
        read = await client.get(f"{base}/api/v1/sessions/{body['id']}", headers=auth)
        opened = await client.get(
            f"{base}/api/v1/flow", headers={"Authorization": f"Bearer {body['token']}"}
        )
        ok = read.status_code == 200 and opened.status_code == 200
        if not ok:
            errors.append(f"read {read.status_code}, flow {opened.status_code}")
        return time.perf_counter() - started, ok

    # The peak: the same ways through, closed loop, 16 clients (what arrivals are paced from).
    async def closed(client, n, i):  # type: ignore[no-untyped-def]
        _, ok = await arrival(client)
        return SimpleNamespace(status_code=200 if ok else 599)

    peak = asyncio.run(common.closed_loop(closed, PEAK_SECONDS, 16))
    rate = peak["rps"] / 2
    print(
        f"soak: peak {peak['rps']:.1f} ways through/s ({peak['errors']} errors); "
        f"pacing arrivals at {rate:.1f}/s for {MINUTES:g} min"
    )
    receiver.wait_for(peak["requests"] - peak["errors"], timeout=120)
    memory_start = _memory(pids)
    print("soak: RSS at start (MB): " + ", ".join(f"{k} {v:.0f}" for k, v in memory_start.items()))

    stop = threading.Event()
    sweeper = threading.Thread(target=_sweeper, args=(stop, errors), daemon=True)
    sweeper.start()
    minutes: list[dict[str, float]] = []
    arrivals = 0

    async def paced() -> None:
        nonlocal arrivals
        finished: list[tuple[float, bool]] = []  # (latency, ok) in the order they end
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        async with httpx.AsyncClient(timeout=30, limits=limits) as client:

            async def one() -> None:
                finished.append(await arrival(client))

            started = time.monotonic()
            end = started + MINUTES * 60
            tasks: set[asyncio.Task] = set()  # type: ignore[type-arg]
            window_start, last_start, window_end = 0, 0, started + 60
            while time.monotonic() < end:
                delay = started + arrivals / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                task = asyncio.create_task(one())
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                arrivals += 1
                if time.monotonic() >= window_end:
                    _close_window(minutes, finished[window_start:])
                    last_start = window_start
                    window_start, window_end = len(finished), window_end + 60
            await asyncio.gather(*tasks)
            # The arrivals still under way at the end count in the last minute (a window
            # of a few would make a p99 of nothing).
            tail = finished[window_start:]
            if minutes and len(tail) < 0.5 * rate * 60:
                minutes.pop()
                _close_window(minutes, finished[last_start:])
            elif tail:
                _close_window(minutes, tail)

    asyncio.run(paced())
    stop.set()
    sweeper.join(timeout=120)
    memory_end = _memory(pids)
    print("soak: RSS at end (MB):   " + ", ".join(f"{k} {v:.0f}" for k, v in memory_end.items()))
    from webhooks.models import Delivery

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        pending = Delivery.objects.filter(status="pending").count()
        if not pending:
            break
        time.sleep(1)
    failed = Delivery.objects.exclude(status="succeeded").count()
    delivered = Delivery.objects.filter(status="succeeded").count()
    print(
        f"soak: {arrivals} arrivals, {len(errors)} errors, {delivered} webhooks delivered, "
        f"{failed} not delivered"
    )
    for error in errors[:10]:
        print(f"  error: {error}")
    growth = max(memory_end.get(k, 0) - v for k, v in memory_start.items())
    command = COMMAND.format(minutes=MINUTES)
    report.record(
        "soak: ways through/s (half the peak)",
        rate,
        "req/s",
        ceiling=peak["rps"],
        ceiling_name="peak, closed loop",
        command=command,
    )
    report.record("soak: errors", len(errors), "", at_most=0, command=command)
    report.record("soak: webhooks not delivered", failed, "", at_most=0, command=command)
    report.record("soak: largest RSS growth", growth, "MB", at_most=50, command=command)
    if minutes:
        report.record(
            "soak: last minute's p99",
            minutes[-1]["p99_ms"],
            "ms",
            ceiling=minutes[0]["p99_ms"],
            ceiling_name="first minute's p99",
            at_most=2 * minutes[0]["p99_ms"],
            command=command,
        )


def _close_window(minutes: list[dict[str, float]], ended: list[tuple[float, bool]]) -> None:
    window = [latency for latency, _ in ended]
    errors = sum(not ok for _, ok in ended)
    p50 = common.percentile(window, 50) * 1000
    p99 = common.percentile(window, 99) * 1000
    minutes.append({"p50_ms": p50, "p99_ms": p99})
    print(
        f"soak: minute {len(minutes)}: {len(window)} arrivals done, {errors} errors, "
        f"p50 {p50:.0f} ms, p99 {p99:.0f} ms",
        flush=True,
    )
