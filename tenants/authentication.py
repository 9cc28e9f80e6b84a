"""Bearer API-key authentication: resolves the workspace and mode once per request."""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass

from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from audit.context import Actor, actor_bind
from mrrx.api.errors import ApiError

from .models import ApiKey, Tenant
from .selectors import apikey_get_by_plaintext
from .services import apikey_hash, apikey_touch

_KEY_FORMAT = re.compile(r"^mrrx_(live|test)_[0-9A-Za-z]{32,128}$")


@dataclass(frozen=True)
class ApiPrincipal:
    """Who is calling: stands in for ``request.user`` on API requests."""

    api_key: ApiKey

    is_authenticated = True
    is_anonymous = False

    @property
    def tenant(self) -> Tenant:
        return self.api_key.tenant


class ApiKeyAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[ApiPrincipal, ApiKey]:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        scheme, _, plaintext = header.partition(" ")
        plaintext = plaintext.strip()
        if not header:
            raise ApiError(
                "invalid_api_key",
                "No API key provided. Send it as 'Authorization: Bearer mrrx_...'.",
            )
        if scheme.lower() != "bearer" or not _KEY_FORMAT.match(plaintext):
            raise ApiError("invalid_api_key", "The API key is malformed.")
        api_key = apikey_get_by_plaintext(plaintext=plaintext)
        if api_key is None or not hmac.compare_digest(api_key.hashed_key, apikey_hash(plaintext)):
            raise ApiError("invalid_api_key", "The API key was not found.")
        if api_key.revoked_at is not None:
            raise ApiError("invalid_api_key", "The API key has been revoked.")
        if api_key.is_expired:
            raise ApiError(
                "expired_api_key",
                "The API key has expired.",
                details={"expired_at": api_key.expires_at.isoformat()},  # type: ignore[union-attr]
            )
        apikey_touch(api_key=api_key)
        # Set on the Django request so that middleware and logging see them too.
        django_request = request._request
        django_request.tenant = api_key.tenant
        django_request.livemode = api_key.livemode
        django_request.scopes = frozenset(api_key.scopes)
        actor_bind(django_request, Actor.api_key(key_id=api_key.pk, prefix=api_key.prefix))
        return ApiPrincipal(api_key), api_key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="mrrx"'
