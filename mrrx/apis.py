"""Platform endpoints: health and the calling key's workspace."""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from .api.schema import error_responses
from .api.views import ApiView, PublicApiView
from .formats import iso_timestamp
from .health import run_checks


class HealthApi(PublicApiView):
    rate_limit_scope = "health"

    class OutputSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=["healthy", "unhealthy"])
        timestamp = serializers.CharField()
        version = serializers.CharField()
        components = serializers.DictField(required=False)

        class Meta:
            ref_name = "Health"

    @extend_schema(
        operation_id="health",
        summary="Service health",
        auth=[],
        parameters=[
            OpenApiParameter(
                "deep",
                bool,
                description="Also check the database, broker, cache and Stripe.",
            )
        ],
        responses={200: OutputSerializer, 503: OutputSerializer, **error_responses("rate_limited")},
    )
    def get(self, request: Request) -> Response:
        body: dict[str, object] = {
            "status": "healthy",
            "timestamp": iso_timestamp(timezone.now()),
            "version": settings.VERSION,
        }
        if request.query_params.get("deep") in ("1", "true", "yes"):
            components = run_checks()
            body["components"] = components
            failing = [name for name, result in components.items() if result["status"] != "healthy"]
            if failing:
                body["status"] = "unhealthy"
                body["failing"] = failing
                return Response(body, status=503)
        return Response(body)


class WorkspaceGetApi(ApiView):
    rate_limit_scope = "workspace.read"

    class OutputSerializer(serializers.Serializer):
        id = serializers.CharField()
        name = serializers.CharField()
        livemode = serializers.BooleanField()
        mode = serializers.ChoiceField(choices=["test", "live"])
        scopes = serializers.ListField(child=serializers.CharField())
        key = serializers.DictField()

        class Meta:
            ref_name = "Workspace"

    @extend_schema(
        operation_id="workspace_get",
        summary="The workspace this API key belongs to",
        responses={
            200: OutputSerializer,
            **error_responses("invalid_api_key", "expired_api_key", "rate_limited"),
        },
    )
    def get(self, request: Request) -> Response:
        key = request.auth
        return Response(
            {
                "id": request.tenant.pk,
                "name": request.tenant.name,
                "livemode": key.livemode,
                "mode": key.mode,
                "scopes": key.scopes,
                "key": {
                    "prefix": key.prefix,
                    "name": key.name,
                    "expires_at": iso_timestamp(key.expires_at),
                },
            }
        )
