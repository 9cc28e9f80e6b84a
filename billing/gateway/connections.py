"""The gateway for a workspace: from its stored Stripe connection (a pasted key or Stripe
Connect), and the check that a pasted key works."""

from __future__ import annotations

from typing import Any

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


def gateway_for(*, tenant: Any, livemode: bool) -> StripeGateway:
    """The gateway for a workspace (a Tenant or its id) in one mode.

    Raises :class:`StripeNotConnected` when the workspace has not connected Stripe there.
    """
    from ..models import StripeConnection

    tenant_id = getattr(tenant, "pk", tenant)
    connection = StripeConnection.objects.filter(tenant_id=tenant_id, livemode=livemode).first()
    if connection is None:
        mode = "live" if livemode else "test"
        raise StripeNotConnected(f"This workspace has not connected Stripe in {mode} mode.")
    return gateway_for_connection(connection)


def key_check(*, api_key: str, livemode: bool) -> None:
    """Prove a pasted key works with a harmless read (raises StripeGatewayError)."""
    StripeGateway(api_key=api_key, livemode=livemode).check()
