"""The Rails example: every file is valid Ruby (``ruby -c``), and its plain-Ruby webhook
verifier accepts deliveries signed as MRRX signs them and refuses the rest. Rails itself
is not installed: the controllers are checked for syntax only."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time
from pathlib import Path

import pytest

from tests import toolchains
from webhooks.signing import generate_secret, mrrx_signature, standard_signature

ROOT = Path(__file__).resolve().parents[2]
RAILS = ROOT / "examples" / "rails"

# Runs Mrrx::Webhook.verify! on each case read from standard input; prints one line each.
VERIFY_EACH = """
require "json"
require "mrrx/webhook"
JSON.parse($stdin.read).each do |c|
  event = Mrrx::Webhook.verify!(c["body"], c["headers"], c["secrets"], now: c["now"])
  puts "ok #{event["id"]}"
rescue Mrrx::Webhook::VerificationError => e
  puts "refused: #{e.message}"
end
"""


def _ruby_files() -> list[Path]:
    files = sorted(RAILS.rglob("*.rb"))
    assert files, f"no Ruby files in {RAILS}"
    return files


@pytest.mark.ruby
@pytest.mark.parametrize("path", _ruby_files(), ids=lambda p: str(p.relative_to(RAILS)))
def test_each_rails_example_file_is_valid_ruby(path: Path):
    result = subprocess.run(
        [toolchains.RUBY, "-c", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Syntax OK"


def _delivery(secrets: list[str], *, at: int, event_id: str = "evt_rails") -> dict:
    """A delivery as MRRX's worker signs it (webhooks.signing), both schemes."""
    body = json.dumps(
        {"id": event_id, "type": "session.completed", "data": {"session_id": "ses_1"}}
    )
    raw = body.encode()
    return {
        "body": body,
        "headers": {
            "Content-Type": "application/json",
            "X-MRRX-Signature": mrrx_signature(body=raw, secrets=secrets, timestamp=at),
            "webhook-id": event_id,
            "webhook-timestamp": str(at),
            "webhook-signature": standard_signature(
                msg_id=event_id, body=raw, secrets=secrets, timestamp=at
            ),
        },
    }


@pytest.mark.ruby
def test_the_rails_webhook_verifier_accepts_what_mrrx_signs_and_refuses_the_rest():
    secret, old_secret, other = generate_secret(), generate_secret(), generate_secret()
    now = int(time.time())
    signed = _delivery([secret], at=now)
    rotating = _delivery([secret, old_secret], at=now, event_id="evt_rotating")
    standard_only = {
        **signed,
        "headers": {k: v for k, v in signed["headers"].items() if k != "X-MRRX-Signature"},
    }
    mrrx_only = {
        **signed,
        "headers": {k: v for k, v in signed["headers"].items() if not k.startswith("webhook-")},
    }
    cases = [
        ({**signed, "secrets": [secret]}, "ok evt_rails"),
        ({**standard_only, "secrets": [secret]}, "ok evt_rails"),
        ({**mrrx_only, "secrets": [secret]}, "ok evt_rails"),
        ({**rotating, "secrets": [old_secret]}, "ok evt_rotating"),
        ({**signed, "secrets": [other, secret]}, "ok evt_rails"),
        ({**signed, "body": signed["body"] + " ", "secrets": [secret]}, "refused: no webhook-"),
        ({**mrrx_only, "body": mrrx_only["body"] + " ", "secrets": [secret]}, "refused: no X-MRRX"),
        ({**signed, "secrets": [other]}, "refused: no webhook-signature matches"),
        ({**signed, "secrets": [secret], "now": now + 301}, "refused: the timestamp is"),
        ({**mrrx_only, "secrets": [secret], "now": now - 301}, "refused: the timestamp is"),
        ({**signed, "headers": {}, "secrets": [secret]}, "refused: no webhook-signature or"),
        ({**signed, "secrets": ["not-a-secret"]}, "refused: the webhook secret must"),
    ]
    payload = [{"now": now, **case} for case, _ in cases]

    result = subprocess.run(
        [toolchains.RUBY, "-I", str(RAILS / "lib"), "-e", VERIFY_EACH],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == len(cases), result.stdout
    for line, (_, expected) in zip(lines, cases, strict=True):
        assert line.startswith(expected), (line, expected)


@pytest.mark.skipif(os.geteuid() != 0, reason="make installs Ruby only as root")
def test_make_installs_a_missing_ruby_with_apt_get_as_root(tmp_path):
    calls = tmp_path / "calls"
    fake_apt = tmp_path / "bin" / "apt-get"
    fake_apt.parent.mkdir()
    fake_apt.write_text(f'#!/bin/sh\necho "$@" >> {calls}\necho "apt chatter"\n')
    fake_apt.chmod(fake_apt.stat().st_mode | stat.S_IXUSR)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "MFLAGS"))}
    env["PATH"] = f"{fake_apt.parent}:{env['PATH']}"

    result = subprocess.run(
        ["make", "--no-print-directory", "ruby", f"RUBY={tmp_path / 'no-such-ruby'}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert calls.read_text().splitlines() == ["update -qq", "install -y -qq ruby"]
    assert result.stdout.splitlines() == [
        "Installing Ruby for the Rails example's checks (apt-get install ruby)..."
    ]
