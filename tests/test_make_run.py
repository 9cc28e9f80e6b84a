"""`make run` on the embedded default: the printed demo key answers /api/v1/workspace."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.smoke

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_make_run_prints_a_demo_key_that_works():
    port, stripe_port = _free_port(), _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    for secret in ("SECRET_KEY", "API_KEY_HMAC_SECRET", "SESSION_TOKEN_KEYS", "ENCRYPTION_KEYS"):
        env.pop(secret, None)
    env.update(
        PORT=str(port),
        STRIPE_EMULATOR_PORT=str(stripe_port),
        MRRX_VAR_DIR=tempfile.mkdtemp(prefix="mrrx-run-"),
    )
    process = subprocess.Popen(
        ["make", "run"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    key = None
    seen: list[str] = []
    try:
        deadline = time.monotonic() + 120
        while key is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            seen.append(line)
            match = re.search(r"Test API key: (mrrx_test_\w+)", line)
            key = match.group(1) if match else None
        assert key, "no key printed:\n" + "".join(seen[-40:])
        response = httpx.get(
            f"http://127.0.0.1:{port}/api/v1/workspace",
            headers={"Authorization": f"Bearer {key}"},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        assert response.json()["name"] == "Demo Workspace"
        assert response.json()["mode"] == "test"
    finally:
        # make and honcho share this process group; honcho stops the processes it
        # started (each in a session of its own), so wait for it to be gone before
        # anything more forceful.
        os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            process.poll()  # reap make, or it lingers in the group as a zombie
            try:
                os.killpg(process.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.2)
        else:
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)
