"""Stripe Connect OAuth: the authorize URL, the code exchange and deauthorization."""

from __future__ import annotations

from .clients import platform_client
from .errors import stripe_errors
from .shapes import OAuthGrant, plain


def oauth_authorize_url(*, livemode: bool, state: str, redirect_uri: str) -> str:
    """Where to send a merchant to connect their Stripe account to this platform."""
    client = platform_client(livemode)
    return client.oauth.authorize_url(
        {  # type: ignore[arg-type]
            "response_type": "code",
            "scope": "read_write",
            "state": state,
            "redirect_uri": redirect_uri,
        }
    )


def oauth_token(*, livemode: bool, code: str) -> OAuthGrant:
    """Exchange an authorization code for the connected account's id."""
    client = platform_client(livemode)
    with stripe_errors("oauth.token"):
        token = client.oauth.token({"grant_type": "authorization_code", "code": code})
    data = plain(token)
    return OAuthGrant(
        account_id=data["stripe_user_id"],
        livemode=bool(data.get("livemode")),
        scope=data.get("scope") or "",
    )


def oauth_deauthorize(*, livemode: bool, account_id: str) -> None:
    """Revoke this platform's access to a connected account."""
    client = platform_client(livemode)
    with stripe_errors("oauth.deauthorize"):
        client.oauth.deauthorize({"stripe_user_id": account_id})  # type: ignore[typeddict-item]
