"""CORS for API views called from browsers on origins that depend on the caller.

A preflight carries no credentials, so it cannot be checked against anyone's list: it is
answered for any origin, and the actual request, once its credentials say whose it is,
is refused unless its ``Origin`` is on that caller's list. Requests without ``Origin``
(servers, mobile apps) are not browsers' cross-origin requests and pass.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any
from urllib.parse import urlsplit

from django.utils.cache import patch_vary_headers
from rest_framework.request import Request
from rest_framework.response import Response

from .errors import ApiError
from .views import ApiView

PREFLIGHT_MAX_AGE_SECONDS = 600
# Headers a page may read from our answers beyond the CORS-safelisted ones.
EXPOSED_HEADERS = (
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "Retry-After",
)


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` of an http(s) URL, written as browsers write ``Origin``
    (lower case, default port left out), or None when it has none ("null", garbage)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    scheme, host = parts.scheme.lower(), parts.hostname.lower()
    if ":" in host:  # IPv6, which urlsplit hands back without its brackets
        host = f"[{host}]"
    default_port = 443 if scheme == "https" else 80
    return f"{scheme}://{host}" + (f":{port}" if port and port != default_port else "")


class CorsApiView(ApiView):
    """An ``ApiView`` that browsers on the caller's own origins may call.

    Subclasses say which origins a request's caller allows in ``cors_allowed_origins``;
    it may return an empty collection while the caller is not known (a failed
    authentication), and then no origin may read the answer.
    """

    cors_allowed_headers: tuple[str, ...] = ("Authorization", "Content-Type")
    cors_max_age = PREFLIGHT_MAX_AGE_SECONDS

    def cors_allowed_origins(self, request: Request) -> Collection[str]:
        raise NotImplementedError

    def _origin_allowed(self, request: Request, origin: str) -> bool:
        normalised = origin_of(origin)
        if normalised is None:
            return False
        return normalised in {origin_of(entry) for entry in self.cors_allowed_origins(request)}

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        if request.method == "OPTIONS":
            return  # a preflight has no credentials: nothing to authenticate or count
        super().initial(request, *args, **kwargs)

    def check_permissions(self, request: Request) -> None:
        # Before the rate limit and the handler: a refused origin changes nothing.
        origin = request.headers.get("Origin")
        if origin is not None and not self._origin_allowed(request, origin):
            raise ApiError(
                "insufficient_permissions",
                "Requests from this origin are not allowed.",
                details={"origin": origin},
            )
        super().check_permissions(request)

    def options(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return Response(status=204)

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        patch_vary_headers(response, ("Origin",))
        origin = request.headers.get("Origin")
        if origin is None or origin_of(origin) is None:
            return response
        if request.method == "OPTIONS":
            response["Access-Control-Allow-Origin"] = origin
            response["Access-Control-Allow-Methods"] = ", ".join(self.allowed_methods)
            response["Access-Control-Allow-Headers"] = ", ".join(self.cors_allowed_headers)
            response["Access-Control-Max-Age"] = str(self.cors_max_age)
        elif self._origin_allowed(request, origin):
            # Errors too, so that the page can read why it was refused.
            response["Access-Control-Allow-Origin"] = origin
            response["Access-Control-Expose-Headers"] = ", ".join(EXPOSED_HEADERS)
        return response
