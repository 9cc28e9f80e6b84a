"""Without Chromium the suite still runs, and its last line says which tests did not and why."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OTHERS_PASS = "def test_other():\n    assert True\n"
ONE_FAILS = OTHERS_PASS + "\n\ndef test_broken():\n    assert False\n"


def _pytest(tmp_path: Path, others: str, **env_vars: str) -> tuple[int, list[str]]:
    """The browser tests plus some others, run in a pytest of their own on a missing browser."""
    others_file = tmp_path / "test_others.py"
    others_file.write_text(others)
    env = {k: v for k, v in os.environ.items() if k != "MRRX_REQUIRE_BROWSER"}
    env.update(MRRX_CHROMIUM=str(tmp_path / "no-such-chromium"), **env_vars)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-c", "pyproject.toml", "--rootdir", "."]
        + ["tests/e2e", str(others_file)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert lines, result.stdout + result.stderr
    return result.returncode, lines


def _count(stats: str, outcome: str) -> int:
    match = re.search(rf"(\d+) {outcome}", stats)
    return int(match.group(1)) if match else 0


def test_missing_browser_is_reported_last_and_the_rest_still_passes(tmp_path):
    returncode, lines = _pytest(tmp_path, OTHERS_PASS)

    *_, stats, last = lines
    assert returncode == 0, "\n".join(lines)
    assert _count(stats, "passed") == 1, stats
    match = re.fullmatch(r"Browser tests NOT RUN \((\d+) tests?\): (\S+) not found; (.+)", last)
    assert match, last
    assert int(match.group(1)) == _count(stats, "skipped") > 0, stats
    assert match.group(2) == str(tmp_path / "no-such-chromium")
    assert "apt-get install chromium" in match.group(3)


def test_a_failure_elsewhere_still_fails_the_run(tmp_path):
    returncode, lines = _pytest(tmp_path, ONE_FAILS)

    assert returncode == 1, "\n".join(lines)
    assert lines[-1].startswith("Browser tests NOT RUN ("), lines[-1]


def test_when_the_browser_is_required_its_absence_fails_the_run(tmp_path):
    returncode, lines = _pytest(tmp_path, OTHERS_PASS, MRRX_REQUIRE_BROWSER="1")

    *_, stats, last = lines
    assert returncode == 1, "\n".join(lines)
    assert _count(stats, "passed") == 1, stats
    match = re.match(r"Browser tests FAILED, not run \((\d+) tests?\): .* not found", last)
    assert match, last
    assert int(match.group(1)) == _count(stats, "error") > 0, stats
    assert "MRRX_REQUIRE_BROWSER is set" in last


@pytest.mark.skipif(os.geteuid() != 0, reason="make installs Chromium only as root")
@pytest.mark.parametrize("apt_works", [True, False])
def test_make_installs_a_missing_chromium_with_apt_get_as_root(tmp_path, apt_works):
    calls = tmp_path / "calls"
    fake_apt = tmp_path / "bin" / "apt-get"
    fake_apt.parent.mkdir()
    status = 0 if apt_works else 100
    fake_apt.write_text(f'#!/bin/sh\necho "$@" >> {calls}\necho "apt chatter"\nexit {status}\n')
    fake_apt.chmod(fake_apt.stat().st_mode | stat.S_IXUSR)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "MFLAGS"))}
    env["PATH"] = f"{fake_apt.parent}:{env['PATH']}"

    result = subprocess.run(
        ["make", "--no-print-directory", "chromium", f"CHROMIUM={tmp_path / 'no-such-chromium'}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    if apt_works:
        assert calls.read_text().splitlines() == ["update -qq", "install -y -qq chromium"]
        assert result.stdout.splitlines() == [
            "Installing Chromium for the browser tests (apt-get install chromium)..."
        ]
    else:
        assert calls.read_text().splitlines() == ["update -qq"]
        assert result.stdout.splitlines()[-1] == (
            "Installing Chromium failed; the browser tests will be reported as not run."
        )
