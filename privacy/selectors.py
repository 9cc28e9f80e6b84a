"""What MRRX holds about one customer in one workspace and mode, and its export document.

There is no customer object in MRRX: a customer is the Stripe customer id that sessions,
custom sessions and hub visits carry. Everything else is found from those rows (receipts,
hub actions, audit entries about them) or by the id itself (webhook events whose ``data``
names it, inbound Stripe events in which it appears, audit entries of the customer
acting or of their data being exported or erased). Every query starts from the workspace
and mode: another workspace's rows never appear, whoever the customer is there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django.db import models
from django.db.models import Q
from django.utils import timezone

from audit.models import ActorKind, AuditAction, AuditEntry
from billing.models import StripeEvent
from hub.models import HubAction, HubSession
from mrrx.formats import iso_timestamp
from retention.models import InvoicePayment, Save
from sessions_app.models import CustomSession, Receipt, Session
from tenants.models import Tenant
from webhooks.models import Delivery, Event

from .redaction import names_customer

# The privacy API's own entries: they name the customer (by id only) but are about the
# merchant's request, not about what the customer did.
PRIVACY_ACTIONS = (AuditAction.CUSTOMER_EXPORTED, AuditAction.CUSTOMER_ERASED)
# The kinds of rows an export lists, in the document's order.
EXPORT_KINDS = (
    "sessions",
    "custom_sessions",
    "hub_sessions",
    "hub_actions",
    "receipts",
    "saves",
    "invoice_payments",
    "events",
    "stripe_events",
    "audit_entries",
)


@dataclass
class Footprint:
    """Every row about one customer in one workspace and mode, oldest first."""

    sessions: list[Session] = field(default_factory=list)
    custom_sessions: list[CustomSession] = field(default_factory=list)
    hub_sessions: list[HubSession] = field(default_factory=list)
    hub_actions: list[HubAction] = field(default_factory=list)
    receipts: list[Receipt] = field(default_factory=list)
    # Saves checked against Stripe (with their checkpoints) and the invoices behind them.
    saves: list[Save] = field(default_factory=list)
    invoice_payments: list[InvoicePayment] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    stripe_events: list[StripeEvent] = field(default_factory=list)
    audit_entries: list[AuditEntry] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {kind: len(getattr(self, kind)) for kind in EXPORT_KINDS}


def _oldest_first(queryset: models.QuerySet, time_field: str = "created_at") -> list[Any]:
    return list(queryset.order_by(time_field, "pk"))


def json_or_text(raw: str) -> Any:
    """A stored body as JSON when it is JSON, else as the text it is."""
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _events_naming(
    *, tenant: Tenant, livemode: bool, customer_id: str, owners: set[str]
) -> list[Event]:
    """Events whose ``data`` names the customer, or whose session (or hub visit) is theirs.

    Bodies are compact JSON (``webhooks.services.emit``), so the id as JSON narrows the
    scan in the database; the parsed body decides.
    """
    needle = '"customer_id":' + json.dumps(customer_id)
    candidates = Event.objects.filter(tenant=tenant, livemode=livemode).filter(
        Q(session_id__in=owners) | Q(body__contains=needle)
    )
    found = []
    for event in _oldest_first(candidates):
        data = json_or_text(event.body)
        data = data.get("data") if isinstance(data, dict) else None
        if event.session_id in owners or (
            isinstance(data, dict) and data.get("customer_id") == customer_id
        ):
            found.append(event)
    return found


def _stripe_events_naming(*, tenant: Tenant, livemode: bool, customer_id: str) -> list[StripeEvent]:
    """Inbound Stripe events of the workspace in which the customer's id appears as a value
    (a subscription's ``customer``, a customer object's ``id``)."""
    candidates = StripeEvent.objects.filter(
        tenant=tenant, livemode=livemode, payload__contains=customer_id
    )
    return [
        event
        for event in _oldest_first(candidates, "received_at")
        if names_customer(json_or_text(event.payload), customer_id)
    ]


def _audit_entries_about(
    *, tenant: Tenant, livemode: bool, customer_id: str, object_ids: set[str]
) -> list[AuditEntry]:
    about = (
        Q(object_id__in=object_ids)
        | Q(actor_kind=ActorKind.SUBSCRIBER, actor_id=customer_id)
        | Q(action__in=PRIVACY_ACTIONS, changes__customer_id=customer_id)
    )
    return _oldest_first(
        AuditEntry.objects.filter(tenant_id=tenant.pk, livemode=livemode).filter(about)
    )


def customer_footprint_get(*, tenant: Tenant, livemode: bool, customer_id: str) -> Footprint:
    """Every row MRRX holds about ``customer_id`` in ``tenant`` and mode ``livemode``."""
    scope = {"tenant": tenant, "livemode": livemode}
    footprint = Footprint(
        sessions=_oldest_first(Session.objects.filter(**scope, customer_id=customer_id)),
        custom_sessions=_oldest_first(
            CustomSession.objects.filter(**scope, customer_id=customer_id)
        ),
        hub_sessions=_oldest_first(HubSession.objects.filter(**scope, customer_id=customer_id)),
        saves=_oldest_first(
            Save.objects.filter(**scope, customer_id=customer_id).prefetch_related("checkpoints")
        ),
        invoice_payments=_oldest_first(
            InvoicePayment.objects.filter(**scope, customer_id=customer_id)
        ),
    )
    hub_ids = {hub.pk for hub in footprint.hub_sessions}
    session_ids = {session.pk for session in footprint.sessions}
    footprint.hub_actions = _oldest_first(
        HubAction.objects.filter(**scope, hub_session_id__in=hub_ids)
    )
    footprint.receipts = _oldest_first(Receipt.objects.filter(session_id__in=session_ids))
    footprint.events = _events_naming(
        tenant=tenant, livemode=livemode, customer_id=customer_id, owners=session_ids | hub_ids
    )
    footprint.stripe_events = _stripe_events_naming(
        tenant=tenant, livemode=livemode, customer_id=customer_id
    )
    object_ids = set().union(
        *(
            {row.pk for row in getattr(footprint, kind)}
            for kind in EXPORT_KINDS
            if kind != "audit_entries"
        )
    )
    footprint.audit_entries = _audit_entries_about(
        tenant=tenant, livemode=livemode, customer_id=customer_id, object_ids=object_ids
    )
    return footprint


# --- The export document -------------------------------------------------------------------
def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso_timestamp(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def _row(obj: models.Model, **replaced: Any) -> dict[str, Any]:
    """Every stored field of ``obj`` but its workspace (the document's own), foreign keys
    by id, times in ISO 8601 UTC; ``replaced`` stands in for fields shown otherwise."""
    row: dict[str, Any] = {}
    for model_field in obj._meta.concrete_fields:
        name = model_field.attname
        if name == "tenant_id":
            continue
        row[name] = replaced[name] if name in replaced else _jsonable(getattr(obj, name))
    return row


def _delivery_row(delivery: Delivery) -> dict[str, Any]:
    """Who the event went to, and how that went (the merchant's recipients of the data)."""
    return {
        "id": delivery.pk,
        "endpoint_id": delivery.endpoint_id,
        "url": delivery.endpoint.url,
        "status": delivery.status,
        "attempts": delivery.attempt_count,
        "last_attempt_at": iso_timestamp(delivery.last_attempt_at),
        "last_status_code": delivery.last_status_code,
        "completed_at": iso_timestamp(delivery.completed_at),
        "created_at": iso_timestamp(delivery.created_at),
    }


def customer_document(
    *, tenant: Tenant, livemode: bool, customer_id: str, footprint: Footprint
) -> dict[str, Any]:
    """The export: the same top-level keys whatever is found (empty lists, zero counts)."""
    actions_by_hub: dict[str, list[dict[str, Any]]] = {}
    for action in footprint.hub_actions:
        actions_by_hub.setdefault(action.hub_session_id, []).append(_row(action))
    deliveries_by_event: dict[str, list[dict[str, Any]]] = {}
    deliveries = Delivery.objects.filter(event__in=footprint.events).select_related("endpoint")
    for delivery in deliveries.order_by("created_at", "pk"):
        deliveries_by_event.setdefault(delivery.event_id, []).append(_delivery_row(delivery))
    return {
        "object": "customer_export",
        "customer_id": customer_id,
        "workspace_id": tenant.pk,
        "livemode": livemode,
        "generated_at": iso_timestamp(timezone.now()),
        "counts": footprint.counts(),
        "sessions": [_row(session) for session in footprint.sessions],
        "custom_sessions": [_row(custom) for custom in footprint.custom_sessions],
        "hub_sessions": [
            {**_row(hub), "actions": actions_by_hub.get(hub.pk, [])}
            for hub in footprint.hub_sessions
        ],
        "receipts": [_row(receipt) for receipt in footprint.receipts],
        "saves": [
            {**_row(save), "checkpoints": [_row(c) for c in save.checkpoints.all()]}
            for save in footprint.saves
        ],
        "invoice_payments": [_row(payment) for payment in footprint.invoice_payments],
        "events": [
            {
                "id": event.pk,
                "type": event.type,
                "created_at": iso_timestamp(event.created_at),
                "payload": json_or_text(event.body),
                "deliveries": deliveries_by_event.get(event.pk, []),
            }
            for event in footprint.events
        ],
        "stripe_events": [
            _row(event, payload=json_or_text(event.payload)) for event in footprint.stripe_events
        ],
        "audit_entries": [_row(entry) for entry in footprint.audit_entries],
    }
