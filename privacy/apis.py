"""``/api/v1/customers/<customer_id>/export`` and ``/erase``: what MRRX holds about a
customer, handed over or erased, within the key's workspace and mode."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from mrrx.api.errors import ApiError
from mrrx.api.schema import error_responses
from mrrx.api.serializers import StrictSerializer
from mrrx.api.views import ApiView
from tenants.models import SCOPE_PRIVACY_WRITE

from .selectors import EXPORT_KINDS
from .services import CUSTOMER_ID, ERASE_KINDS, customer_erase, customer_export


def customer_id_checked(customer_id: str) -> str:
    if not CUSTOMER_ID.match(customer_id):
        raise ApiError(
            "validation_error",
            "A customer id is 1 to 255 characters, without spaces or control characters.",
            details={"customer_id": "must be 1 to 255 characters without spaces"},
        )
    return customer_id


PRIVACY_ERRORS = (
    "validation_error",
    "invalid_request",
    "invalid_api_key",
    "expired_api_key",
    "insufficient_permissions",
    "rate_limited",
    "internal_error",
)


def _rows(help_text: str = "") -> serializers.ListField:
    return serializers.ListField(child=serializers.DictField(), help_text=help_text)


class ExportCountsSerializer(serializers.Serializer):
    sessions = serializers.IntegerField()
    custom_sessions = serializers.IntegerField()
    hub_sessions = serializers.IntegerField()
    hub_actions = serializers.IntegerField(help_text="listed under their hub session")
    receipts = serializers.IntegerField()
    events = serializers.IntegerField()
    stripe_events = serializers.IntegerField()
    audit_entries = serializers.IntegerField()

    class Meta:
        ref_name = "CustomerExportCounts"


class EraseCountsSerializer(serializers.Serializer):
    sessions = serializers.IntegerField()
    custom_sessions = serializers.IntegerField()
    hub_sessions = serializers.IntegerField()
    hub_actions = serializers.IntegerField()
    receipts = serializers.IntegerField()
    events = serializers.IntegerField()
    deliveries = serializers.IntegerField()
    delivery_attempts = serializers.IntegerField()
    stripe_events = serializers.IntegerField()
    audit_entries = serializers.IntegerField()
    idempotency_records = serializers.IntegerField()

    class Meta:
        ref_name = "CustomerErasureCounts"


EXPORT_EXAMPLE = {
    "object": "customer_export",
    "customer_id": "cus_ABC123",
    "workspace_id": "ws_0kz3v5x2w1q0a9b8c7d6e5f4g",
    "livemode": False,
    "generated_at": "2026-03-02T10:00:00.000Z",
    "counts": {kind: 0 for kind in EXPORT_KINDS} | {"sessions": 1, "audit_entries": 1},
    "sessions": [
        {
            "id": "ses_0kz3v5x2w1q0a9b8c7d6e5f4g",
            "customer_id": "cus_ABC123",
            "status": "completed",
            "subscription_snapshot": {"customer_email": "jane@example.com", "status": "active"},
            "metadata": {"user_id": "usr_123"},
            "survey_reason": "too_expensive",
            "survey_feedback": "Too pricey for us",
            "outcome_action": "cancel",
            "price_amount": 2900,
            "price_currency": "usd",
            "created_at": "2026-02-01T09:00:00.000Z",
            "...": "every stored field",
        }
    ],
    "custom_sessions": [],
    "hub_sessions": [],
    "receipts": [],
    "saves": [],
    "invoice_payments": [],
    "events": [],
    "stripe_events": [],
    "audit_entries": [
        {
            "id": "aud_0kz3v5x2w1q0a9b8c7d6e5f4g",
            "action": "session.viewed",
            "actor_kind": "subscriber",
            "actor_id": "cus_ABC123",
            "object_id": "ses_0kz3v5x2w1q0a9b8c7d6e5f4g",
            "ip": "203.0.113.0",
            "user_agent": "Mozilla/5.0 ...",
            "created_at": "2026-02-01T09:00:05.000Z",
            "...": "every stored field",
        }
    ],
}
ERASURE_EXAMPLE = {
    "object": "customer_erasure",
    "customer_id": "cus_ABC123",
    "workspace_id": "ws_0kz3v5x2w1q0a9b8c7d6e5f4g",
    "livemode": False,
    "erased_at": "2026-03-02T10:05:00.000Z",
    "counts": {kind: 0 for kind in ERASE_KINDS}
    | {"sessions": 1, "receipts": 1, "events": 2, "delivery_attempts": 2, "audit_entries": 5},
    "event_id": "evt_0kz3v5x2w1q0a9b8c7d6e5f4g",
}


class CustomerExportApi(ApiView):
    """``POST`` answers with everything MRRX holds about the customer, as one document."""

    required_scopes = (SCOPE_PRIVACY_WRITE,)
    rate_limit_scope = "customers.export"
    # The answer is the customer's data: never stored for a replay (an Idempotency-Key
    # would keep it for a day), and exporting again is harmless.
    idempotent_methods = ()

    class InputSerializer(StrictSerializer):
        class Meta:
            ref_name = "CustomerExportRequest"

    class OutputSerializer(serializers.Serializer):
        object = serializers.CharField(help_text='"customer_export"')
        customer_id = serializers.CharField()
        workspace_id = serializers.CharField()
        livemode = serializers.BooleanField()
        generated_at = serializers.CharField()
        counts = ExportCountsSerializer()
        sessions = _rows("every stored field of each")
        custom_sessions = _rows()
        hub_sessions = _rows("each with its `actions`")
        receipts = _rows()
        events = _rows("webhook events naming the customer, with `payload` and `deliveries`")
        stripe_events = _rows("`payload` as Stripe sent it")
        audit_entries = _rows()

        class Meta:
            ref_name = "CustomerExport"

    @extend_schema(
        operation_id="customers_export",
        summary="Export everything MRRX holds about a customer",
        description=(
            "Every session, custom session, hub session (with its actions), receipt, "
            "webhook event whose data names the customer (with where it was delivered), "
            "inbound Stripe event naming them and audit entry about them, in the key's "
            "workspace and mode, as one document: always the same top-level keys, lists "
            "oldest first, times in ISO 8601 UTC, `counts` of each kind. A customer MRRX "
            "holds nothing about (never seen here, or another workspace's) gets the same "
            "document, empty, with zero counts. Recorded in the audit log. Needs the "
            "`privacy:write` scope, which keys get only when asked for. `Idempotency-Key` "
            "is ignored: the answer is never stored."
        ),
        request=InputSerializer,
        responses={200: OutputSerializer, **error_responses(*PRIVACY_ERRORS)},
        examples=[
            OpenApiExample("Export", response_only=True, status_codes=["200"], value=EXPORT_EXAMPLE)
        ],
    )
    def post(self, request: Request, customer_id: str) -> Response:
        self.InputSerializer(data=request.data).is_valid(raise_exception=True)
        document = customer_export(
            tenant=request.tenant,
            livemode=request.livemode,
            customer_id=customer_id_checked(customer_id),
        )
        return Response(document)


class CustomerEraseApi(ApiView):
    """``POST`` replaces the customer's personal details with ``[erased]`` everywhere."""

    required_scopes = (SCOPE_PRIVACY_WRITE,)
    rate_limit_scope = "customers.erase"

    class InputSerializer(StrictSerializer):
        class Meta:
            ref_name = "CustomerEraseRequest"

    class OutputSerializer(serializers.Serializer):
        object = serializers.CharField(help_text='"customer_erasure"')
        customer_id = serializers.CharField()
        workspace_id = serializers.CharField()
        livemode = serializers.BooleanField()
        erased_at = serializers.CharField()
        counts = EraseCountsSerializer(help_text="rows changed by this erasure, per kind")
        event_id = serializers.CharField(help_text="the customer.erased event")

        class Meta:
            ref_name = "CustomerErasure"

    @extend_schema(
        operation_id="customers_erase",
        summary="Erase a customer's personal details",
        description=(
            "In every row the export would list, and in the webhook deliveries' logs, the "
            "inbound Stripe events naming the customer and the stored answers of API "
            "calls, replaces email addresses, names, feedback and free-text reasons, "
            "metadata and context values, the customer's networks and user agents, and "
            "what webhook receivers answered with `[erased]`, keeping keys and shapes. "
            "Ids (the customer id included), statuses, reason codes, outcomes, amounts, "
            "currencies and dates stay, so analytics do not change. `counts` are the "
            "rows changed now: erasing again answers 200 with zeros. Sends "
            "`customer.erased` (the customer id and these counts) and is recorded in the "
            "audit log. Needs the `privacy:write` scope."
        ),
        request=InputSerializer,
        parameters=[
            OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=False)
        ],
        responses={
            200: OutputSerializer,
            **error_responses(*PRIVACY_ERRORS, "idempotency_in_progress", "idempotency_key_reused"),
        },
        examples=[
            OpenApiExample(
                "Erased", response_only=True, status_codes=["200"], value=ERASURE_EXAMPLE
            )
        ],
    )
    def post(self, request: Request, customer_id: str) -> Response:
        self.InputSerializer(data=request.data).is_valid(raise_exception=True)
        erasure = customer_erase(
            tenant=request.tenant,
            livemode=request.livemode,
            customer_id=customer_id_checked(customer_id),
        )
        return Response(erasure)
