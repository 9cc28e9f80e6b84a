"""Ids, the emulator clock and calendar arithmetic for billing periods."""

from __future__ import annotations

import calendar
import datetime as dt
import os
import random
import threading
import time

# stripe-python 16.1.0 pins this version (stripe._api_version._ApiVersion.CURRENT); the
# emulator answers every request with it, whatever Stripe-Version the caller sent.
API_VERSION = "2026-10-28.endive"

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# Ids only need to be unique and unguessable-looking, not secret; a seeded PRNG is
# ~10x faster than `secrets` per character and keeps request handling sub-millisecond.
_rng = random.Random(os.urandom(16))
_rng_lock = threading.Lock()


def token(length: int = 24) -> str:
    """A random base62 string."""
    with _rng_lock:
        return "".join(_rng.choices(_ALPHABET, k=length))


def new_id(prefix: str, length: int = 24) -> str:
    """An id in Stripe's form, e.g. `cus_` + 24 base62 characters."""
    return f"{prefix}_{token(length)}"


def secret_token(length: int = 32) -> str:
    """A random string for secrets (webhook signing secrets, access tokens)."""
    import secrets

    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


class Clock:
    """Real time plus an offset that tests can advance (never rewind)."""

    def __init__(self, offset: int = 0) -> None:
        self.offset = offset

    def now(self) -> int:
        return int(time.time()) + self.offset

    def advance(self, seconds: int) -> int:
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self.offset += seconds
        return self.now()


_SECONDS = {"day": 86400, "week": 7 * 86400}


def add_interval(anchor: int, interval: str, count: int, n: int) -> int:
    """`anchor` moved forward by `n * count` intervals.

    Months and years keep the anchor's day of month (clamped to the month's length, as
    Stripe does), so a period anchored on the 31st ends on Feb 28/29 and then Mar 31.
    """
    if interval in _SECONDS:
        return anchor + _SECONDS[interval] * count * n
    months = count * n * (12 if interval == "year" else 1)
    start = dt.datetime.fromtimestamp(anchor, tz=dt.UTC)
    total = start.month - 1 + months
    year, month = start.year + total // 12, total % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return int(start.replace(year=year, month=month, day=day).timestamp())


def period_containing(anchor: int, interval: str, count: int, at: int) -> tuple[int, int]:
    """The billing period [start, end) anchored at `anchor` that contains `at`."""
    if at < anchor:
        return anchor, add_interval(anchor, interval, count, 1)
    # Estimate the index first so long clock jumps stay cheap, then correct.
    approx = {"day": 86400, "week": 604800, "month": 2629746, "year": 31556952}[interval] * count
    n = max(0, (at - anchor) // approx - 1)
    while n > 0 and add_interval(anchor, interval, count, n) > at:
        n -= 1
    while add_interval(anchor, interval, count, n + 1) <= at:
        n += 1
    return add_interval(anchor, interval, count, n), add_interval(anchor, interval, count, n + 1)
