"""Webhook secrets and signatures (SPEC section 6).

Two signatures go with every request, one scheme per header:
- ``X-MRRX-Signature: t=<unix>,v1=<hex>``: hex HMAC-SHA256 of the raw body, keyed with
  the whole ``whsec_...`` string, as the reference ``verifyWebhook`` in the API docs
  computes it.
- ``webhook-signature: v1,<base64>``: Standard Webhooks, HMAC-SHA256 of
  ``"<webhook-id>.<webhook-timestamp>.<body>"`` keyed with the base64-decoded part of the
  secret after ``whsec_``; it binds the timestamp, so receivers can refuse replays.
Each header carries one signature per active secret (two during a rotation), newest first.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32  # Standard Webhooks asks for 24 to 64 random bytes


def generate_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def _secret_key_bytes(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def mrrx_signature(*, body: bytes, secrets: Sequence[str], timestamp: int) -> str:
    """The ``X-MRRX-Signature`` header value."""
    parts = [f"t={timestamp}"]
    parts += [
        "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest() for secret in secrets
    ]
    return ",".join(parts)


def standard_signature(*, msg_id: str, body: bytes, secrets: Sequence[str], timestamp: int) -> str:
    """The Standard Webhooks ``webhook-signature`` header value."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return " ".join(
        "v1,"
        + base64.b64encode(hmac.new(_secret_key_bytes(s), signed, hashlib.sha256).digest()).decode()
        for s in secrets
    )
