"""The hub page's link token and its form token, signed like the cancel flow's."""

from __future__ import annotations

import hashlib
import hmac

from django.conf import settings

from sessions_app.tokens import token_sign

from .models import HubSession

HUB_AUDIENCE = "mrrx:hub"


def hub_token(hub: HubSession) -> str:
    """The token of the hub's link. HS256 is deterministic, so the same visit always has
    the same link: it is not stored, and a cancellation session can be sent back to it."""
    return token_sign(
        claims={"hid": hub.id, "tid": hub.tenant_id, "lm": hub.livemode},
        audience=HUB_AUDIENCE,
        expires_at=hub.expires_at,
    )


def hub_url(hub: HubSession) -> str:
    return f"{settings.PUBLIC_BASE_URL}/h/{hub_token(hub)}"


def hub_csrf_token(hub_id: str) -> str:
    """The hub page's form token for one visit: cookie-free, so that it also works in the
    merchant's iframe (see ``views._forged``)."""
    secret = settings.SESSION_TOKEN_KEYS[0][1].encode()
    return hmac.new(secret, f"hub-csrf:{hub_id}".encode(), hashlib.sha256).hexdigest()
