"""Settings in each mode, checked in a fresh process as a deployment would start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent

PRODUCTION = {
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/test",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "SECRET_KEY": "p" * 60 + "Xy9!",
    "API_KEY_HMAC_SECRET": "h" * 40,
    "SESSION_TOKEN_KEYS": "k2:" + "s" * 40 + ",k1:" + "t" * 40,
    "ENCRYPTION_KEYS": Fernet.generate_key().decode(),
    "ALLOWED_HOSTS": "mrrx.example.com",
    "PUBLIC_BASE_URL": "https://mrrx.example.com",
}


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # As a deployment starts: none of the test run's own variables.
    dropped = {"DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    base = {k: v for k, v in os.environ.items() if k not in PRODUCTION and k not in dropped}
    base["DJANGO_SETTINGS_MODULE"] = "mrrx.settings"
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_deploy_check_passes_with_production_variables():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_refuses_to_start_without_a_secret():
    for missing in ("SECRET_KEY", "API_KEY_HMAC_SECRET", "SESSION_TOKEN_KEYS", "ENCRYPTION_KEYS"):
        env = {k: v for k, v in PRODUCTION.items() if k != missing}
        result = _manage("check", env=env)
        assert result.returncode != 0
        assert f"{missing.rstrip('S') if missing == 'SESSION_TOKEN_KEYS' else missing}" in (
            result.stderr
        )


def test_short_token_signing_key_is_refused():
    result = _manage("check", env={**PRODUCTION, "SESSION_TOKEN_KEYS": "k1:short"})
    assert result.returncode != 0 and "256 bits" in result.stderr
