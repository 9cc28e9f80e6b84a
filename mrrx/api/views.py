"""The base class of every API view: authentication, scopes, rate limits, idempotency."""

from __future__ import annotations

import json
from typing import Any

from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder
from rest_framework.views import APIView

from mrrx.network import client_address

from .errors import ApiError
from .idempotency import Replay, idempotency_begin, idempotency_finish, request_fingerprint
from .ratelimit import RateLimitResult, rate_limit_hit


class ApiView(APIView):
    """One operation of the API.

    Subclasses declare ``required_scopes`` and ``rate_limit_scope`` (a key of
    ``settings.RATE_LIMITS``), either for every method or as a mapping by method when
    one path serves several operations; the rest comes from here, so that no endpoint
    builds its own error, limit or replay.
    """

    required_scopes: tuple[str, ...] | dict[str, tuple[str, ...]] = ()
    rate_limit_scope: str | dict[str, str] | None = None
    # The methods that honour Idempotency-Key: POST, and a view's aliases of a POST.
    idempotent_methods: tuple[str, ...] = ("POST",)

    def scopes_for(self, method: str) -> tuple[str, ...]:
        scopes = self.required_scopes
        return scopes.get(method, ()) if isinstance(scopes, dict) else scopes

    def rate_limit_scope_for(self, method: str) -> str | None:
        scope = self.rate_limit_scope
        return scope.get(method) if isinstance(scope, dict) else scope

    def rate_limit_subject(self, request: Request) -> str:
        """Who the limit counts: the workspace and mode by default."""
        return f"{request.tenant.pk}:{'live' if request.livemode else 'test'}"

    def rate_limit_overrides(self, request: Request) -> dict:
        tenant = getattr(request, "tenant", None)
        return tenant.rate_limit_overrides if tenant is not None else {}

    def check_throttles(self, request: Request) -> None:
        scope = self.rate_limit_scope_for(request.method)
        if scope is None:
            return
        result = rate_limit_hit(
            scope=scope,
            subject=self.rate_limit_subject(request),
            overrides=self.rate_limit_overrides(request),
        )
        self._rate_limit: RateLimitResult | None = result
        if not result.allowed:
            raise ApiError(
                "rate_limited",
                f"Rate limit of {result.limit} requests exceeded; retry after "
                f"{result.retry_after} seconds.",
                details={"limit": result.limit, "retry_after": result.retry_after},
            )

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        self._rate_limit = None
        self._idempotency = None
        super().initial(request, *args, **kwargs)
        key = request.headers.get("Idempotency-Key")
        idempotent = request.method in self.idempotent_methods
        if idempotent and key is not None and hasattr(request, "tenant"):
            fingerprint = request_fingerprint(
                method=request.method, path=request.path, data=request.data
            )
            self._idempotency = idempotency_begin(
                tenant=request.tenant, livemode=request.livemode, key=key, fingerprint=fingerprint
            )

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, Replay):
            return Response(exc.body, status=exc.status, headers={"Idempotent-Replayed": "true"})
        return super().handle_exception(exc)

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        result = getattr(self, "_rate_limit", None)
        if result is not None:
            for name, value in result.headers().items():
                response[name] = value
        record = getattr(self, "_idempotency", None)
        if record is not None:
            self._idempotency = None
            body = json.loads(json.dumps(response.data, cls=JSONEncoder))
            idempotency_finish(record=record, status=response.status_code, body=body)
        return response


class PublicApiView(ApiView):
    """An endpoint without an API key (health, result verification): limited per client IP."""

    authentication_classes: list = []
    permission_classes: list = []

    def rate_limit_subject(self, request: Request) -> str:
        return client_address(request.META) or "unknown"

    def rate_limit_overrides(self, request: Request) -> dict:
        return {}
