"""Session-token authentication for the flow API.

The token handed out when a session is created (the one in the hosted page's URL) speaks
for that one session, in its workspace and mode, and for nothing else. It is checked as
the hosted flow checks it: signature, audience, expiry, and a session that exists in the
workspace and mode the token names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from mrrx.api.errors import ApiError
from mrrx.logging import bind_session_id

from .models import Session
from .tokens import SESSION_AUDIENCE, InvalidToken, token_verify

BEARER_HINT = "Send it as 'Authorization: Bearer <session token>'."


@dataclass(frozen=True)
class SessionPrincipal:
    """Who is calling: the subscriber of one session (``request.user`` on flow requests)."""

    session: Session

    is_authenticated = True
    is_anonymous = False


def _session_named_by(claims: dict[str, Any]) -> Session | None:
    return (
        Session.objects.select_related("tenant")
        .filter(id=claims.get("sid"), tenant_id=claims.get("tid"), livemode=claims.get("lm"))
        .first()
    )


def flow_session(request: Request) -> Session | None:
    """The session whose token the request carried, also when the token had only expired
    (its workspace still decides which origins may read the error)."""
    return getattr(request._request, "flow_session", None)


class SessionTokenAuthentication(BaseAuthentication):
    """``Authorization: Bearer <session token>``; ``request.auth`` is the session.

    It deliberately sets no ``request.tenant``: the caller is one subscriber, not the
    workspace, so nothing keyed by the workspace (such as ``Idempotency-Key`` records)
    may be reached through a session token.
    """

    def authenticate(self, request: Request) -> tuple[SessionPrincipal, Session]:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if not header:
            raise ApiError("invalid_token", f"No session token provided. {BEARER_HINT}")
        if scheme.lower() != "bearer" or not token:
            raise ApiError("invalid_token", f"The session token is malformed. {BEARER_HINT}")
        if token.startswith("mrrx_"):
            raise ApiError(
                "invalid_token",
                "This endpoint takes the session's token (from session creation), not an API key.",
            )
        try:
            claims = token_verify(token=token, audience=SESSION_AUDIENCE)
        except InvalidToken as exc:
            if exc.expired and exc.claims is not None:
                request._request.flow_session = _session_named_by(exc.claims)
                raise ApiError(
                    "invalid_token", "The session token has expired.", details={"expired": True}
                ) from exc
            raise ApiError("invalid_token", "The session token is not valid.") from exc
        session = _session_named_by(claims)
        if session is None:
            raise ApiError("invalid_token", "The session token is not valid.")
        bind_session_id(session.id)  # on this request's log lines
        request._request.flow_session = session
        return SessionPrincipal(session), session

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="mrrx-flow"'


class SessionTokenScheme(OpenApiAuthenticationExtension):
    target_class = SessionTokenAuthentication
    name = "SessionToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": (
                "The `token` returned when the session was created: "
                "`Authorization: Bearer eyJ...`. It acts on that one session only."
            ),
        }
