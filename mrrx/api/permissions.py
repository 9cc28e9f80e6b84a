from __future__ import annotations

from typing import TYPE_CHECKING

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

if TYPE_CHECKING:
    from rest_framework.views import APIView

from .errors import ApiError


class HasRequiredScopes(BasePermission):
    """The key must carry every scope the view names in ``required_scopes``."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        scopes_for = getattr(view, "scopes_for", None)
        required = scopes_for(request.method) if scopes_for else ()
        granted = getattr(request, "scopes", frozenset())
        missing = [scope for scope in required if scope not in granted]
        if missing:
            raise ApiError(
                "insufficient_permissions",
                f"This API key lacks the scope {', '.join(missing)}.",
                details={"required_scopes": list(required), "missing_scopes": missing},
            )
        return True
