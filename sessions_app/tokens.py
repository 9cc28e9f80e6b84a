"""Signed tokens for the hosted flow and for results (PyJWT, HS256 pinned).

Keys come from ``settings.SESSION_TOKEN_KEYS`` as (kid, secret) pairs, separate from
``SECRET_KEY``: the first signs, any of them verifies, so keys rotate without breaking
tokens already handed out.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import jwt
from django.conf import settings

ALGORITHM = "HS256"
SESSION_AUDIENCE = "mrrx:session"
RESULT_AUDIENCE = "mrrx:result"
ISSUER = "mrrx"


class InvalidToken(Exception):
    def __init__(
        self, message: str, *, expired: bool = False, claims: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.expired = expired
        # For an expired but authentic token: whose it was (to show a finished result).
        self.claims = claims


def token_sign(*, claims: dict[str, Any], audience: str, expires_at: datetime) -> str:
    kid, secret = settings.SESSION_TOKEN_KEYS[0]
    payload = {
        **claims,
        "aud": audience,
        "iss": ISSUER,
        "exp": int(expires_at.timestamp()),
    }
    return jwt.encode(payload, secret, algorithm=ALGORITHM, headers={"kid": kid})


def token_verify(*, token: str, audience: str) -> dict[str, Any]:
    """The token's claims, or ``InvalidToken`` (``expired`` set when only time is wrong)."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise InvalidToken("malformed token") from exc
    keys = dict(settings.SESSION_TOKEN_KEYS)
    secret = keys.get(header.get("kid", ""))
    if secret is None or header.get("alg") != ALGORITHM:
        raise InvalidToken("unknown signing key")
    options = {"require": ["exp", "aud", "iss"]}
    decode = {"algorithms": [ALGORITHM], "audience": audience, "issuer": ISSUER}
    try:
        return jwt.decode(token, secret, options=options, **decode)
    except jwt.ExpiredSignatureError as exc:
        claims = jwt.decode(token, secret, options={**options, "verify_exp": False}, **decode)
        raise InvalidToken("token expired", expired=True, claims=claims) from exc
    except jwt.PyJWTError as exc:
        raise InvalidToken("invalid token") from exc


def flow_csrf_token(session_id: str) -> str:
    """The hosted flow's form token for one session (see ``views._forged``)."""
    import hashlib
    import hmac

    secret = settings.SESSION_TOKEN_KEYS[0][1].encode()
    return hmac.new(secret, f"flow-csrf:{session_id}".encode(), hashlib.sha256).hexdigest()


def session_token(*, session_id: str, tenant_id: str, livemode: bool, expires_at: datetime) -> str:
    return token_sign(
        claims={"sid": session_id, "tid": tenant_id, "lm": livemode},
        audience=SESSION_AUDIENCE,
        expires_at=expires_at,
    )


RESULT_TOKEN_LIFETIME_SECONDS = 3600


def result_token(*, session, now=None) -> str:  # type: ignore[no-untyped-def]
    """A short-lived signed statement of a finished session's outcome, for the return URL."""
    from datetime import timedelta

    from django.utils import timezone

    from .serializers import outcome_repr

    now = now or timezone.now()
    return token_sign(
        claims={
            "sid": session.id,
            "tid": session.tenant_id,
            "lm": session.livemode,
            "status": session.status,
            "action": session.outcome_action or None,
            "outcome": outcome_repr(session),
            "iat": int(now.timestamp()),
        },
        audience=RESULT_AUDIENCE,
        expires_at=now + timedelta(seconds=RESULT_TOKEN_LIFETIME_SECONDS),
    )
