"""``/api/v1/subscriptions/<id>/cancel``: a direct cancel by the merchant's backend."""

from __future__ import annotations

import re
from typing import Any

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from mrrx.api.errors import ApiError
from mrrx.api.schema import error_responses
from mrrx.api.serializers import StrictSerializer
from mrrx.api.views import ApiView
from tenants.models import SCOPE_SUBSCRIPTIONS_WRITE

from .apis import SESSION_EXAMPLE, SessionSerializer
from .direct_cancel import subscription_cancel
from .flow import FEEDBACK_MAX, REASON_OTHER_MAX
from .serializers import session_repr

SUBSCRIPTION_ID = re.compile(r"^sub_\w{1,250}$")


class StrictBooleanField(serializers.BooleanField):
    """JSON ``true`` or ``false`` only: ``"no"`` or ``0`` for "cancel now or later?" is a
    guess we should not make."""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


CANCEL_ERRORS = (
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
)
CANCEL_DESCRIPTION = (
    "Cancels the subscription on Stripe at once, with `cancellation_details` from the "
    "reason and feedback, and records it as a completed session of source `api` "
    "(`session.completed` and `subscription.canceled` are sent). Needs the "
    "`subscriptions:write` scope, which keys get only when asked for. `at_period_end` "
    "defaults to the workspace's flow setting. A subscription already set to cancel at "
    "its period's end may still be canceled now; asked to cancel at the period's end "
    "again, it is `subscription_already_canceled`. An open session of the subscription "
    "ends (`end_reason` `canceled_directly`); one executing its action is a 409. On a "
    "Stripe failure the attempt is recorded as a `failed` session (its id in "
    "`details.session_id`). Send `Idempotency-Key` to retry safely."
)
CANCELED_EXAMPLE = {
    **SESSION_EXAMPLE,
    "outcome": {
        "action": "cancel",
        "executed_at": "2026-01-29T15:30:00.000Z",
        "details": {"canceled_at": "2026-02-15T00:00:00.000Z", "cancel_at_period_end": True},
    },
    "survey_response": {
        "reason": "too_expensive",
        "reason_other": None,
        "feedback": "We are cutting tools this quarter.",
    },
    "created_at": "2026-01-29T15:30:00.000Z",
    "expires_at": "2026-01-29T15:30:00.000Z",
    "metadata": {},
    "return_url": None,
    "source": "api",
}


class SubscriptionCancelApi(ApiView):
    """``POST`` (or ``PUT``, an alias) cancels the subscription, now or at period end."""

    required_scopes = (SCOPE_SUBSCRIPTIONS_WRITE,)
    rate_limit_scope = "subscriptions.cancel"
    idempotent_methods = ("POST", "PUT")

    class InputSerializer(StrictSerializer):
        reason = serializers.CharField(
            max_length=32, required=False, help_text="one of the workspace's survey reasons"
        )
        reason_other = serializers.CharField(
            max_length=REASON_OTHER_MAX,
            required=False,
            allow_blank=True,
            help_text='required when reason is "other", and only then',
        )
        feedback = serializers.CharField(
            max_length=FEEDBACK_MAX,
            required=False,
            allow_blank=True,
            help_text="free text, sent to Stripe as the cancellation comment; needs a reason",
        )
        at_period_end = StrictBooleanField(
            required=False, help_text="default: the workspace's flow setting"
        )
        customer_id = serializers.RegexField(
            r"^cus_\w+$",
            max_length=255,
            required=False,
            help_text="when given, the subscription must belong to this customer",
        )

        class Meta:
            ref_name = "SubscriptionCancel"

    def _cancel(self, request: Request, subscription_id: str) -> Response:
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        # Not an id Stripe could hold: answered without asking Stripe.
        if not SUBSCRIPTION_ID.match(subscription_id):
            raise ApiError(
                "subscription_not_found",
                "No such subscription in the connected Stripe account.",
                details={"subscription_id": subscription_id},
            )
        session = subscription_cancel(
            tenant=request.tenant,
            livemode=request.livemode,
            subscription_id=subscription_id,
            **payload.validated_data,
        )
        return Response(session_repr(session))

    @extend_schema(
        operation_id="subscriptions_cancel",
        summary="Cancel a subscription directly, with a reason",
        description=CANCEL_DESCRIPTION,
        request=InputSerializer,
        parameters=[
            OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=False)
        ],
        responses={200: SessionSerializer, **error_responses(*CANCEL_ERRORS)},
        examples=[
            OpenApiExample(
                "Cancel at period end",
                request_only=True,
                value={
                    "reason": "too_expensive",
                    "feedback": "We are cutting tools this quarter.",
                    "at_period_end": True,
                    "customer_id": "cus_ABC123",
                },
            ),
            OpenApiExample(
                "Canceled", response_only=True, status_codes=["200"], value=CANCELED_EXAMPLE
            ),
        ],
    )
    def post(self, request: Request, subscription_id: str) -> Response:
        return self._cancel(request, subscription_id)

    @extend_schema(
        operation_id="subscriptions_cancel_put",
        summary="Cancel a subscription directly (PUT alias of POST)",
        description=CANCEL_DESCRIPTION,
        request=InputSerializer,
        parameters=[
            OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=False)
        ],
        responses={200: SessionSerializer, **error_responses(*CANCEL_ERRORS)},
    )
    def put(self, request: Request, subscription_id: str) -> Response:
        return self._cancel(request, subscription_id)
