"""``POST /api/v1/results/verify``: the trusted outcome behind a result token."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from mrrx.api.errors import ApiError
from mrrx.api.schema import error_responses
from mrrx.api.views import PublicApiView

from .apis import OutcomeSerializer, SurveySerializer
from .models import Session
from .serializers import outcome_repr, survey_repr
from .tokens import RESULT_AUDIENCE, InvalidToken, token_verify


class ResultVerifyApi(PublicApiView):
    """Called from the merchant's server, or from its page through mrrx.js (hence CORS).
    The token is the credential: no API key."""

    rate_limit_scope = "results.verify"

    class InputSerializer(serializers.Serializer):
        token = serializers.CharField(max_length=4096)

        class Meta:
            ref_name = "ResultVerifyRequest"

    class OutputSerializer(serializers.Serializer):
        valid = serializers.BooleanField()
        session_id = serializers.CharField()
        workspace_id = serializers.CharField()
        livemode = serializers.BooleanField()
        status = serializers.CharField()
        customer_id = serializers.CharField()
        subscription_id = serializers.CharField()
        outcome = OutcomeSerializer(allow_null=True)
        survey_response = SurveySerializer(allow_null=True)

        class Meta:
            ref_name = "VerifiedResult"

    @extend_schema(
        operation_id="results_verify",
        summary="Verify a result token from the return redirect",
        auth=[],
        request=InputSerializer,
        responses={
            200: OutputSerializer,
            **error_responses(
                "validation_error", "invalid_request", "invalid_token", "rate_limited"
            ),
        },
        examples=[OpenApiExample("Verify", request_only=True, value={"token": "eyJhbGciOi..."})],
    )
    def post(self, request: Request) -> Response:
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            claims = token_verify(token=payload.validated_data["token"], audience=RESULT_AUDIENCE)
        except InvalidToken as exc:
            raise ApiError(
                "invalid_token",
                "The result token has expired."
                if exc.expired
                else "The result token is not valid.",
            ) from exc
        session = Session.objects.filter(
            id=claims.get("sid"), tenant_id=claims.get("tid"), livemode=claims.get("lm")
        ).first()
        if session is None:
            raise ApiError("invalid_token", "The result token is not valid.")
        return Response(
            {
                "valid": True,
                "session_id": session.id,
                "workspace_id": session.tenant_id,
                "livemode": session.livemode,
                "status": session.status,
                "customer_id": session.customer_id,
                "subscription_id": session.subscription_id,
                "outcome": outcome_repr(session),
                "survey_response": survey_repr(session),
            }
        )

    def options(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return Response(status=204)

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Access-Control-Allow-Origin"] = "*"
        response["Access-Control-Allow-Methods"] = "POST, OPTIONS"
        response["Access-Control-Allow-Headers"] = "Content-Type"
        response["Access-Control-Max-Age"] = "600"
        return response
