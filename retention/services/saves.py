"""Writing a save, with its three checkpoints, for every outcome that kept a subscription.

Two ways in, both safe to repeat: the listener ``sessions_app.outcomes`` calls after an
outcome commits, and the periodic pass (:func:`saves_record_missing`), which finds in a
few set-based reads any completed session or custom session that still has no save (a
listener that failed, a deflection recorded by code that tells no listener).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q, Sum
from django.db.models.functions import Coalesce

from sessions_app.models import CustomSession, Session, SessionStatus

from ..models import (
    CHECKPOINT_DAYS,
    CUSTOM_SOURCE,
    InvoicePayment,
    InvoicePaymentStatus,
    Save,
    SaveCheckpoint,
)
from ..rules import KEPT_ACTIONS, accepted_offer_id, monthly_amount, pause_end

BATCH = 1000


def _from_session(session: Session) -> Save:
    details = session.outcome_details or {}
    amount, interval, count = (
        session.price_amount,
        session.price_interval,
        session.price_interval_count,
    )
    if session.outcome_action == "downgrade" and details.get("new_amount") is not None:
        amount = details["new_amount"]
        interval = details.get("interval") or interval
        count = details.get("interval_count") or count
    return Save(
        tenant_id=session.tenant_id,
        livemode=session.livemode,
        session_id=session.pk,
        customer_id=session.customer_id,
        subscription_id=session.subscription_id,
        outcome_action=session.outcome_action,
        saved_at=session.executed_at or session.completed_at,
        paused_until=pause_end(details) if session.outcome_action == "pause" else None,
        mrr_amount=monthly_amount(amount, interval, count),
        currency=(details.get("currency") or session.price_currency or "").lower(),
        **session_copies(session),
    )


def session_copies(session: Session) -> dict[str, Any]:
    """What a save keeps of its session, so that retention reads never join the sessions:
    when and through which source it started, its experiment arm, reason and the offer
    accepted."""
    return {
        "session_started_at": session.created_at,
        "session_source": session.source,
        "experiment_id": session.experiment_id,
        "experiment_arm": session.experiment_arm,
        "survey_reason": session.survey_reason,
        "accepted_offer_id": accepted_offer_id(session.offers_considered, session.outcome_action),
    }


def _from_custom_session(record: CustomSession) -> Save:
    return Save(
        tenant_id=record.tenant_id,
        livemode=record.livemode,
        custom_session_id=record.pk,
        customer_id=record.customer_id,
        subscription_id=record.subscription_id,
        outcome_action=record.outcome_action,
        saved_at=record.started_at,
        paused_until=(
            pause_end(record.outcome_details) if record.outcome_action == "pause" else None
        ),
        mrr_amount=record.mrr_amount,
        currency=(record.mrr_currency or "").lower(),
        session_started_at=record.started_at,
        session_source=CUSTOM_SOURCE,
        survey_reason=record.survey_reason,
    )


def _checkpoints(save: Save) -> list[SaveCheckpoint]:
    return [
        SaveCheckpoint(save_record_id=save.pk, day=day, due_at=save.saved_at + timedelta(days=day))
        for day in CHECKPOINT_DAYS
    ]


def _write(saves: list[Save]) -> int:
    """Insert saves and their checkpoints; a save another process wrote first is skipped
    (its source is unique), so each gets exactly one set of checkpoints."""
    written = 0
    for save in saves:
        try:
            with transaction.atomic():
                save.save(force_insert=True)
                SaveCheckpoint.objects.bulk_create(_checkpoints(save))
        except IntegrityError:
            continue
        written += 1
    if written:
        saves_revenue_refresh(saves=[s for s in saves if s.pk and not s._state.adding])
    return written


def save_record_for_session(*, session_id: str) -> Save | None:
    """The save of a completed session whose outcome kept its subscription (written now if
    missing); None for any other session."""
    session = Session.objects.filter(
        pk=session_id, status=SessionStatus.COMPLETED, outcome_action__in=KEPT_ACTIONS
    ).first()
    if session is None:
        return None
    existing = Save.objects.filter(session_id=session.pk).first()
    if existing is not None:
        return existing
    _write([_from_session(session)])
    return Save.objects.filter(session_id=session.pk).first()


def save_record_for_custom_session(*, custom_session_id: str) -> Save | None:
    """The save of a merchant-reported session with a kept outcome and a subscription.

    A report that later changes the outcome to one that did not keep the subscription (or
    drops the subscription) removes the save: it was never one.
    """
    record = CustomSession.objects.filter(pk=custom_session_id).first()
    if record is None:
        return None
    kept = record.outcome_action in KEPT_ACTIONS and bool(record.subscription_id)
    existing = Save.objects.filter(custom_session_id=record.pk).first()
    if not kept:
        if existing is not None:
            existing.delete()
        return None
    if existing is not None:
        # A later report may give the reason; the save's copy follows it.
        if existing.survey_reason != record.survey_reason:
            existing.survey_reason = record.survey_reason
            existing.save(update_fields=["survey_reason"])
        return existing
    _write([_from_custom_session(record)])
    return Save.objects.filter(custom_session_id=record.pk).first()


def save_record_listener(*, kind: str, record_id: str) -> None:
    """``sessions_app.outcomes`` listener: write the save an outcome calls for."""
    if kind == "session":
        save_record_for_session(session_id=record_id)
    elif kind == "custom_session":
        save_record_for_custom_session(custom_session_id=record_id)


def saves_record_missing(*, batch: int = BATCH, limit: int | None = None) -> int:
    """Write the saves still missing, a batch at a time; returns how many were written."""
    written = 0
    has_save = Save.objects.filter(session_id=OuterRef("pk"))
    sessions = Session.objects.filter(
        ~Exists(has_save),
        status=SessionStatus.COMPLETED,
        outcome_action__in=KEPT_ACTIONS,
    ).filter(Q(executed_at__isnull=False) | Q(completed_at__isnull=False))
    has_custom_save = Save.objects.filter(custom_session_id=OuterRef("pk"))
    customs = CustomSession.objects.filter(
        ~Exists(has_custom_save), outcome_action__in=KEPT_ACTIONS
    ).exclude(subscription_id="")
    for queryset, build in ((sessions, _from_session), (customs, _from_custom_session)):
        while limit is None or written < limit:
            rows: list[Any] = list(queryset.order_by("pk")[:batch])
            if not rows:
                break
            done = _write([build(row) for row in rows])
            written += done
            if done == 0:
                break  # another process is writing these very saves
    return written


def saves_revenue_refresh(
    *,
    saves: list[Save] | None = None,
    tenant_id: Any = None,
    livemode: bool | None = None,
    subscription_id: str | None = None,
) -> int:
    """Recompute each save's revenue as the sum of the invoices paid on its subscription
    since the save: the same whatever order and however often the invoices came."""
    paid = (
        InvoicePayment.objects.filter(
            tenant_id=OuterRef("tenant_id"),
            livemode=OuterRef("livemode"),
            subscription_id=OuterRef("subscription_id"),
            status=InvoicePaymentStatus.PAID,
            occurred_at__gte=OuterRef("saved_at"),
        )
        .values("subscription_id")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    queryset = Save.objects.all()
    if saves is not None:
        queryset = queryset.filter(pk__in=[s.pk for s in saves])
    else:
        queryset = queryset.filter(
            tenant_id=tenant_id, livemode=livemode, subscription_id=subscription_id
        )
    return queryset.update(revenue_amount=Coalesce(paid, 0))
