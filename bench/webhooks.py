"""Webhook delivery: deliveries per second and emit-to-receipt latency, beside the ceiling.

Runs the real pipeline (``event_emit`` → on-commit message → Celery worker on Redis →
claim, sign, POST, log) against a fast local receiver, and beside it the raw ceiling of
the same machine: a bare Celery task that signs (HMAC-SHA256) and POSTs the same body with
a pooled httpx client, on the same worker, broker and receiver. Two shapes each:
- burst: N events written in one transaction, then sent as fast as the worker goes;
  deliveries per second from the commit to the last receipt;
- paced: events emitted one transaction each at a steady rate well under capacity;
  p50/p99 from the emit call to the receiver's receipt.

Needs PostgreSQL and Redis (DATABASE_URL, REDIS_URL); it creates and drops a database of
its own. Usage: ``DATABASE_URL=... REDIS_URL=... python -m bench webhooks``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import httpx
from celery import shared_task

from . import profiling, report

BURST = 1000
ROUNDS = 3
PACED = 1000
PACED_RATE = 200  # events per second
COMMAND = "python -m bench webhooks"
# The worker as the tests run it; BENCH_POOL / BENCH_CONCURRENCY try others.
WORKER = {
    "pool": os.environ.get("BENCH_POOL", "threads"),
    "concurrency": int(os.environ.get("BENCH_CONCURRENCY", "4")),
}
ROOT = Path(__file__).resolve().parent.parent

_client: httpx.Client | None = None
_client_lock = threading.Lock()


@shared_task(name="bench.webhooks.raw_post")
def raw_post(url: str, body: str, secret: str, bench_id: str) -> None:
    """The ceiling: HMAC and POST, nothing else."""
    global _client
    if _client is None:
        with _client_lock:
            _client = _client or httpx.Client(
                trust_env=False,
                transport=httpx.HTTPTransport(
                    socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
                ),
            )
    payload = body.encode()
    signature = hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()
    _client.post(
        url,
        content=payload,
        headers={
            "Content-Type": "application/json",
            "X-MRRX-Signature": f"t={int(time.time())},v1={signature}",
            "webhook-id": bench_id,
        },
    )


# --- The receiver (a process of its own, so it does not share the bench's GIL) -----------------
def _serve() -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    records: list[tuple[str, float]] = []
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with lock:
                records.append((self.headers.get("webhook-id", ""), time.time()))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def do_GET(self) -> None:
            with lock:
                body = json.dumps(records).encode()
                if self.path == "/take":
                    records.clear()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()


class _Receiver:
    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from bench.webhooks import _serve; _serve()"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.port = int(self.process.stdout.readline())  # type: ignore[union-attr]

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def records(self, *, take: bool = False) -> list[tuple[str, float]]:
        with urllib.request.urlopen(self.url("/take" if take else "/peek")) as response:
            return [tuple(r) for r in json.loads(response.read())]

    def wait_for(self, count: int, timeout: float = 180.0) -> list[tuple[str, float]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.records()) >= count:
                return self.records(take=True)
            time.sleep(0.05)
        raise RuntimeError(f"only {len(self.records())} of {count} arrived in {timeout} s")

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


# --- Runs ------------------------------------------------------------------------------------
def _percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else 0


def _latencies(sent: dict[str, float], records: list[tuple[str, float]]) -> list[float]:
    return [(at - sent[key]) * 1000 for key, at in records if key in sent]


def _cpu_seconds(pid: int) -> float:
    """User + system CPU so far of a process and its children (a prefork pool), on Linux."""
    total = 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                total += _cpu_seconds(int(child))
    except (FileNotFoundError, ProcessLookupError):
        pass
    return total


def _burst_webhooks(tenant, receiver: _Receiver, n: int) -> tuple[float, list[float]]:  # type: ignore[no-untyped-def]
    from django.db import transaction

    from webhooks.services import event_emit

    sent: dict[str, float] = {}
    with transaction.atomic():
        for i in range(n):
            event = event_emit(
                tenant=tenant, livemode=False, type="session.created", data={"session_id": f"s{i}"}
            )
            sent[event.pk] = 0.0
        started = time.time()
        sent = dict.fromkeys(sent, started)
    records = receiver.wait_for(n)
    return n / (max(at for _, at in records) - started), _latencies(sent, records)


def _burst_raw(receiver: _Receiver, body: str, secret: str, n: int) -> tuple[float, list[float]]:
    started = time.time()
    sent = {}
    for i in range(n):
        sent[f"raw{i}"] = started
        raw_post.apply_async(args=(receiver.url(), body, secret, f"raw{i}"), queue="webhooks")
    records = receiver.wait_for(n)
    return n / (max(at for _, at in records) - started), _latencies(sent, records)


def _paced(send, receiver: _Receiver, n: int, rate: float) -> list[float]:  # type: ignore[no-untyped-def]
    sent: dict[str, float] = {}
    started = time.monotonic()
    for i in range(n):
        delay = started + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        at = time.time()
        sent[send(i)] = at
    return _latencies(sent, receiver.wait_for(n))


def _line(name: str, rate: float | None, latencies: list[float]) -> str:
    rate_text = f"{rate:8.0f}/s" if rate is not None else " " * 10
    return (
        f"  {name:<38}{rate_text}   p50 {_percentile(latencies, 50):7.1f} ms"
        f"   p99 {_percentile(latencies, 99):7.1f} ms"
    )


def main() -> None:
    if not (os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL")):
        print("bench/webhooks.py: needs DATABASE_URL (PostgreSQL) and REDIS_URL; skipped.")
        return
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    os.environ["WEBHOOK_ALLOW_LOOPBACK"] = "1"
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    from tests.worker_fixture import isolated_broker, start_worker

    settings.WEBHOOK_ALLOW_LOOPBACK = True
    original_name = connection.settings_dict["NAME"]
    original_test = connection.settings_dict["TEST"]
    connection.settings_dict["TEST"] = {**original_test, "NAME": "mrrx_bench_webhooks"}
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    receiver = _Receiver()
    try:
        with (
            isolated_broker() as broker,
            start_worker(
                broker=broker,
                env={"WEBHOOK_ALLOW_LOOPBACK": "1"},
                extra_args=("--include", "bench.webhooks"),
                **WORKER,
            ) as worker,
        ):
            _run(receiver, worker.pid)
    finally:
        receiver.close()
        # Drops the bench database and points the connection back where it was, for the
        # benchmarks that run after this one.
        connection.creation.destroy_test_db(original_name, verbosity=0)
        connection.settings_dict["TEST"] = original_test


def _run(receiver: _Receiver, worker_pid: int) -> None:
    from tenants.services import tenant_create
    from webhooks.models import Event
    from webhooks.services import endpoint_create, event_emit

    tenant = tenant_create(name="Bench")
    _, secret = endpoint_create(tenant=tenant, livemode=False, url=receiver.url())
    # Warm up: connections in every worker thread, the client pools, the code paths.
    _burst_webhooks(tenant, receiver, 100)
    _burst_raw(receiver, "{}", secret, 100)
    body = Event.objects.first().body

    # Rounds alternate, so that load from elsewhere on the machine falls on both sides.
    results: dict[str, list[tuple[float, list[float], float]]] = {"raw": [], "ours": []}
    for _ in range(ROUNDS):
        for name in ("raw", "ours"):
            cpu = _cpu_seconds(worker_pid)
            with profiling.profiled(f"webhooks-{name}", [worker_pid]):
                if name == "raw":
                    rate, latencies = _burst_raw(receiver, body, secret, BURST)
                else:
                    rate, latencies = _burst_webhooks(tenant, receiver, BURST)
            cpu_ms = (_cpu_seconds(worker_pid) - cpu) / BURST * 1000
            results[name].append((rate, latencies, cpu_ms))

    def emit(i: int) -> str:
        event = event_emit(
            tenant=tenant, livemode=False, type="session.created", data={"session_id": f"p{i}"}
        )
        return event.pk

    def publish(i: int) -> str:
        raw_post.apply_async(args=(receiver.url(), body, secret, f"paced{i}"), queue="webhooks")
        return f"paced{i}"

    raw_paced = _paced(publish, receiver, PACED, PACED_RATE)
    ours_paced = _paced(emit, receiver, PACED, PACED_RATE)

    best = {name: max(r[0] for r in rounds) for name, rounds in results.items()}
    ratios = sorted(o[0] / r[0] for o, r in zip(results["ours"], results["raw"], strict=True))
    cpu = {name: statistics.median(r[2] for r in rounds) for name, rounds in results.items()}
    pooled = {name: [ms for r in rounds for ms in r[1]] for name, rounds in results.items()}
    print(
        f"Celery worker ({WORKER['pool']}, concurrency {WORKER['concurrency']}) on Redis, "
        f"PostgreSQL, a local receiver; {len(body)}-byte bodies."
    )
    print(
        f"Bursts of {BURST}, {ROUNDS} rounds each, alternating (rate: best round, commit to "
        "last receipt; latency: commit to receipt, all rounds):"
    )
    print(_line("raw ceiling (HMAC + POST task)", best["raw"], pooled["raw"]))
    print(_line("webhooks (emit, claim, sign, POST, log)", best["ours"], pooled["ours"]))
    print(
        f"  webhooks / ceiling: best rounds {best['ours'] / best['raw']:.0%}, "
        f"per round {', '.join(f'{r:.0%}' for r in ratios)} (target: at least 85%)"
    )
    print(
        f"  worker CPU per delivery (median): ceiling {cpu['raw']:.2f} ms, "
        f"webhooks {cpu['ours']:.2f} ms ({cpu['raw'] / cpu['ours']:.0%})"
    )
    print(f"Paced, {PACED} at {PACED_RATE}/s, one transaction each (latency: emit to receipt):")
    print(_line("raw ceiling", None, raw_paced))
    print(_line("webhooks", None, ours_paced))
    report.record(
        "webhook deliveries (burst, best round)",
        best["ours"],
        "/s",
        ceiling=best["raw"],
        ceiling_name="bare Celery HMAC + keep-alive POST",
        ratio_at_least=0.85,
        command=COMMAND,
    )
    report.record(
        "webhook worker CPU per delivery",
        cpu["ours"],
        "ms",
        ceiling=cpu["raw"],
        ceiling_name="bare task",
        command=COMMAND,
    )
    report.record(
        f"webhook p99 emit->receipt, {PACED_RATE}/s paced",
        _percentile(ours_paced, 99),
        "ms",
        ceiling=_percentile(raw_paced, 99),
        ceiling_name="bare task, publish->receipt",
        at_most=50,
        command=COMMAND,
    )


if __name__ == "__main__":
    main()
