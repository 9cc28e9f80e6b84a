"""The gateway for a workspace: from its stored Stripe connection (a pasted key or Stripe
Connect), and the check that a pasted key works."""

from __future__ import annotations

from typing import Any

from mrrx.recent import RecentReads

from .clients import platform_secret_key
from .errors import StripeNotConnected
from .stripe_gateway import StripeGateway


def gateway_for_connection(connection: Any) -> StripeGateway:
    """The gateway for a :class:`billing.models.StripeConnection`."""
    from mrrx.crypto import decrypt

    if connection.method == "oauth":
        key = platform_secret_key(connection.livemode)
        if not key:
            raise StripeNotConnected(
                "This workspace is connected through Stripe Connect, but the platform key "
                "for its mode is not configured."
            )
        return StripeGateway(
            api_key=key, livemode=connection.livemode, account_id=connection.account_id
        )
    return StripeGateway(api_key=decrypt(connection.encrypted_key), livemode=connection.livemode)


# Gateways this process made lately, by (workspace id, livemode).
RECENT_GATEWAYS: RecentReads[StripeGateway] = RecentReads()


def gateway_for(*, tenant: Any, livemode: bool) -> StripeGateway:
    """The gateway for a workspace (a Tenant or its id) in one mode.

    Raises :class:`StripeNotConnected` when the workspace has not connected Stripe there.
    A process reuses the gateway it made for ``settings.API_KEY_CACHE_SECONDS``, as it
    does the API key that named the workspace; a connection saved or deleted in the
    process is read afresh at once (``gateways_forget``).
    """
    from ..models import StripeConnection

    tenant_id = getattr(tenant, "pk", tenant)

    def connect() -> StripeGateway:
        connection = StripeConnection.objects.filter(tenant_id=tenant_id, livemode=livemode).first()
        if connection is None:
            mode = "live" if livemode else "test"
            raise StripeNotConnected(f"This workspace has not connected Stripe in {mode} mode.")
        return gateway_for_connection(connection)

    return RECENT_GATEWAYS.get((tenant_id, livemode), connect)


def gateways_forget(**kwargs: object) -> None:
    """Forget the gateways this process made (a signal receiver, hence the kwargs)."""
    RECENT_GATEWAYS.forget()


def key_check(*, api_key: str, livemode: bool) -> None:
    """Prove a pasted key works with a harmless read (raises StripeGatewayError)."""
    StripeGateway(api_key=api_key, livemode=livemode).check()
