"""Reads about webhooks that other code needs."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache

from mrrx.crypto import decrypt

from .models import Endpoint


def endpoints_subscribed(*, tenant_id: str, livemode: bool, event_type: str) -> list[Endpoint]:
    """The enabled endpoints of one workspace and mode that receive ``event_type``."""
    endpoints = Endpoint.objects.filter(tenant_id=tenant_id, livemode=livemode, enabled=True)
    return [endpoint for endpoint in endpoints if endpoint.receives(event_type)]


# Every attempt signs; a token always decrypts to the same secret, so decrypt each once
# per process (a rotation writes a new token).
_decrypt_secret = lru_cache(maxsize=4096)(decrypt)


def endpoint_signing_secrets(*, endpoint: Endpoint, at: datetime) -> list[str]:
    """The secrets that sign a request sent at ``at``: the current one first, then the
    previous one while its rotation overlap lasts."""
    secrets = [_decrypt_secret(endpoint.secret_encrypted)]
    if (
        endpoint.previous_secret_encrypted
        and endpoint.previous_secret_expires_at is not None
        and at < endpoint.previous_secret_expires_at
    ):
        secrets.append(_decrypt_secret(endpoint.previous_secret_encrypted))
    return secrets
