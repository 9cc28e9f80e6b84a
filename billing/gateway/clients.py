"""Stripe clients: one per workspace connection and mode, on a pinned API version, reused
within a process; and the platform's own client for Stripe Connect."""

from __future__ import annotations

from functools import cache, lru_cache

import stripe
from django.conf import settings

from .errors import StripeNotConnected
from .http import PooledHTTPClient

# The API version stripe-python 16.1.0 is typed for. Pinned here so that upgrading the
# library never changes the shapes we parse without someone deciding it should.
STRIPE_API_VERSION = "2026-10-28.endive"


@cache
def _http_client(timeout: float) -> stripe.HTTPClient:
    # One per process: its pools keep connections open between calls.
    return PooledHTTPClient(timeout=timeout)


def _base_addresses() -> dict[str, str]:
    # Unset or empty means Stripe's real hosts (stripe-python's defaults).
    bases = {"api": settings.STRIPE_API_BASE, "connect": settings.STRIPE_CONNECT_BASE}
    return {name: url.rstrip("/") for name, url in bases.items() if url}


def stripe_client(
    api_key: str, *, account_id: str | None = None, client_id: str | None = None
) -> stripe.StripeClient:
    return _cached_client(
        api_key,
        account_id or None,
        client_id or None,
        tuple(sorted(_base_addresses().items())),
        float(settings.STRIPE_TIMEOUT_SECONDS),
    )


@lru_cache(maxsize=256)
def _cached_client(
    api_key: str,
    account_id: str | None,
    client_id: str | None,
    base_addresses: tuple[tuple[str, str], ...],
    timeout: float,
) -> stripe.StripeClient:
    # Building a StripeClient costs ~2.4 ms; a workspace's one is reused (it keeps no
    # per-request state, and its HTTP client holds a session per thread).
    return stripe.StripeClient(
        api_key,
        stripe_account=account_id,
        stripe_version=STRIPE_API_VERSION,
        base_addresses=dict(base_addresses),  # type: ignore[arg-type]
        client_id=client_id,
        max_network_retries=0,
        http_client=_http_client(timeout),
    )


def platform_secret_key(livemode: bool) -> str:
    if livemode:
        return settings.STRIPE_PLATFORM_SECRET_KEY
    return settings.STRIPE_PLATFORM_TEST_SECRET_KEY


def platform_client_id(livemode: bool) -> str:
    return settings.STRIPE_CLIENT_ID if livemode else settings.STRIPE_TEST_CLIENT_ID


def connect_configured(livemode: bool) -> bool:
    """Whether this installation can connect workspaces with Stripe Connect OAuth."""
    return bool(platform_secret_key(livemode) and platform_client_id(livemode))


def platform_client(livemode: bool) -> stripe.StripeClient:
    if not connect_configured(livemode):
        names = (
            "STRIPE_PLATFORM_SECRET_KEY and STRIPE_CLIENT_ID"
            if livemode
            else "STRIPE_PLATFORM_TEST_SECRET_KEY and STRIPE_TEST_CLIENT_ID"
        )
        raise StripeNotConnected(
            f"Stripe Connect is not configured on this installation ({names})."
        )
    return stripe_client(platform_secret_key(livemode), client_id=platform_client_id(livemode))
