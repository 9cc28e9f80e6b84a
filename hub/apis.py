"""``/api/v1/hub_sessions``: open the subscription hub for a customer, and read what the
customer did there."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from mrrx.api.errors import ApiError
from mrrx.api.schema import error_responses
from mrrx.api.serializers import StrictSerializer
from mrrx.api.views import ApiView
from mrrx.formats import iso_timestamp
from sessions_app.apis import validate_metadata
from sessions_app.models import Action
from tenants.models import SCOPE_SESSIONS_READ, SCOPE_SESSIONS_WRITE

from .models import HubAction, HubActionKind, HubActionStatus, HubSession
from .selectors import hub_actions, hub_cancellation_sessions, hub_session_get
from .services import hub_session_create
from .tokens import hub_url


class HubActionSerializer(serializers.Serializer):
    id = serializers.CharField()
    type = serializers.ChoiceField(choices=HubActionKind.values)
    subscription_id = serializers.CharField()
    price_id = serializers.CharField(
        allow_null=True, help_text="`change_plan`: the price the subscription moves to"
    )
    status = serializers.ChoiceField(
        choices=HubActionStatus.values,
        help_text="`opened` for a cancel: its cancellation session (`session_id`) has the outcome",
    )
    session_id = serializers.CharField(
        allow_null=True, help_text="`cancel`: the cancellation session it opened or continued"
    )
    outcome = serializers.DictField(allow_null=True)
    error = serializers.DictField(allow_null=True)
    created_at = serializers.CharField()
    completed_at = serializers.CharField(allow_null=True)
    failed_at = serializers.CharField(allow_null=True)

    class Meta:
        ref_name = "HubAction"


class HubCancellationSessionSerializer(serializers.Serializer):
    id = serializers.CharField()
    subscription_id = serializers.CharField()
    status = serializers.CharField(
        help_text="the cancellation session's status (as `GET /api/v1/sessions/<id>`)"
    )
    outcome_action = serializers.CharField(
        allow_null=True, help_text="the session's outcome: " + ", ".join(Action.values)
    )
    created_at = serializers.CharField()
    completed_at = serializers.CharField(allow_null=True)

    class Meta:
        ref_name = "HubCancellationSession"


class HubSessionSerializer(serializers.Serializer):
    id = serializers.CharField()
    customer_id = serializers.CharField()
    customer_email = serializers.CharField(allow_null=True)
    return_url = serializers.CharField(allow_null=True)
    metadata = serializers.DictField(child=serializers.CharField())
    livemode = serializers.BooleanField()
    created_at = serializers.CharField()
    expires_at = serializers.CharField()
    viewed_at = serializers.CharField(allow_null=True, help_text="first opened")
    last_viewed_at = serializers.CharField(allow_null=True)
    views = serializers.IntegerField()
    actions = HubActionSerializer(many=True)
    sessions = HubCancellationSessionSerializer(many=True)

    class Meta:
        ref_name = "HubSession"


def _action_repr(action: HubAction) -> dict[str, Any]:
    return {
        "id": action.id,
        "type": action.kind,
        "subscription_id": action.subscription_id,
        "price_id": action.price_id or None,
        "status": action.status,
        "session_id": action.cancellation_session_id or None,
        "outcome": action.outcome,
        "error": action.failure,
        "created_at": iso_timestamp(action.created_at),
        "completed_at": iso_timestamp(action.completed_at),
        "failed_at": iso_timestamp(action.failed_at),
    }


def hub_session_repr(hub: HubSession) -> dict[str, Any]:
    """``GET /api/v1/hub_sessions/<id>``: the visit, what the customer did, and the
    cancellation sessions it opened."""
    return {
        "id": hub.id,
        "customer_id": hub.customer_id,
        "customer_email": hub.customer_email or None,
        "return_url": hub.return_url or None,
        "metadata": hub.metadata,
        "livemode": hub.livemode,
        "created_at": iso_timestamp(hub.created_at),
        "expires_at": iso_timestamp(hub.expires_at),
        "viewed_at": iso_timestamp(hub.viewed_at),
        "last_viewed_at": iso_timestamp(hub.last_viewed_at),
        "views": hub.views,
        "actions": [_action_repr(a) for a in hub_actions(hub=hub)],
        "sessions": [
            {
                "id": s.id,
                "subscription_id": s.subscription_id,
                "status": s.status,
                "outcome_action": s.outcome_action or None,
                "created_at": iso_timestamp(s.created_at),
                "completed_at": iso_timestamp(s.completed_at),
            }
            for s in hub_cancellation_sessions(hub=hub)
        ],
    }


HUB_SESSION_EXAMPLE = {
    "id": "hub_0kz3v5x2w1q0a9b8c7d6e5f4g",
    "customer_id": "cus_ABC123",
    "customer_email": None,
    "return_url": "https://yourapp.com/account",
    "metadata": {"user_id": "usr_123"},
    "livemode": False,
    "created_at": "2026-01-29T14:00:00.000Z",
    "expires_at": "2026-01-29T15:00:00.000Z",
    "viewed_at": "2026-01-29T14:00:03.000Z",
    "last_viewed_at": "2026-01-29T14:02:41.000Z",
    "views": 3,
    "actions": [
        {
            "id": "hba_0kz3v5x2w1q0a9b8c7d6e5f4h",
            "type": "resume",
            "subscription_id": "sub_XYZ789",
            "price_id": None,
            "status": "completed",
            "session_id": None,
            "outcome": {
                "previous_resume_date": "2026-03-01T00:00:00.000Z",
                "current_period_end": "2026-02-15T00:00:00.000Z",
            },
            "error": None,
            "created_at": "2026-01-29T14:00:10.000Z",
            "completed_at": "2026-01-29T14:00:11.000Z",
            "failed_at": None,
        },
        {
            "id": "hba_0kz3v5x2w1q0a9b8c7d6e5f4j",
            "type": "cancel",
            "subscription_id": "sub_QRS456",
            "price_id": None,
            "status": "opened",
            "session_id": "ses_0kz3v5x2w1q0a9b8c7d6e5f4k",
            "outcome": None,
            "error": None,
            "created_at": "2026-01-29T14:01:00.000Z",
            "completed_at": None,
            "failed_at": None,
        },
    ],
    "sessions": [
        {
            "id": "ses_0kz3v5x2w1q0a9b8c7d6e5f4k",
            "subscription_id": "sub_QRS456",
            "status": "completed",
            "outcome_action": "cancel",
            "created_at": "2026-01-29T14:01:00.000Z",
            "completed_at": "2026-01-29T14:02:30.000Z",
        }
    ],
}


class HubSessionCreateApi(ApiView):
    required_scopes = (SCOPE_SESSIONS_WRITE,)
    rate_limit_scope = "hub_sessions.create"

    class InputSerializer(StrictSerializer):
        customer_id = serializers.RegexField(r"^cus_\w+$", max_length=255, required=False)
        customer_email = serializers.EmailField(required=False)
        return_url = serializers.CharField(max_length=2000, required=False)
        metadata = serializers.JSONField(required=False, validators=[validate_metadata])
        locale = serializers.CharField(
            max_length=35,
            required=False,
            help_text="the language of the hub page and of the cancellation flows opened from "
            "it: en, fr, de, es or pt-BR; without it, the customer's browser language if MRRX "
            "speaks it, else the workspace's default",
        )

        class Meta:
            ref_name = "HubSessionCreate"

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            if not attrs.get("customer_id") and not attrs.get("customer_email"):
                raise serializers.ValidationError(
                    {"customer_id": "customer_id (or customer_email) is required"}
                )
            return attrs

    class CreatedSerializer(serializers.Serializer):
        id = serializers.CharField()
        token = serializers.CharField()
        url = serializers.URLField()
        expires_at = serializers.CharField()
        livemode = serializers.BooleanField()

        class Meta:
            ref_name = "HubSessionCreated"

    @extend_schema(
        operation_id="hub_sessions_create",
        summary="Open the subscription hub for a customer",
        description=(
            "Send the customer to `url`: every live subscription of theirs, with resume, "
            "undo a scheduled cancellation, change plan (among the plan changes you allow) "
            "and cancel through the retention flow. Name the customer by `customer_id` or "
            "`customer_email` (both: they must agree; an email shared by several customers "
            "asks for the id). A customer with no live subscription still gets a hub, which "
            "says so. The link lasts one hour. Send `Idempotency-Key` to retry safely."
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
                "invalid_api_key",
                "expired_api_key",
                "insufficient_permissions",
                "not_found",
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
                    "return_url": "https://yourapp.com/account",
                    "metadata": {"user_id": "usr_123"},
                },
            ),
            OpenApiExample(
                "Created",
                response_only=True,
                status_codes=["201"],
                value={
                    "id": "hub_0kz3v5x2w1q0a9b8c7d6e5f4g",
                    "token": "eyJhbGciOiJIUzI1NiIs...",
                    "url": "https://mrrx.example.com/h/eyJhbGciOiJIUzI1NiIs...",
                    "expires_at": "2026-01-29T15:00:00.000Z",
                    "livemode": False,
                },
            ),
        ],
    )
    def post(self, request: Request) -> Response:
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        hub, token = hub_session_create(
            tenant=request.tenant, livemode=request.livemode, **payload.validated_data
        )
        return Response(
            {
                "id": hub.id,
                "token": token,
                "url": hub_url(hub),
                "expires_at": iso_timestamp(hub.expires_at),
                "livemode": hub.livemode,
            },
            status=201,
        )


class HubSessionGetApi(ApiView):
    required_scopes = (SCOPE_SESSIONS_READ,)
    rate_limit_scope = "hub_sessions.read"

    @extend_schema(
        operation_id="hub_sessions_get",
        summary="Retrieve a hub session and what the customer did there",
        responses={
            200: HubSessionSerializer,
            **error_responses(
                "session_not_found",
                "invalid_api_key",
                "expired_api_key",
                "insufficient_permissions",
                "rate_limited",
            ),
        },
        examples=[OpenApiExample("A visit", value=HUB_SESSION_EXAMPLE, response_only=True)],
    )
    def get(self, request: Request, hub_session_id: str) -> Response:
        hub = hub_session_get(
            tenant=request.tenant, livemode=request.livemode, hub_session_id=hub_session_id
        )
        if hub is None:
            raise ApiError(
                "session_not_found",
                "No such hub session.",
                details={"hub_session_id": hub_session_id},
            )
        return Response(hub_session_repr(hub))
