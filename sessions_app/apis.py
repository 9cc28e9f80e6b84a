"""``/api/v1/sessions``: create, read and list cancellation sessions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from mrrx.api.errors import ApiError
from mrrx.api.pagination import cursor_paginate
from mrrx.api.schema import error_responses
from mrrx.api.serializers import PaginationSerializer, StrictSerializer
from mrrx.api.views import ApiView
from mrrx.formats import iso_timestamp
from tenants.models import SCOPE_SESSIONS_READ, SCOPE_SESSIONS_WRITE

from .models import Action, SessionStatus, Source
from .selectors import session_get, session_list
from .serializers import session_repr
from .services import session_create, session_url

METADATA_MAX_KEYS = 10
METADATA_KEY_MAX = 40
METADATA_VALUE_MAX = 500


def validate_metadata(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise serializers.ValidationError("must be an object of string keys and values")
    if len(value) > METADATA_MAX_KEYS:
        raise serializers.ValidationError(f"at most {METADATA_MAX_KEYS} keys")
    for key, item in value.items():
        if not key or len(key) > METADATA_KEY_MAX:
            raise serializers.ValidationError(f"keys are 1 to {METADATA_KEY_MAX} characters")
        if not isinstance(item, str):
            raise serializers.ValidationError(f"the value of {key!r} must be a string")
        if len(item) > METADATA_VALUE_MAX:
            raise serializers.ValidationError(
                f"the value of {key!r} is longer than {METADATA_VALUE_MAX} characters"
            )
    return value


class ContextSerializer(StrictSerializer):
    plan = serializers.CharField(max_length=100, required=False)
    mrr = serializers.IntegerField(min_value=0, required=False, help_text="minor units")
    tenure_days = serializers.IntegerField(min_value=0, required=False)

    class Meta:
        ref_name = "SessionContext"


class PriceSerializer(serializers.Serializer):
    amount = serializers.IntegerField(allow_null=True)
    currency = serializers.CharField()
    interval = serializers.CharField()

    class Meta:
        ref_name = "SessionPrice"


class SubscriptionSerializer(serializers.Serializer):
    id = serializers.CharField()
    product_name = serializers.CharField()
    price = PriceSerializer()
    current_period_end = serializers.CharField(allow_null=True)

    class Meta:
        ref_name = "SessionSubscription"


class OutcomeSerializer(serializers.Serializer):
    # Every action, deflections (contact, redirect) included: the same choice set as the
    # flow's, so the schema has one Action enum.
    action = serializers.ChoiceField(choices=Action.values)
    executed_at = serializers.CharField()
    details = serializers.DictField()

    class Meta:
        ref_name = "SessionOutcome"


class SurveySerializer(serializers.Serializer):
    reason = serializers.CharField()
    reason_other = serializers.CharField(allow_null=True)
    feedback = serializers.CharField(allow_null=True)

    class Meta:
        ref_name = "SessionSurveyResponse"


class SessionExperimentSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="the experiment's id (`exp_...`)")
    arm = serializers.CharField(help_text="the key of the arm the session was assigned to")

    class Meta:
        ref_name = "SessionExperiment"


class SessionFlowSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="the segment flow's id (`flw_...`)")
    name = serializers.CharField(help_text="the flow's name when the session was created")

    class Meta:
        ref_name = "SessionFlow"


class SessionSerializer(serializers.Serializer):
    id = serializers.CharField()
    status = serializers.ChoiceField(choices=SessionStatus.values)
    subscription = SubscriptionSerializer()
    outcome = OutcomeSerializer(allow_null=True)
    survey_response = SurveySerializer(allow_null=True)
    created_at = serializers.CharField()
    expires_at = serializers.CharField()
    customer_id = serializers.CharField()
    metadata = serializers.DictField(child=serializers.CharField())
    return_url = serializers.CharField(allow_null=True)
    livemode = serializers.BooleanField()
    source = serializers.ChoiceField(
        choices=Source.values,
        help_text="`flow`: a subscriber's session; `api`: a direct cancel by your backend",
    )
    experiment = SessionExperimentSerializer(
        allow_null=True,
        help_text="the experiment and arm the session was assigned to when it was created "
        "(null when none was running)",
    )
    flow = SessionFlowSerializer(
        allow_null=True,
        help_text="the segment flow whose rule the subscription matched when the session was "
        "created (null: the default flow)",
    )

    class Meta:
        ref_name = "Session"


SESSION_EXAMPLE = {
    "id": "ses_0kz3v5x2w1q0a9b8c7d6e5f4g",
    "status": "completed",
    "subscription": {
        "id": "sub_XYZ789",
        "product_name": "Pro Plan",
        "price": {"amount": 2900, "currency": "usd", "interval": "month"},
        "current_period_end": "2026-02-15T00:00:00.000Z",
    },
    "outcome": {
        "action": "pause",
        "executed_at": "2026-01-29T15:30:00.000Z",
        "details": {"pause_duration_days": 30, "resume_date": "2026-03-17T00:00:00.000Z"},
    },
    "survey_response": {
        "reason": "not_using_enough",
        "reason_other": None,
        "feedback": "Taking a break to focus on other projects",
    },
    "created_at": "2026-01-29T14:00:00.000Z",
    "expires_at": "2026-01-30T14:00:00.000Z",
    "customer_id": "cus_ABC123",
    "metadata": {"user_id": "usr_123"},
    "return_url": "https://yourapp.com/account",
    "livemode": False,
    "source": "flow",
    "experiment": {"id": "exp_0kz3v5x2w1q0a9b8c7d6e5f4h", "arm": "pct30"},
    "flow": {"id": "flw_0kz3v5x2w1q0a9b8c7d6e5f4j", "name": "Annual Pro, over a year"},
}


def _parse_time(name: str, raw: str) -> datetime:
    try:
        if raw.isdigit():
            return datetime.fromtimestamp(int(raw), tz=UTC)
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ApiError(
            "validation_error",
            f"{name} must be an ISO 8601 time or Unix seconds.",
            details={name: "must be an ISO 8601 time or Unix seconds"},
        ) from exc
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class SessionCollectionApi(ApiView):
    """``POST`` creates a session; ``GET`` lists them. One path, two operations."""

    required_scopes = {"POST": (SCOPE_SESSIONS_WRITE,), "GET": (SCOPE_SESSIONS_READ,)}
    rate_limit_scope = {"POST": "sessions.create", "GET": "sessions.read"}

    class InputSerializer(StrictSerializer):
        customer_id = serializers.RegexField(r"^cus_\w+$", max_length=255, required=False)
        customer_email = serializers.EmailField(required=False)
        subscription_id = serializers.RegexField(r"^sub_\w+$", max_length=255, required=False)
        return_url = serializers.CharField(max_length=2000, required=False)
        metadata = serializers.JSONField(required=False, validators=[validate_metadata])
        context = ContextSerializer(required=False)
        locale = serializers.CharField(
            max_length=35,
            required=False,
            help_text="the language of the hosted pages and the receipt: en, fr, de, es or "
            "pt-BR (a regional variant such as fr-CA takes its language); without it, the "
            "subscriber's browser language if MRRX speaks it, else the workspace's default",
        )

        class Meta:
            ref_name = "SessionCreateRequest"

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            if not attrs.get("customer_id") and not attrs.get("customer_email"):
                raise serializers.ValidationError(
                    {"customer_id": "customer_id (or customer_email) is required"}
                )
            if attrs.get("customer_id") and attrs.get("customer_email"):
                raise serializers.ValidationError(
                    {"customer_email": "give customer_id or customer_email, not both"}
                )
            return attrs

    class CreatedSerializer(serializers.Serializer):
        id = serializers.CharField()
        token = serializers.CharField()
        url = serializers.URLField()
        expires_at = serializers.CharField()
        status = serializers.CharField()
        livemode = serializers.BooleanField()

        class Meta:
            ref_name = "SessionCreated"

    class ListSerializer(serializers.Serializer):
        data = SessionSerializer(many=True)
        pagination = PaginationSerializer()

        class Meta:
            ref_name = "SessionList"

    @extend_schema(
        operation_id="sessions_create",
        summary="Create a cancellation session",
        description=(
            "Checks, in order: the return URL is on the workspace's allowlist, the "
            "subscription exists in the connected Stripe account, belongs to the customer, "
            "is not canceled, and has no active session. Send `Idempotency-Key` to retry "
            "safely."
        ),
        request=InputSerializer,
        parameters=[
            OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=False)
        ],
        responses={
            201: CreatedSerializer,
            **error_responses(
                "validation_error",
                "invalid_request",
                "invalid_customer",
                "subscription_already_canceled",
                "invalid_api_key",
                "expired_api_key",
                "insufficient_permissions",
                "subscription_not_found",
                "session_already_exists",
                "idempotency_in_progress",
                "idempotency_key_reused",
                "rate_limited",
                "stripe_error",
                "internal_error",
            ),
        },
        examples=[
            OpenApiExample(
                "Create",
                request_only=True,
                value={
                    "customer_id": "cus_ABC123",
                    "subscription_id": "sub_XYZ789",
                    "return_url": "https://yourapp.com/account",
                    "metadata": {"user_id": "usr_123", "plan": "pro"},
                    "locale": "fr",
                },
            ),
            OpenApiExample(
                "Created",
                response_only=True,
                status_codes=["201"],
                value={
                    "id": "ses_0kz3v5x2w1q0a9b8c7d6e5f4g",
                    "token": "eyJhbGciOiJIUzI1NiIs...",
                    "url": "https://mrrx.example.com/c/eyJhbGciOiJIUzI1NiIs...",
                    "expires_at": "2026-01-30T12:00:00.000Z",
                    "status": "created",
                    "livemode": False,
                },
            ),
        ],
    )
    def post(self, request: Request) -> Response:
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        session, token = session_create(
            tenant=request.tenant, livemode=request.livemode, **payload.validated_data
        )
        return Response(
            {
                "id": session.id,
                "token": token,
                "url": session_url(token),
                "expires_at": iso_timestamp(session.expires_at),
                "status": session.status,
                "livemode": session.livemode,
            },
            status=201,
        )

    @extend_schema(
        operation_id="sessions_list",
        summary="List sessions, newest first",
        parameters=[
            OpenApiParameter("limit", int, description="1 to 100, default 20"),
            OpenApiParameter("cursor", str, description="the last id of the previous page"),
            OpenApiParameter(
                "status", str, description="one status, or several separated by commas"
            ),
            OpenApiParameter("customer_id", str),
            OpenApiParameter("subscription_id", str),
            OpenApiParameter("created[gte]", str, description="ISO 8601 or Unix seconds"),
            OpenApiParameter("created[lt]", str, description="ISO 8601 or Unix seconds"),
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
        params = request.query_params
        statuses = [s for s in params.get("status", "").split(",") if s]
        unknown = [s for s in statuses if s not in SessionStatus.values]
        if unknown:
            raise ApiError(
                "validation_error",
                "Unknown status filter.",
                details={"status": f"unknown: {', '.join(unknown)}"},
            )
        queryset = session_list(
            tenant=request.tenant,
            livemode=request.livemode,
            statuses=statuses,
            customer_id=params.get("customer_id"),
            subscription_id=params.get("subscription_id"),
            created_gte=_parse_time("created[gte]", params["created[gte]"])
            if "created[gte]" in params
            else None,
            created_lt=_parse_time("created[lt]", params["created[lt]"])
            if "created[lt]" in params
            else None,
        )
        rows, pagination = cursor_paginate(request=request, queryset=queryset, prefix="ses")
        return Response({"data": [session_repr(s) for s in rows], "pagination": pagination})


class SessionGetApi(ApiView):
    required_scopes = (SCOPE_SESSIONS_READ,)
    rate_limit_scope = "sessions.read"

    @extend_schema(
        operation_id="sessions_get",
        summary="Retrieve a session and its outcome",
        responses={
            200: SessionSerializer,
            **error_responses(
                "session_not_found",
                "invalid_api_key",
                "expired_api_key",
                "insufficient_permissions",
                "rate_limited",
            ),
        },
        examples=[OpenApiExample("Completed session", value=SESSION_EXAMPLE, response_only=True)],
    )
    def get(self, request: Request, session_id: str) -> Response:
        session = session_get(
            tenant=request.tenant, livemode=request.livemode, session_id=session_id
        )
        if session is None:
            raise ApiError(
                "session_not_found", "No such session.", details={"session_id": session_id}
            )
        return Response(session_repr(session))
