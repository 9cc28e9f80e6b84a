"""The command line: `python -m stripe_emulator` starts, announces its port and persists."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.stripe_emulator_fixture import REPO_ROOT, StripeEmulatorProcess


def test_announces_port_and_answers(stripe_emulator):
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", stripe_emulator.base_url)
    assert stripe_emulator.http.get("/_emulator/health").json()["ok"] is True


def test_help_runs():
    result = subprocess.run(
        [sys.executable, "-m", "stripe_emulator", "--help"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0
    assert "--state" in result.stdout


def test_state_persists_across_restarts(tmp_path):
    path = str(tmp_path / "emulator-state.json")
    first = StripeEmulatorProcess.start(["--state", path])
    try:
        customer = first.client().v1.customers.create(params={"email": "persist@example.com"})
    finally:
        first.stop()
    second = StripeEmulatorProcess.start(["--state", path])
    try:
        again = second.client().v1.customers.retrieve(customer.id)
        assert again.email == "persist@example.com"
    finally:
        second.stop()
