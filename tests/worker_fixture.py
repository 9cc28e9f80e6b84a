"""A real Celery worker for end-to-end tests, on the test database and a private broker.

Use from a test package's ``conftest.py``::

    from tests.worker_fixture import (  # noqa: F401
        celery_broker, celery_worker_env, celery_worker_process,
    )

then, in a test that needs a worker::

    @pytest.mark.django_db(transaction=True)   # the worker must see committed rows
    def test_something(celery_worker_process):
        ...  # queue work (on commit), then
        celery_worker_process.wait_until(lambda: Thing.objects.filter(done=True).exists())

What it does:
- ``celery_broker`` (package scope) points this process's Celery app at a broker namespace
  of its own (a temporary folder for the embedded ``filesystem://`` broker, a key prefix
  on Redis), so tests never take or purge messages of a developer's running worker or of
  another test run, and empties it afterwards. Override ``celery_worker_env`` (a dict of
  extra environment variables for the worker) in your conftest to change the worker's
  settings, e.g. ``{"WEBHOOK_ALLOW_LOOPBACK": "1"}``.
- ``celery_worker_process`` (package scope) starts ``celery worker -Q
  actions,webhooks,default --pool threads --concurrency 4`` in a subprocess with exactly
  this process's settings (``tests.settings`` and the same environment), except that its
  database is the TEST database (pytest-django's ``test_<name>`` on PostgreSQL, the
  ``var/test.sqlite3`` file on SQLite) and its broker the namespace above. It waits for
  the worker's ``worker_ready`` signal and stops it (warm, then hard) afterwards.
  Package scope means one worker per test package at a time, never two competing.
- There is no beat: call the periodic task's function directly when a test needs it
  (e.g. ``webhooks.services.deliveries_dispatch_due()``), which is deterministic.
- ``start_worker(...)`` is the same as a context manager, for benchmarks and odd cases.

``python -m tests.worker_fixture <celery worker args>`` is the worker's entry point; it
reads its database name and broker from ``MRRX_TEST_WORKER`` (JSON).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

QUEUES = "actions,webhooks,default"
ROOT = Path(__file__).resolve().parent.parent


def wait_until(
    condition: Callable[[], Any],
    *,
    timeout: float = 30.0,
    interval: float = 0.05,
    message: str = "",
) -> Any:
    """Poll ``condition`` until it returns something truthy, and return that.

    A bounded wait for another process, not a timing assertion: ``timeout`` only keeps a
    broken test from hanging.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(message or f"condition not met within {timeout} s")
        time.sleep(interval)


# --- Broker namespace ----------------------------------------------------------------------
@dataclass
class BrokerNamespace:
    url: str
    transport_options: dict[str, Any]
    cleanup: Callable[[], None] = field(repr=False, default=lambda: None)


def _celery_app():  # type: ignore[no-untyped-def]
    from mrrx.celery import app

    return app


def configure_broker(app, url: str, options: dict[str, Any]) -> None:  # type: ignore[no-untyped-def]
    app.conf.broker_url = url
    app.conf.broker_transport_options = options
    # Drop pooled connections and producers made with the previous settings (kombu keeps
    # producer pools in a process-wide registry keyed by connection).
    from kombu import pools

    app._pool = None
    amqp = app.__dict__.get("amqp")
    if amqp is not None:
        amqp._producer_pool = None
    pools.reset()


def purge_queues(app=None) -> int:  # type: ignore[no-untyped-def]
    """Drop every message in the app's queues (of the current broker namespace)."""
    app = app or _celery_app()
    purged = 0
    with app.connection_for_write() as conn:
        channel = conn.default_channel
        for queue in QUEUES.split(","):
            try:
                purged += channel.queue_purge(queue) or 0
            except Exception:  # a queue nobody declared yet holds nothing
                continue
    return purged


@contextmanager
def isolated_broker(app=None) -> Iterator[BrokerNamespace]:  # type: ignore[no-untyped-def]
    """Point ``app`` (default: mrrx's) at a broker namespace of its own while inside."""
    from django.conf import settings

    app = app or _celery_app()
    saved_url = app.conf.broker_url
    saved_options = dict(app.conf.broker_transport_options or {})
    url = settings.CELERY_BROKER_URL
    if url.startswith("filesystem"):
        folder = Path(tempfile.mkdtemp(prefix="mrrx-test-broker-"))
        for sub in ("queue", "processed", "control"):
            (folder / sub).mkdir()
        options = {
            "data_folder_in": str(folder / "queue"),
            "data_folder_out": str(folder / "queue"),
            "processed_folder": str(folder / "processed"),
            "control_folder": str(folder / "control"),
            "store_processed": False,
        }
        namespace = BrokerNamespace(
            url, options, cleanup=lambda: shutil.rmtree(folder, ignore_errors=True)
        )
    elif url.startswith(("redis://", "rediss://")):
        prefix = f"mrrx-test-{uuid.uuid4().hex[:12]}:"

        def drop_keys() -> None:
            import redis

            client = redis.Redis.from_url(url)
            keys = list(client.scan_iter(f"{prefix}*"))
            if keys:
                client.delete(*keys)

        namespace = BrokerNamespace(
            url, {**saved_options, "global_keyprefix": prefix}, cleanup=drop_keys
        )
    else:
        raise RuntimeError(f"No isolated namespace for the broker {url!r}.")
    configure_broker(app, namespace.url, namespace.transport_options)
    try:
        yield namespace
    finally:
        with suppress(Exception):
            purge_queues(app)
        configure_broker(app, saved_url, saved_options)
        namespace.cleanup()


# --- The worker ----------------------------------------------------------------------------
@dataclass
class WorkerProcess:
    process: subprocess.Popen
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def alive(self) -> bool:
        return self.process.poll() is None

    def wait_until(
        self, condition: Callable[[], Any], *, timeout: float = 30.0, message: str = ""
    ) -> Any:
        """``wait_until`` that fails at once, with the worker's log, if the worker died."""

        def check() -> Any:
            if not self.alive():
                raise AssertionError(f"the Celery worker exited:\n{self.log_tail()}")
            return condition()

        try:
            return wait_until(check, timeout=timeout, message=message)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- worker log ---\n{self.log_tail()}") from None


@contextmanager
def start_worker(
    *,
    broker: BrokerNamespace,
    env: dict[str, str] | None = None,
    queues: str = QUEUES,
    pool: str = "threads",
    concurrency: int = 4,
    log_dir: Path | None = None,
    extra_args: tuple[str, ...] = (),
    ready_timeout: float = 60.0,
) -> Iterator[WorkerProcess]:
    """Run a Celery worker on the current test database and ``broker`` while inside."""
    from django.db import connection

    own_dir = log_dir is None
    log_dir = Path(log_dir or tempfile.mkdtemp(prefix="mrrx-test-worker-"))
    log_path = log_dir / f"worker-{uuid.uuid4().hex[:8]}.log"
    ready_file = log_dir / f"ready-{uuid.uuid4().hex[:8]}"
    purge_queues()
    config = {
        "database_name": str(connection.settings_dict["NAME"]),
        "broker_url": broker.url,
        "broker_transport_options": broker.transport_options,
        "ready_file": str(ready_file),
    }
    worker_env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "MRRX_TEST_WORKER": json.dumps(config),
        "PYTHONUNBUFFERED": "1",
        **(env or {}),
    }
    argv = [
        sys.executable, "-m", "tests.worker_fixture",
        "-Q", queues, "--pool", pool, "--concurrency", str(concurrency), "-l", "INFO",
        "-n", f"test-{uuid.uuid4().hex[:8]}@%h",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
        *extra_args,
    ]  # fmt: skip
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            argv, cwd=ROOT, env=worker_env, stdout=log_file, stderr=subprocess.STDOUT
        )
    worker = WorkerProcess(process=process, log_path=log_path)
    try:
        worker.wait_until(
            ready_file.exists, timeout=ready_timeout, message="the Celery worker never got ready"
        )
        yield worker
    finally:
        _stop(process)
        if own_dir:
            shutil.rmtree(log_dir, ignore_errors=True)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)  # warm shutdown: finish the task in hand
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


# --- Fixtures ------------------------------------------------------------------------------
@pytest.fixture(scope="package")
def celery_worker_env() -> dict[str, str]:
    """Extra environment variables for the worker; override in a package's conftest."""
    return {}


@pytest.fixture(scope="package")
def celery_broker() -> Iterator[BrokerNamespace]:
    with isolated_broker() as namespace:
        yield namespace


@pytest.fixture(scope="package")
def celery_worker_process(
    django_db_setup,  # type: ignore[no-untyped-def]
    django_db_blocker,
    celery_broker: BrokerNamespace,
    celery_worker_env: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[WorkerProcess]:
    with start_worker(
        broker=celery_broker, env=celery_worker_env, log_dir=tmp_path_factory.mktemp("celery")
    ) as worker:
        yield worker


# --- The worker's entry point --------------------------------------------------------------
def _worker_main(argv: list[str]) -> None:
    config = json.loads(os.environ["MRRX_TEST_WORKER"])
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    from django.conf import settings

    # What pytest-django does to this process: the test database, by name.
    settings.DATABASES["default"]["NAME"] = config["database_name"]
    import django

    django.setup()
    from celery.signals import worker_ready

    from mrrx.celery import app

    configure_broker(app, config["broker_url"], config["broker_transport_options"])

    @worker_ready.connect(weak=False)
    def _announce_ready(**kwargs: Any) -> None:
        Path(config["ready_file"]).touch()

    app.worker_main(["worker", *argv])


if __name__ == "__main__":
    _worker_main(sys.argv[1:])
