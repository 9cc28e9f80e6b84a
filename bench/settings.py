"""Benchmark settings: the product's settings plus a ceiling endpoint (bench/urls.py)."""

from __future__ import annotations

from tests.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
# What the product runs with (tests/settings.py turns the reuse of API keys off).
API_KEY_CACHE_SECONDS = 2.0
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
