"""Independent reads run at once, each on a database connection of its own.

A page that adds up several large aggregates (the analytics page) waits for each in turn
on one connection, while the database server has cores to spare. ``together`` hands the
calls to a few long-lived threads: each keeps its own connection (Django's connections
are per thread) and checks it as a request would, so the wall time is that of the
longest call rather than their sum.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection, connections

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(
                max_workers=settings.READ_CONCURRENCY, thread_name_prefix="mrrx-read"
            )
        return _pool


_local = threading.local()


def _checked(call: Callable[[], Any]) -> Any:
    # What a request does at its start and end: a connection past CONN_MAX_AGE or broken
    # is replaced, so the thread's connection lives as long as a worker's would.
    _local.in_pool = True
    close_old_connections()
    try:
        return call()
    finally:
        close_old_connections()


def together(*calls: Callable[[], Any]) -> list[Any]:
    """The results of ``calls``, in order; an exception of one is raised here.

    The first runs here and the others on the threads, at once, on PostgreSQL when
    ``READ_CONCURRENCY`` is above 1 and the caller holds no transaction (another
    connection would not see its uncommitted rows, nor share its snapshot); otherwise
    all run here, one after another, as they do when a call on one of the threads asks
    for more (its own reads wait for no other thread). Only for reads: each call commits
    nothing and sees the database as its own connection does.
    """
    parallel = (
        settings.READ_CONCURRENCY > 1
        and len(calls) > 1
        and connection.vendor == "postgresql"
        and not connection.in_atomic_block
        and not getattr(_local, "in_pool", False)
    )
    if not parallel:
        return [call() for call in calls]
    futures = [_executor().submit(_checked, call) for call in calls[1:]]
    try:
        first = calls[0]()
    finally:
        # The others finish before this returns or raises, the first having failed too.
        wait(futures)
    return [first, *(future.result() for future in futures)]


def shutdown() -> None:
    """Close the read threads' connections and stop the threads (the next ``together``
    starts new ones): before a database they hold open is dropped, as in the tests."""
    global _pool
    with _pool_lock:
        pool, _pool = _pool, None
    if pool is None:
        return
    threads = pool._max_workers
    # One task on each thread: none finishes before all have started.
    barrier = threading.Barrier(threads)

    def close() -> None:
        barrier.wait(timeout=10)
        connections.close_all()

    for future in [pool.submit(close) for _ in range(threads)]:
        future.result()
    pool.shutdown()
