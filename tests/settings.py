"""Test settings: the product's settings with fixed, test-only secrets.

Production secrets have no default; tests run with a configured database too, so they
supply their own here. Everything else is exactly what the product runs with.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

_TEST_SECRETS = {
    "SECRET_KEY": "test-secret-key-not-for-production-0123456789abcdefghijklmnop",
    "API_KEY_HMAC_SECRET": "test-api-key-hmac-secret-0123456789abcdef",
    "SESSION_TOKEN_KEYS": "t1:test-session-token-key-0123456789abcdefghijklmnop",
    "ENCRYPTION_KEYS": "dGVzdC1lbmNyeXB0aW9uLWtleS0wMTIzNDU2Nzg5YWI=",
}
for _name, _value in _TEST_SECRETS.items():
    os.environ.setdefault(_name, _value)
# Metrics are counted in a directory of this run's own (worker processes started by tests
# inherit it), so that they never mix with a running `make run`'s or another run's.
if "MRRX_TEST_METRICS_DIR" not in os.environ:
    os.environ["MRRX_TEST_METRICS_DIR"] = tempfile.mkdtemp(prefix="mrrx-test-metrics-")
    atexit.register(shutil.rmtree, os.environ["MRRX_TEST_METRICS_DIR"], ignore_errors=True)
os.environ["PROMETHEUS_MULTIPROC_DIR"] = os.environ["MRRX_TEST_METRICS_DIR"]

from mrrx.settings import *  # noqa: E402, F403
from mrrx.settings import DATABASES, VAR_DIR  # noqa: E402

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not memory, so that worker processes started by tests share it (they inherit
    # the name through the environment); one per test run, so that runs never collide.
    _name = os.environ.setdefault("MRRX_TEST_SQLITE", str(VAR_DIR / f"test-{os.getpid()}.sqlite3"))
    DATABASES["default"]["TEST"] = {"NAME": _name}
else:
    # One test database per run on the server too, so parallel runs never collide.
    _name = os.environ.setdefault("MRRX_TEST_DBNAME", f"test_mrrx_{os.getpid()}")
    DATABASES["default"]["TEST"] = {"NAME": _name}

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Tests change keys and workspaces in the database directly between requests, which a
# process's reuse of the keys it read would hide; tests/test_api_keys.py turns it on.
API_KEY_CACHE_SECONDS = 0
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# locmem's outbox lives in one process's memory: a worker started by a test writes its mail
# as files into this folder instead, for the test to read (tests/flow_worker sets it).
if _email_dir := os.environ.get("MRRX_TEST_EMAIL_DIR"):
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = _email_dir
# Deployments run collectstatic (Procfile's release); tests serve from the finders.
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
