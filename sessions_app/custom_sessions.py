"""Cancellations from a merchant's own flow, reported to MRRX for analytics.

A merchant that keeps its own cancel screens sends each one's outcome here, keyed by its
own stable ``external_id``: a retried report, or a later one with more fields, updates the
same record. Nothing is done on Stripe.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from mrrx.formats import iso_timestamp
from tenants.models import Tenant

from .models import CustomSession
from .outcomes import outcome_recorded

# The columns whose change the layers above hear of (a save to verify, or no longer, and
# the reason its save is counted under).
SAVE_FIELDS = frozenset(
    {"outcome_action", "outcome_details", "subscription_id", "mrr_amount", "survey_reason"}
)


def _columns(fields: dict[str, Any]) -> dict[str, Any]:
    """The model's columns for the body fields that were given."""
    columns: dict[str, Any] = {}
    for name, value in fields.items():
        if name == "reason":
            columns["survey_reason"] = value or ""
        elif name == "reason_other":
            columns["survey_reason_other"] = value or ""
        elif name == "outcome":
            columns["outcome_action"] = value["action"] if value else ""
            columns["outcome_details"] = (value.get("details") or {}) if value else None
        elif name == "mrr":
            columns["mrr_amount"] = value["amount"] if value else None
            columns["mrr_currency"] = value["currency"].lower() if value else ""
        elif name == "subscription_id":
            columns["subscription_id"] = value or ""
        else:  # customer_id, offers_shown, metadata: stored as given
            columns[name] = value
    return columns


def custom_session_upsert(
    *,
    tenant: Tenant,
    livemode: bool,
    external_id: str,
    started_at: datetime,
    fields: dict[str, Any],
) -> tuple[CustomSession, bool]:
    """Record the merchant's cancellation ``external_id``, or update the one recorded.

    ``fields`` holds only what the request gave; those replace what is stored, the rest
    is kept. ``started_at`` never moves once recorded. Returns the record and whether it
    was created. Concurrent reports of one ``external_id`` make one record: the unique
    constraint decides who creates it, and the others update it under a row lock.
    """
    columns = _columns(fields)
    now = timezone.now()
    lookup = {"tenant": tenant, "livemode": livemode, "external_id": external_id}
    with transaction.atomic():
        record = CustomSession.objects.select_for_update().filter(**lookup).first()
        if record is None:
            try:
                with transaction.atomic():
                    record = CustomSession.objects.create(
                        **lookup, started_at=started_at, created_at=now, updated_at=now, **columns
                    )
                if columns.keys() & SAVE_FIELDS:
                    outcome_recorded(kind="custom_session", record_id=record.pk)
                return record, True
            except IntegrityError:
                record = CustomSession.objects.select_for_update().get(**lookup)
        for name, value in columns.items():
            setattr(record, name, value)
        record.updated_at = now
        record.save(update_fields=[*columns, "updated_at"])
        if columns.keys() & SAVE_FIELDS:
            outcome_recorded(kind="custom_session", record_id=record.pk)
    return record, False


def custom_session_get(*, tenant: Tenant, livemode: bool, custom_session_id: str):  # type: ignore[no-untyped-def]
    return CustomSession.objects.filter(
        tenant=tenant, livemode=livemode, id=custom_session_id
    ).first()


def custom_session_list(
    *,
    tenant: Tenant,
    livemode: bool,
    external_id: str | None = None,
    customer_id: str | None = None,
) -> QuerySet[CustomSession]:
    filters: dict[str, Any] = {"tenant": tenant, "livemode": livemode}
    if external_id:
        filters["external_id"] = external_id
    if customer_id:
        filters["customer_id"] = customer_id
    return CustomSession.objects.filter(**filters)


def custom_session_repr(record: CustomSession) -> dict[str, Any]:
    """``GET /api/v1/custom_sessions/<id>``."""
    return {
        "id": record.id,
        "external_id": record.external_id,
        "customer_id": record.customer_id,
        "subscription_id": record.subscription_id or None,
        "started_at": iso_timestamp(record.started_at),
        "reason": record.survey_reason or None,
        "reason_other": record.survey_reason_other or None,
        "offers_shown": record.offers_shown,
        "outcome": (
            {"action": record.outcome_action, "details": record.outcome_details or {}}
            if record.outcome_action
            else None
        ),
        "mrr": (
            {"amount": record.mrr_amount, "currency": record.mrr_currency}
            if record.mrr_amount is not None
            else None
        ),
        "metadata": record.metadata,
        "livemode": record.livemode,
        "created_at": iso_timestamp(record.created_at),
        "updated_at": iso_timestamp(record.updated_at),
    }
