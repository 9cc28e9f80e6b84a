"""Handing over, and erasing, what MRRX holds about one customer (a data subject's requests).

Both work within one workspace and mode, are recorded in the audit log (the API key, or
the system for the commands), and accept any customer id: one MRRX holds nothing about
(never seen, or another workspace's) gets an empty export and an erasure of nothing, so
an answer never tells whether a customer exists elsewhere.

Erasure replaces the person's details with ``[erased]`` in every row about them and keeps
the rows, with their ids, statuses, reason codes, outcomes, amounts, currencies and dates:
analytics, the audit trail and the merchant's books stay whole. The customer id itself is
kept: it is Stripe's pseudonymous key, meaningless without the merchant's and Stripe's own
records, and it is what joins the remaining figures (and what the merchant's systems
receive in ``customer.erased`` to erase their copies).
"""

from __future__ import annotations

import json
import re
from typing import Any

from django.db import models, transaction
from django.utils import timezone

from audit.models import ActorKind, AuditAction
from audit.services import AuditRedaction, audit_entries_redact, audit_record
from mrrx.formats import iso_timestamp
from mrrx.models import IdempotencyRecord
from sessions_app.models import ReceiptStatus
from tenants.models import Tenant
from webhooks.models import Delivery, DeliveryAttempt
from webhooks.services import event_emit

from .redaction import (
    ERASED,
    Needles,
    erased,
    flow_match_erased,
    names_customer,
    redacted,
    texts_in,
)
from .selectors import (
    PRIVACY_ACTIONS,
    Footprint,
    customer_document,
    customer_footprint_get,
    json_or_text,
)

CUSTOMER_ERASED_EVENT = "customer.erased"
# Stripe's ids (cus_...), or the merchant's own ids on custom sessions: printable, one word.
CUSTOMER_ID = re.compile(r"^[^\s\x00-\x1f\x7f]{1,255}$")
# The kinds of rows an erasure counts, in the order its answer and webhook list them.
ERASE_KINDS = (
    "sessions",
    "custom_sessions",
    "hub_sessions",
    "hub_actions",
    "receipts",
    "events",
    "deliveries",
    "delivery_attempts",
    "stripe_events",
    "audit_entries",
    "idempotency_records",
)
RECEIPT_NOT_SENT = "Not sent: the customer's data was erased before it went out."


def customer_export(*, tenant: Tenant, livemode: bool, customer_id: str) -> dict[str, Any]:
    """Everything MRRX holds about ``customer_id`` in ``tenant`` and mode, as one JSON
    document (``privacy.selectors.customer_document``), recorded in the audit log."""
    with transaction.atomic():
        footprint = customer_footprint_get(
            tenant=tenant, livemode=livemode, customer_id=customer_id
        )
        document = customer_document(
            tenant=tenant, livemode=livemode, customer_id=customer_id, footprint=footprint
        )
        audit_record(
            action=AuditAction.CUSTOMER_EXPORTED,
            target=tenant,
            tenant_id=tenant.pk,
            livemode=livemode,
            changes={"customer_id": customer_id, "counts": document["counts"]},
        )
    return document


def _needles(footprint: Footprint) -> Needles:
    """The customer's addresses, names, feedback and free-text reasons, wherever stored."""
    texts: list[str] = []
    for session in footprint.sessions:
        texts += texts_in(session.subscription_snapshot)
        texts += [session.survey_feedback, session.survey_reason_other]
    for custom in footprint.custom_sessions:
        texts += [custom.survey_reason_other, *texts_in(custom.outcome_details)]
    for hub in footprint.hub_sessions:
        texts.append(hub.customer_email)
    for receipt in footprint.receipts:
        texts.append(receipt.to_email)
    for event in footprint.events:
        texts += texts_in(json_or_text(event.body))
    for stripe_event in footprint.stripe_events:
        texts += texts_in(json_or_text(stripe_event.payload))
    for entry in footprint.audit_entries:
        texts += texts_in(entry.changes)
    return Needles(texts)


def _update_changed(row: models.Model, **values: Any) -> bool:
    """Write the values of ``row`` that differ (one UPDATE), and say whether any did."""
    changed = {name: value for name, value in values.items() if getattr(row, name) != value}
    if changed:
        type(row)._default_manager.filter(pk=row.pk).update(**changed)
        for name, value in changed.items():
            setattr(row, name, value)
    return bool(changed)


def _text_erased(value: str) -> str:
    return ERASED if value else value


def _erase_rows(footprint: Footprint, needles: Needles) -> dict[str, int]:
    counts = dict.fromkeys(ERASE_KINDS, 0)
    for session in footprint.sessions:
        counts["sessions"] += _update_changed(
            session,
            subscription_snapshot=redacted(session.subscription_snapshot, needles),
            metadata=erased(session.metadata),
            context=erased(session.context),
            survey_reason_other=_text_erased(session.survey_reason_other),
            survey_feedback=_text_erased(session.survey_feedback),
            return_url=needles.scrub(session.return_url),
            failure=redacted(session.failure, needles),
            flow_match=flow_match_erased(session.flow_match),
        )
    for custom in footprint.custom_sessions:
        counts["custom_sessions"] += _update_changed(
            custom,
            survey_reason_other=_text_erased(custom.survey_reason_other),
            metadata=erased(custom.metadata),
            outcome_details=redacted(custom.outcome_details, needles),
        )
    for hub in footprint.hub_sessions:
        counts["hub_sessions"] += _update_changed(
            hub,
            customer_email=_text_erased(hub.customer_email),
            metadata=erased(hub.metadata),
            return_url=needles.scrub(hub.return_url),
        )
    for action in footprint.hub_actions:
        counts["hub_actions"] += _update_changed(
            action,
            params=redacted(action.params, needles),
            outcome=redacted(action.outcome, needles),
            failure=redacted(action.failure, needles),
        )
    for receipt in footprint.receipts:
        values: dict[str, Any] = {
            "to_email": _text_erased(receipt.to_email),
            "subject": needles.scrub(receipt.subject),
            "last_error": needles.scrub(receipt.last_error),
        }
        # A receipt still waiting has no address left to go to; one being sent right now
        # is the worker's, which already holds its message.
        if receipt.status == ReceiptStatus.PENDING:
            values.update(
                status=ReceiptStatus.FAILED,
                next_attempt_at=None,
                failed_at=timezone.now(),
                last_error=RECEIPT_NOT_SENT,
            )
        counts["receipts"] += _update_changed(receipt, **values)
    return counts


def _erase_webhooks(footprint: Footprint, needles: Needles, counts: dict[str, int]) -> None:
    # customer.erased events carry the id and counts only, and must not be erased again.
    events = [event for event in footprint.events if event.type != CUSTOMER_ERASED_EVENT]
    for event in events:
        payload = json_or_text(event.body)
        if isinstance(payload, dict):
            after = redacted(payload, needles)
            body = json.dumps(after, separators=(",", ":")) if after != payload else event.body
        else:
            body = needles.scrub(event.body)
        counts["events"] += _update_changed(event, body=body)
    deliveries = list(Delivery.objects.filter(event__in=events).order_by("pk"))
    for delivery in deliveries:
        counts["deliveries"] += _update_changed(
            delivery, last_error=needles.scrub(delivery.last_error)
        )
    for attempt in DeliveryAttempt.objects.filter(delivery__in=deliveries).order_by("pk"):
        # What a receiver answered is its own text, often an echo of what it was sent:
        # nothing in it can be told apart from the person, so none of it is kept.
        counts["delivery_attempts"] += _update_changed(
            attempt,
            response_body=_text_erased(attempt.response_body),
            error=needles.scrub(attempt.error),
        )


def _erase_stripe_events(footprint: Footprint, needles: Needles, counts: dict[str, int]) -> None:
    for stripe_event in footprint.stripe_events:
        payload = json_or_text(stripe_event.payload)
        after = redacted(payload, needles)
        if isinstance(after, str):
            stored = after
        else:
            # No longer the bytes Stripe signed: the signature was checked on arrival.
            stored = json.dumps(after) if after != payload else stripe_event.payload
        counts["stripe_events"] += _update_changed(
            stripe_event, payload=stored, error=needles.scrub(stripe_event.error)
        )


def _erase_audit_entries(
    footprint: Footprint, needles: Needles, customer_id: str, tenant: Tenant
) -> int:
    redactions: dict[str, AuditRedaction] = {}
    for entry in footprint.audit_entries:
        if entry.action in PRIVACY_ACTIONS:
            continue  # the merchant's requests: the id and counts, and the caller's network
        changes = redacted(entry.changes, needles)
        # The network and browser recorded are the customer's only where they acted.
        by_customer = entry.actor_kind == ActorKind.SUBSCRIBER and entry.actor_id == customer_id
        forget_client = by_customer and (
            entry.ip is not None or entry.user_agent not in ("", ERASED)
        )
        if changes != entry.changes or forget_client:
            redactions[entry.pk] = AuditRedaction(changes=changes, forget_client=forget_client)
    return audit_entries_redact(tenant_id=tenant.pk, redactions=redactions, user_agent=ERASED)


def _erase_idempotency_records(
    *, tenant: Tenant, livemode: bool, customer_id: str, needles: Needles
) -> int:
    """Stored API answers (replayed for 24 hours) that name the customer: a session's or
    hub visit's metadata and address, as they were created."""
    erased_count = 0
    records = IdempotencyRecord.objects.filter(tenant=tenant, livemode=livemode).exclude(
        response_body=None
    )
    for record in records.order_by("pk"):
        if names_customer(record.response_body, customer_id):
            erased_count += _update_changed(
                record, response_body=redacted(record.response_body, needles)
            )
    return erased_count


def customer_erase(*, tenant: Tenant, livemode: bool, customer_id: str) -> dict[str, Any]:
    """Replace the personal details of ``customer_id`` in every row about them in
    ``tenant`` and mode; returns the customer id and how many rows of each kind changed.

    Names, addresses, feedback and free-text reasons, metadata and context values, the
    networks and browsers the customer acted from, the receipts' address, and what
    webhook receivers answered become ``[erased]``; the figures stay. In one transaction,
    with its audit entry and a ``customer.erased`` event (the id and the counts). Safe to
    repeat: what is erased stays so, and a second run counts nothing new.
    """
    with transaction.atomic():
        footprint = customer_footprint_get(
            tenant=tenant, livemode=livemode, customer_id=customer_id
        )
        needles = _needles(footprint)
        counts = _erase_rows(footprint, needles)
        _erase_webhooks(footprint, needles, counts)
        _erase_stripe_events(footprint, needles, counts)
        counts["audit_entries"] = _erase_audit_entries(footprint, needles, customer_id, tenant)
        counts["idempotency_records"] = _erase_idempotency_records(
            tenant=tenant, livemode=livemode, customer_id=customer_id, needles=needles
        )
        event = event_emit(
            tenant=tenant,
            livemode=livemode,
            type=CUSTOMER_ERASED_EVENT,
            data={"customer_id": customer_id, "counts": counts},
        )
        audit_record(
            action=AuditAction.CUSTOMER_ERASED,
            target=tenant,
            tenant_id=tenant.pk,
            livemode=livemode,
            changes={"customer_id": customer_id, "counts": counts, "event_id": event.pk},
        )
    return {
        "object": "customer_erasure",
        "customer_id": customer_id,
        "workspace_id": tenant.pk,
        "livemode": livemode,
        "erased_at": iso_timestamp(event.created_at),
        "counts": counts,
        "event_id": event.pk,
    }
