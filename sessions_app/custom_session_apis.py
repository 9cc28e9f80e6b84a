"""``/api/v1/custom_sessions``: cancellations from a merchant's own flow, for analytics."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from mrrx.api.errors import ApiError
from mrrx.api.pagination import cursor_paginate
from mrrx.api.schema import error_responses
from mrrx.api.serializers import PaginationSerializer, StrictSerializer
from mrrx.api.views import ApiView
from tenants.models import SCOPE_SESSIONS_READ, SCOPE_SESSIONS_WRITE

from .apis import validate_metadata
from .custom_sessions import (
    custom_session_get,
    custom_session_list,
    custom_session_repr,
    custom_session_upsert,
)
from .models import Action, Reason

MAX_OFFERS_SHOWN = 20


class OfferShownSerializer(StrictSerializer):
    action = serializers.ChoiceField(choices=Action.values)
    label = serializers.CharField(max_length=200, required=False, allow_blank=True)

    class Meta:
        ref_name = "CustomSessionOfferShown"


class CustomOutcomeSerializer(StrictSerializer):
    action = serializers.ChoiceField(choices=Action.values)
    details = serializers.DictField(required=False)

    class Meta:
        ref_name = "CustomSessionOutcome"


class MrrSerializer(StrictSerializer):
    amount = serializers.IntegerField(min_value=0, help_text="minor units, per month")
    currency = serializers.RegexField(r"^[A-Za-z]{3}$", help_text="ISO 4217, e.g. usd")

    class Meta:
        ref_name = "CustomSessionMrr"


@extend_schema_field(
    {
        "oneOf": [{"type": "string", "format": "date-time"}, {"type": "integer"}],
        "description": "ISO 8601, or Unix seconds",
    }
)
class StartedAtField(serializers.Field):
    """ISO 8601 (a time zone, or UTC when none is given) or Unix seconds."""

    default_error_messages = {"invalid": "must be an ISO 8601 time or Unix seconds"}

    def to_internal_value(self, data: Any) -> datetime:
        try:
            if isinstance(data, int) and not isinstance(data, bool):
                return datetime.fromtimestamp(data, tz=UTC)
            if not isinstance(data, str):
                raise ValueError
            value = datetime.fromisoformat(data.replace("Z", "+00:00"))
        except (ValueError, OverflowError, OSError):
            self.fail("invalid")
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    def to_representation(self, value: datetime) -> str:
        return value.isoformat()


class CustomSessionSerializer(serializers.Serializer):
    id = serializers.CharField()
    external_id = serializers.CharField()
    customer_id = serializers.CharField()
    subscription_id = serializers.CharField(allow_null=True)
    started_at = serializers.CharField()
    reason = serializers.ChoiceField(choices=Reason.values, allow_null=True)
    reason_other = serializers.CharField(allow_null=True)
    offers_shown = OfferShownSerializer(many=True)
    outcome = CustomOutcomeSerializer(allow_null=True)
    mrr = MrrSerializer(allow_null=True)
    metadata = serializers.DictField(child=serializers.CharField())
    livemode = serializers.BooleanField()
    created_at = serializers.CharField()
    updated_at = serializers.CharField()

    class Meta:
        ref_name = "CustomSession"


CUSTOM_SESSION_EXAMPLE = {
    "id": "csn_0kz3v5x2w1q0a9b8c7d6e5f4g",
    "external_id": "cancel-flow-8812",
    "customer_id": "cus_ABC123",
    "subscription_id": "sub_XYZ789",
    "started_at": "2026-01-29T14:00:00.000Z",
    "reason": "too_expensive",
    "reason_other": None,
    "offers_shown": [{"action": "discount", "label": "25% off for 3 months"}],
    "outcome": {"action": "discount", "details": {"percent_off": 25, "duration_months": 3}},
    "mrr": {"amount": 2900, "currency": "usd"},
    "metadata": {"user_id": "usr_123"},
    "livemode": False,
    "created_at": "2026-01-29T14:03:10.000Z",
    "updated_at": "2026-01-29T14:05:42.000Z",
}


class CustomSessionCollectionApi(ApiView):
    """``POST`` records (or updates) a cancellation by ``external_id``; ``GET`` lists them."""

    required_scopes = {"POST": (SCOPE_SESSIONS_WRITE,), "GET": (SCOPE_SESSIONS_READ,)}
    rate_limit_scope = {"POST": "custom_sessions.write", "GET": "custom_sessions.read"}

    class InputSerializer(StrictSerializer):
        external_id = serializers.CharField(max_length=255)
        customer_id = serializers.CharField(max_length=255)
        subscription_id = serializers.CharField(max_length=255, required=False, allow_blank=True)
        started_at = StartedAtField()
        reason = serializers.ChoiceField(choices=Reason.values, required=False, allow_blank=True)
        reason_other = serializers.CharField(max_length=500, required=False, allow_blank=True)
        offers_shown = OfferShownSerializer(many=True, required=False)
        outcome = CustomOutcomeSerializer(required=False, allow_null=True)
        mrr = MrrSerializer(required=False, allow_null=True)
        metadata = serializers.JSONField(required=False, validators=[validate_metadata])

        class Meta:
            ref_name = "CustomSessionRequest"

        def validate_offers_shown(self, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
            if len(value) > MAX_OFFERS_SHOWN:
                raise serializers.ValidationError(f"at most {MAX_OFFERS_SHOWN} offers")
            return [{"action": o["action"], "label": o.get("label", "")} for o in value]

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            if attrs.get("reason") == Reason.OTHER and not attrs.get("reason_other", "").strip():
                raise serializers.ValidationError(
                    {"reason_other": "is required when reason is other"}
                )
            return attrs

    class ListSerializer(serializers.Serializer):
        data = CustomSessionSerializer(many=True)
        pagination = PaginationSerializer()

        class Meta:
            ref_name = "CustomSessionList"

    @extend_schema(
        operation_id="custom_sessions_upsert",
        summary="Record a cancellation from your own flow",
        description=(
            "For merchants who keep their own cancel flow: send each cancellation (and each "
            "update of it) with your own stable `external_id`. The first report creates the "
            "record (201); a later one with the same `external_id` updates it (200): the "
            "fields it gives replace those stored, the others are kept, and `started_at` "
            "never moves. Nothing is done on Stripe; analytics count these as their own "
            "source. Send `Idempotency-Key` to retry safely."
        ),
        request=InputSerializer,
        parameters=[
            OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=False)
        ],
        responses={
            201: CustomSessionSerializer,
            200: CustomSessionSerializer,
            **error_responses(
                "validation_error",
                "invalid_request",
                "invalid_api_key",
                "expired_api_key",
                "insufficient_permissions",
                "idempotency_in_progress",
                "idempotency_key_reused",
                "rate_limited",
            ),
        },
        examples=[
            OpenApiExample(
                "Report",
                request_only=True,
                value={
                    "external_id": "cancel-flow-8812",
                    "customer_id": "cus_ABC123",
                    "subscription_id": "sub_XYZ789",
                    "started_at": "2026-01-29T14:00:00Z",
                    "reason": "too_expensive",
                    "offers_shown": [{"action": "discount", "label": "25% off for 3 months"}],
                    "outcome": {"action": "discount", "details": {"percent_off": 25}},
                    "mrr": {"amount": 2900, "currency": "usd"},
                },
            ),
            OpenApiExample(
                "Recorded", response_only=True, status_codes=["201"], value=CUSTOM_SESSION_EXAMPLE
            ),
        ],
    )
    def post(self, request: Request) -> Response:
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        fields = dict(payload.validated_data)
        record, created = custom_session_upsert(
            tenant=request.tenant,
            livemode=request.livemode,
            external_id=fields.pop("external_id"),
            started_at=fields.pop("started_at"),
            fields=fields,
        )
        return Response(custom_session_repr(record), status=201 if created else 200)

    @extend_schema(
        operation_id="custom_sessions_list",
        summary="List recorded custom sessions, newest first",
        parameters=[
            OpenApiParameter("limit", int, description="1 to 100, default 20"),
            OpenApiParameter("cursor", str, description="the last id of the previous page"),
            OpenApiParameter("external_id", str),
            OpenApiParameter("customer_id", str),
        ],
        responses={
            200: ListSerializer,
            **error_responses(
                "validation_error",
                "invalid_api_key",
                "expired_api_key",
                "insufficient_permissions",
                "rate_limited",
            ),
        },
    )
    def get(self, request: Request) -> Response:
        queryset = custom_session_list(
            tenant=request.tenant,
            livemode=request.livemode,
            external_id=request.query_params.get("external_id"),
            customer_id=request.query_params.get("customer_id"),
        )
        rows, pagination = cursor_paginate(request=request, queryset=queryset, prefix="csn")
        return Response({"data": [custom_session_repr(r) for r in rows], "pagination": pagination})


class CustomSessionGetApi(ApiView):
    required_scopes = (SCOPE_SESSIONS_READ,)
    rate_limit_scope = "custom_sessions.read"

    @extend_schema(
        operation_id="custom_sessions_get",
        summary="Retrieve a recorded custom session",
        responses={
            200: CustomSessionSerializer,
            **error_responses(
                "not_found",
                "invalid_api_key",
                "expired_api_key",
                "insufficient_permissions",
                "rate_limited",
            ),
        },
        examples=[
            OpenApiExample("Custom session", value=CUSTOM_SESSION_EXAMPLE, response_only=True)
        ],
    )
    def get(self, request: Request, custom_session_id: str) -> Response:
        record = custom_session_get(
            tenant=request.tenant, livemode=request.livemode, custom_session_id=custom_session_id
        )
        if record is None:
            raise ApiError(
                "not_found",
                "No such custom session.",
                details={"custom_session_id": custom_session_id},
            )
        return Response(custom_session_repr(record))
