"""Signing and background delivery of webhook events, as Stripe does it."""

from __future__ import annotations

import hashlib
import heapq
import hmac
import itertools
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field


def sign(payload: str, secret: str, timestamp: int) -> str:
    """The `Stripe-Signature` header: `t=<ts>,v1=<hex HMAC-SHA256 of "ts.payload">`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


@dataclass
class Delivery:
    """One event bound for one endpoint."""

    endpoint_id: str
    url: str
    secret: str
    event_id: str
    event_type: str
    namespace: str
    payload: str
    attempts: int = 0
    results: list[str] = field(default_factory=list)


# Quick retries keep tests and the demo moving; Stripe itself retries for up to 3 days.
RETRY_DELAYS = (0.5, 2.0, 5.0)


class WebhookDispatcher:
    """Posts deliveries from one background thread, in order, retrying failures later."""

    def __init__(
        self,
        on_result: Callable[[Delivery, int | None, str | None], None] | None = None,
        timeout: float = 5.0,
    ) -> None:
        self.on_result = on_result
        self.timeout = timeout
        self._heap: list[tuple[float, int, Delivery]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="webhook-dispatcher", daemon=True)
        self._thread.start()

    def submit(self, delivery: Delivery) -> None:
        self._schedule(delivery, 0.0)

    def _schedule(self, delivery: Delivery, delay: float) -> None:
        with self._cond:
            heapq.heappush(self._heap, (time.monotonic() + delay, next(self._seq), delivery))
            self._cond.notify()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped and (not self._heap or self._heap[0][0] > time.monotonic()):
                    timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._cond.wait(timeout)
                if self._stopped:
                    return
                _, _, delivery = heapq.heappop(self._heap)
            self._attempt(delivery)

    def _attempt(self, delivery: Delivery) -> None:
        delivery.attempts += 1
        # Sign with real time: receivers check the timestamp against their own clock
        # (5 minutes tolerance), which knows nothing of the emulator's clock offset.
        header = sign(delivery.payload, delivery.secret, int(time.time()))
        # Endpoint URLs are checked to be http(s) when registered.
        request = urllib.request.Request(  # noqa: S310
            delivery.url,
            data=delivery.payload.encode(),
            method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "Stripe-Signature": header,
                "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                "Cache-Control": "no-cache",
            },
        )
        status: int | None = None
        error: str | None = None
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as resp:  # noqa: S310
                status = resp.status
        except urllib.error.HTTPError as exc:
            status, error = exc.code, f"HTTP {exc.code}"
        except (OSError, ValueError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        ok = status is not None and 200 <= status < 300
        delivery.results.append(str(status) if status is not None else (error or "error"))
        retrying = not ok and delivery.attempts <= len(RETRY_DELAYS)
        if self.on_result:
            self.on_result(delivery, status, None if ok else (error or f"HTTP {status}"))
        if retrying:
            self._schedule(delivery, RETRY_DELAYS[delivery.attempts - 1])
