"""drf-spectacular hooks and the shared error component of the schema."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, inline_serializer
from rest_framework import serializers

from .errors import ERROR_STATUS


def only_canonical_paths(endpoints: list[tuple[str, Any, Any, Any]]) -> list:
    """Document ``/api/v1/...`` once; ``/v1/...`` serves the same views."""
    return [endpoint for endpoint in endpoints if endpoint[0].startswith("/api/")]


ErrorEnvelope = inline_serializer(
    name="ErrorEnvelope",
    fields={
        "error": inline_serializer(
            name="ErrorBody",
            fields={
                "code": serializers.ChoiceField(choices=sorted(ERROR_STATUS)),
                "message": serializers.CharField(),
                "details": serializers.DictField(),
            },
        )
    },
)


def error_responses(*codes: str) -> dict[int, OpenApiResponse]:
    """Schema responses for the error codes an endpoint can answer with."""
    by_status: dict[int, list[str]] = {}
    for code in codes:
        by_status.setdefault(ERROR_STATUS[code], []).append(code)
    return {
        status: OpenApiResponse(
            response=ErrorEnvelope,
            description=", ".join(f"`{code}`" for code in status_codes),
            examples=[
                OpenApiExample(
                    code,
                    value={"error": {"code": code, "message": "…", "details": {}}},
                    status_codes=[str(status)],
                    response_only=True,
                )
                for code in status_codes
            ],
        )
        for status, status_codes in sorted(by_status.items())
    }


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "tenants.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key: `Authorization: Bearer mrrx_test_...` or `mrrx_live_...`.",
        }
