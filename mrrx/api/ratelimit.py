"""Atomic fixed-window rate limits, shared by every process and machine.

With ``REDIS_URL`` set the counter is one Lua script (INCRBY and expiry in one step); the
embedded default uses a single-statement upsert in the database. Either way a burst of
concurrent requests never gets more than ``limit`` through, and for limits under
``LEASE_FROM`` exactly ``limit``.

Limits of ``LEASE_FROM`` requests a window or more are the high-volume ones, where a
Redis round trip on every request is a large share of a cheap read: a process takes
numbers from Redis a lease at a time (a thousandth of the limit, at most ``LEASE_MAX``)
and counts the lease down itself. A request is let through when its number is within the
limit, so no more than ``limit`` ever are; numbers a process leased and did not use
before the window ended are lost, at most a lease per process and window (0.1% of the
limit each).
"""

from __future__ import annotations

import functools
import math
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import connection

from mrrx.models import RateLimitCounter

_LUA_HIT = """
local count = redis.call('INCRBY', KEYS[1], ARGV[2])
if count == tonumber(ARGV[2]) then
  redis.call('EXPIRE', KEYS[1], ARGV[1])
end
return count
"""

LEASE_FROM = 10_000
LEASE_MAX = 32
# This process's leases, by counter key: [next number, last number].
_leases: dict[str, list[int]] = {}
_leases_lock = threading.Lock()


@dataclass(frozen=True)
class RateLimitResult:
    limit: int
    remaining: int
    reset: int  # Unix seconds at which the window ends
    allowed: bool

    @property
    def retry_after(self) -> int:
        return max(1, self.reset - math.floor(time.time()))

    def headers(self) -> dict[str, str]:
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after)
        return headers


def limit_for(*, scope: str, overrides: dict | None = None) -> tuple[int, int]:
    """The (limit, window seconds) for ``scope``, with a workspace's override applied."""
    limit, window = settings.RATE_LIMITS[scope]
    override = (overrides or {}).get(scope)
    if isinstance(override, int):
        limit = override
    elif isinstance(override, (list, tuple)) and len(override) == 2:
        limit, window = int(override[0]), int(override[1])
    return limit, window


@functools.cache
def _redis_script():  # type: ignore[no-untyped-def]
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL)
    return client.register_script(_LUA_HIT)


def _count_redis(key: str, window: int, limit: int) -> int:
    """This request's number in the window: from Redis, or from this process's lease."""
    size = min(LEASE_MAX, limit // 1000) if limit >= LEASE_FROM else 1
    if size > 1:
        with _leases_lock:
            held = _leases.get(key)
            if held is not None and held[0] <= held[1]:
                held[0] += 1
                return held[0] - 1
    last = int(_redis_script()(keys=[key], args=[window + 5, size]))
    if size > 1:
        with _leases_lock:
            if len(_leases) >= 1000:  # the older windows' leases go with them
                _leases.clear()
            _leases[key] = [last - size + 2, last]
    return last - size + 1


def _count_database(key: str, window_end: int) -> int:
    table = RateLimitCounter._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (key, count, window_end) VALUES (%s, 1, %s) "  # noqa: S608
            f"ON CONFLICT (key) DO UPDATE SET count = {table}.count + 1 RETURNING count",
            [key, window_end],
        )
        return int(cursor.fetchone()[0])


def rate_limit_hit(*, scope: str, subject: str, overrides: dict | None = None) -> RateLimitResult:
    """Count one request by ``subject`` against ``scope``'s limit."""
    limit, window = limit_for(scope=scope, overrides=overrides)
    now = int(time.time())
    window_start = now - now % window
    reset = window_start + window
    key = f"rl:{scope}:{subject}:{window_start}"
    if settings.RATE_LIMIT_BACKEND == "redis":
        count = _count_redis(key, window, limit)
    else:
        count = _count_database(key, reset)
    return RateLimitResult(
        limit=limit, remaining=max(0, limit - count), reset=reset, allowed=count <= limit
    )


def rate_limit_prune() -> int:
    """Drop database counters whose window has ended."""
    deleted, _ = RateLimitCounter.objects.filter(window_end__lt=int(time.time())).delete()
    return deleted
