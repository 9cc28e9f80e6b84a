"""`make run` on the embedded default: the printed demo key answers /api/v1/workspace, the
banner ends start-up, and the log says what happened rather than that beat ticked."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dashboard.heartbeats import beat_task_names

pytestmark = pytest.mark.smoke

ROOT = Path(__file__).resolve().parent.parent
BANNER_RULE = "=" * 72
# What Celery prints per tick and per task, and the product now keeps below INFO.
ROUTINE = re.compile(r"Sending due task|Task \S+\[[0-9a-f-]+\] (received|succeeded in)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class MakeRun:
    """`make run` in a process group of its own, its output collected line by line."""

    def __init__(self, **extra_env: str) -> None:
        self.port = _free_port()
        self.var_dir = Path(tempfile.mkdtemp(prefix="mrrx-run-"))
        # Not the outer make's either: `make test` exports its own PUBLIC_BASE_URL and web
        # port, which would point the printed links at another port.
        inherited = ("DATABASE_URL", "REDIS_URL", "PUBLIC_BASE_URL", "MRRX_WEB_PORT")
        env = {k: v for k, v in os.environ.items() if k not in inherited}
        env.pop("DJANGO_SETTINGS_MODULE", None)
        # The run counts metrics in its own var dir, not in this test run's directory.
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        for secret in (
            "SECRET_KEY",
            "API_KEY_HMAC_SECRET",
            "SESSION_TOKEN_KEYS",
            "ENCRYPTION_KEYS",
        ):
            env.pop(secret, None)
        env.update(
            PORT=str(self.port),
            STRIPE_EMULATOR_PORT=str(_free_port()),
            MRRX_VAR_DIR=str(self.var_dir),
            **extra_env,
        )
        self.process = subprocess.Popen(
            ["make", "run"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, pattern: str, *, after: int = 0, timeout: float = 120) -> int:
        """The index of the first line from ``after`` on that matches ``pattern``."""
        deadline = time.monotonic() + timeout
        index = after
        while time.monotonic() < deadline:
            while index < len(self.lines):
                if re.search(pattern, self.lines[index]):
                    return index
                index += 1
            if not self._reader.is_alive() and index >= len(self.lines):
                break
            time.sleep(0.1)
        raise AssertionError(f"{pattern!r} not printed:\n" + "\n".join(self.lines[-60:]))

    def stop(self) -> None:
        # make and honcho share this process group; honcho stops the processes it
        # started (each in a session of its own), so wait for it to be gone before
        # anything more forceful.
        os.killpg(self.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            self.process.poll()  # reap make, or it lingers in the group as a zombie
            try:
                os.killpg(self.process.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.2)
        else:
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)


@contextlib.contextmanager
def make_run(**extra_env: str) -> Iterator[MakeRun]:
    run = MakeRun(**extra_env)
    try:
        yield run
    except BaseException:
        # What the processes said, for whoever reads the failure.
        print("\n".join(run.lines[-120:]))
        raise
    finally:
        run.stop()


def _banner(run: MakeRun) -> tuple[int, int, str]:
    """Where the demo banner starts and ends in the output, and its text."""
    title = run.wait_for(r"\| MRRX demo is ready\.")
    end = run.wait_for(re.escape(BANNER_RULE), after=title)
    return title - 1, end, "\n".join(run.lines[title - 1 : end + 1])


def _heartbeats(var_dir: Path) -> dict[str, str]:
    """When each periodic task last finished in the worker (what Operations shows)."""
    db = sqlite3.connect(f"file:{var_dir / 'mrrx.sqlite3'}?mode=ro", uri=True, timeout=10)
    try:
        return dict(db.execute("SELECT name, last_run_at FROM dashboard_heartbeat"))
    finally:
        db.close()


def _walk_the_flow(url: str) -> str:
    """The demo subscriber takes the first offer on the cancel page; returns its action."""

    def submit(client: httpx.Client, page: httpx.Response, **fields: str) -> httpx.Response:
        csrf = re.search(r'name="flow_csrf" value="([^"]+)"', page.text)
        assert csrf, page.text[:2000]
        response = client.post(url, data={"flow_csrf": csrf.group(1), **fields})
        assert response.status_code == 200, response.text[:2000]
        return response

    with httpx.Client(follow_redirects=True, timeout=30) as client:
        page = client.get(url)
        # One button per reason: the first one answers.
        reason = re.search(r'<button type="submit" name="reason" value="([^"]+)"', page.text)
        assert reason, page.text[:2000]
        page = submit(client, page, step="reason", reason=reason.group(1))
        action = re.search(r'name="action" id="[^"]+" value="([^"]+)"', page.text)
        assert action, page.text[:2000]
        months = re.search(r'name="pause_months" id="[^"]+" value="(\d+)"', page.text)
        extra = {"pause_months": months.group(1)} if months else {}
        page = submit(client, page, step="offer", action=action.group(1), **extra)
        # The confirmation names the action it confirms; feedback there is optional.
        submit(client, page, step="confirm", action=action.group(1))
    return action.group(1)


def test_make_run_prints_a_demo_key_that_works():
    with make_run() as run:
        _, _, banner = _banner(run)
        key = re.search(r"Test API key: (mrrx_test_\w+)", banner)
        assert key, banner
        response = httpx.get(
            f"http://127.0.0.1:{run.port}/api/v1/workspace",
            headers={"Authorization": f"Bearer {key.group(1)}"},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        assert response.json()["name"] == "Demo Workspace"
        assert response.json()["mode"] == "test"


def test_idle_ticks_print_nothing_the_banner_ends_start_up_and_an_action_is_logged():
    # Every periodic task every 8 s: the embedded broker runs about two tasks a second,
    # and a dozen periodic tasks every 8 s leave it room. Each one has run once within
    # a few periods of the banner, and each runs again in the 20 s after that.
    every = 8
    with make_run(MRRX_BEAT_EVERY_SECONDS=str(every)) as run:
        start, end, banner = _banner(run)
        before = "\n".join(run.lines[:start])
        assert re.search(r"worker\.1 .*celery@\S+ ready\.", before), before
        assert re.search(r"beat\.1 .*beat: Starting\.\.\.", before), before

        deadline = time.monotonic() + 5 * every
        first = _heartbeats(run.var_dir)
        while set(first) != beat_task_names() and time.monotonic() < deadline:
            time.sleep(1)
            first = _heartbeats(run.var_dir)
        assert set(first) == beat_task_names()
        time.sleep(2.5 * every)
        second = _heartbeats(run.var_dir)
        assert set(second) == beat_task_names()
        assert all(second[name] > first[name] for name in first), (first, second)
        # Start-up ends with the banner, and the idle ticks since added nothing.
        assert run.lines[end + 1 :] == []

        cancel_url = re.search(r"Cancel URL: +(\S+)", banner).group(1)  # type: ignore[union-attr]
        token = cancel_url.rsplit("/", 1)[1].split(".")[1]
        session_id = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))["sid"]
        action = _walk_the_flow(cancel_url)
        run.wait_for(
            rf"worker\.1 .* INFO sessions_app\.tasks session {session_id} "
            rf"executed {action}: completed$",
            after=end,
            timeout=60,
        )

        assert [line for line in run.lines if ROUTINE.search(line)] == []
        key = re.search(r"Test API key: (mrrx_test_\w+)", banner).group(1)  # type: ignore[union-attr]
        assert [
            i for i, line in enumerate(run.lines) if key in line and not start <= i <= end
        ] == []
