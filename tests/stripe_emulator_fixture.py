"""Pytest fixtures that run the Stripe emulator as a real subprocess.

Use from a conftest with `from tests.stripe_emulator_fixture import stripe_emulator,
stripe_emulator_clean` (or list this module in `pytest_plugins`). Point stripe-python at
`stripe_emulator.base_url`:

    stripe.StripeClient("sk_test_x", max_network_retries=0,
                        base_addresses={"api": base_url, "connect": base_url})

Only the standard library and httpx are used here; nothing depends on Django.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
STARTUP_TIMEOUT = 15.0


class StripeEmulatorProcess:
    """A running `python -m stripe_emulator --port 0` and helpers for its control API."""

    def __init__(self, process: subprocess.Popen[str], base_url: str, stderr_path: str) -> None:
        self.process = process
        self.base_url = base_url
        self.stderr_path = stderr_path
        self.http = httpx.Client(base_url=base_url, timeout=10.0)

    # --- lifecycle -----------------------------------------------------------------------

    @classmethod
    def start(cls, extra_args: list[str] | None = None) -> StripeEmulatorProcess:
        stderr = tempfile.NamedTemporaryFile(  # noqa: SIM115 - kept open for the process
            prefix="stripe-emulator-", suffix=".log", delete=False
        )
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p
        )
        env["PYTHONUNBUFFERED"] = "1"
        process = subprocess.Popen(
            [sys.executable, "-m", "stripe_emulator", "--port", "0", *(extra_args or [])],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
        line = _read_line(process, STARTUP_TIMEOUT)
        if not line or "http://" not in line:
            process.kill()
            raise RuntimeError(
                f"stripe emulator did not start (first line {line!r}); "
                f"stderr: {Path(stderr.name).read_text(errors='replace')}"
            )
        base_url = line.strip().rsplit(" ", 1)[-1]
        # Keep draining stdout so the child can never block on a full pipe.
        threading.Thread(target=_drain, args=(process,), daemon=True).start()
        handle = cls(process, base_url, stderr.name)
        handle.wait_ready()
        return handle

    def wait_ready(self, timeout: float = STARTUP_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self.http.get("/_emulator/health").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError("stripe emulator is not answering on " + self.base_url)
            time.sleep(0.02)

    def stop(self) -> None:
        self.http.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        Path(self.stderr_path).unlink(missing_ok=True)

    # --- control API ---------------------------------------------------------------------

    def _post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self.http.post(path, json=body or {})
        response.raise_for_status()
        return response.json()

    def _get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        response = self.http.get(path, params=params)
        response.raise_for_status()
        return response.json()

    def reset(self) -> None:
        """Forget all objects, accounts, webhooks, faults, the request log and clock offset."""
        self._post("/_emulator/reset")

    def now(self) -> int:
        return int(self._get("/_emulator/clock")["now"])

    def advance(self, seconds: int) -> dict[str, Any]:
        """Move the emulator clock; returns {now, offset, transitions, events}."""
        return self._post("/_emulator/clock/advance", {"seconds": int(seconds)})

    def fail_next(
        self,
        count: int = 1,
        status: int | None = 500,
        delay_ms: int | None = None,
        path_prefix: str | None = None,
        method: str | None = None,
    ) -> dict[str, Any]:
        """The next `count` matching API calls fail with `status` (or only stall by
        `delay_ms` and then answer normally when `status` is None)."""
        body: dict[str, Any] = {"count": count, "status": status}
        if delay_ms is not None:
            body["delay_ms"] = delay_ms
        if path_prefix is not None:
            body["path_prefix"] = path_prefix
        if method is not None:
            body["method"] = method
        return self._post("/_emulator/faults", body)

    def fail_payments(
        self, customer: str, count: int = 1, account: str | None = None, livemode: bool = False
    ) -> dict[str, Any]:
        """The customer's next `count` invoices fail to be paid (invoice.payment_failed)."""
        body: dict[str, Any] = {"customer": customer, "count": count, "livemode": livemode}
        if account:
            body["account"] = account
        return self._post("/_emulator/payment_failures", body)

    def customer_discount(
        self, customer: str, coupon: str, account: str | None = None, livemode: bool = False
    ) -> dict[str, Any]:
        """Put a coupon on the customer itself (as the Dashboard would): its discount."""
        body: dict[str, Any] = {"customer": customer, "coupon": coupon, "livemode": livemode}
        if account:
            body["account"] = account
        return self._post("/_emulator/customer_discounts", body)

    def clear_faults(self) -> None:
        self.http.delete("/_emulator/faults").raise_for_status()

    def add_webhook(
        self,
        url: str,
        secret: str | None = None,
        connect: bool = False,
        enabled_events: list[str] | None = None,
    ) -> dict[str, Any]:
        """Register a receiver; returns {id, url, secret, connect, enabled_events}."""
        body: dict[str, Any] = {"url": url, "connect": connect}
        if secret:
            body["secret"] = secret
        if enabled_events:
            body["enabled_events"] = enabled_events
        return self._post("/_emulator/webhooks", body)

    def deliveries(self) -> list[dict[str, Any]]:
        return list(self._get("/_emulator/webhooks")["deliveries"])

    def requests(self, **filters: Any) -> list[dict[str, Any]]:
        """Recent API requests, oldest first; filter by method, path, path_prefix,
        account or idempotency_key."""
        return list(self._get("/_emulator/requests", filters)["data"])

    def mint_oauth_code(
        self,
        account: str | None = None,
        email: str | None = None,
        business_name: str | None = None,
    ) -> dict[str, str]:
        """A fresh Connect authorization code: {code, account}."""
        body = {"account": account, "email": email, "business_name": business_name}
        return self._post("/_emulator/oauth/codes", {k: v for k, v in body.items() if v})

    def state(self) -> dict[str, Any]:
        """Everything the emulator holds (records use `_`-prefixed private fields too)."""
        return self._get("/_emulator/state")

    def client(self, api_key: str = "sk_test_emulator", **kwargs: Any) -> Any:
        """A stripe-python 16 `StripeClient` pointed at this emulator."""
        import stripe

        kwargs.setdefault("max_network_retries", 0)
        return stripe.StripeClient(
            api_key,
            base_addresses={"api": self.base_url, "connect": self.base_url},
            **kwargs,
        )


def _read_line(process: subprocess.Popen[str], timeout: float) -> str:
    result: list[str] = []
    reader = threading.Thread(
        target=lambda: result.append(process.stdout.readline() if process.stdout else ""),
        daemon=True,
    )
    reader.start()
    reader.join(timeout)
    return result[0] if result else ""


def _drain(process: subprocess.Popen[str]) -> None:
    if process.stdout is None:
        return
    for _ in process.stdout:
        pass


@pytest.fixture(scope="session")
def stripe_emulator() -> Iterator[StripeEmulatorProcess]:
    """One emulator subprocess for the whole test session."""
    handle = StripeEmulatorProcess.start()
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture
def stripe_emulator_clean(
    stripe_emulator: StripeEmulatorProcess,
) -> Iterator[StripeEmulatorProcess]:
    """The session emulator, reset before the test."""
    stripe_emulator.reset()
    yield stripe_emulator
