"""Carrying out a session's chosen action on Stripe, exactly once.

Every Stripe write carries the idempotency key ``<session id>:<action>``, and the outcome
is recorded from what Stripe says after the write. A task that dies mid-way, a retry after
a transient error and a stuck session picked up again all run the same code with the same
key, so Stripe acts once.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from audit.models import AuditAction
from audit.services import audit_record
from billing.gateway import (
    DISCOUNT_SKIP_IF_DISCOUNTED,
    PAUSE_COLLECTION,
    StripeGatewayError,
    gateway_for,
)
from mrrx.metrics import record_session_completed, record_session_failed
from webhooks.services import event_emit

from .jobs import session_execute_enqueue
from .models import Action, Session, SessionStatus
from .outcomes import outcome_recorded
from .receipts import receipt_record
from .serializers import session_event_data

logger = logging.getLogger(__name__)

ACTION_EVENTS = {
    Action.PAUSE: "subscription.paused",
    Action.DISCOUNT: "subscription.discount_applied",
    Action.DOWNGRADE: "subscription.downgraded",
    Action.EXTEND_TRIAL: "subscription.trial_extended",
    Action.CANCEL: "subscription.canceled",
}
STUCK_AFTER = timedelta(minutes=3)
MAX_EXECUTION_ATTEMPTS = 5


def idempotency_key_for(session: Session) -> str:
    return f"{session.id}:{session.selected_action}"


def _run_action(session: Session) -> dict[str, Any]:
    gateway = gateway_for(tenant=session.tenant, livemode=session.livemode)
    params = session.action_params
    key = idempotency_key_for(session)
    sub = session.subscription_id
    match session.selected_action:
        case Action.PAUSE:
            return gateway.pause(
                sub,
                days=params["days"],
                idempotency_key=key,
                method=params.get("method", PAUSE_COLLECTION),
                behavior=params.get("behavior", "void"),
            )
        case Action.DISCOUNT:
            return gateway.discount_apply(
                sub,
                idempotency_key=key,
                coupon_id=params.get("coupon_id"),
                percent_off=params.get("percent_off"),
                amount_off=params.get("amount_off"),
                currency=params.get("currency"),
                duration_months=params.get("duration_months"),
                policy=params.get("policy", DISCOUNT_SKIP_IF_DISCOUNTED),
            )
        case Action.DOWNGRADE:
            return gateway.price_swap(
                sub,
                new_price_id=params["price_id"],
                proration_behavior=params.get("proration_behavior", "create_prorations"),
                idempotency_key=key,
                proration_date=(params.get("next_invoice") or {}).get("proration_date"),
            )
        case Action.EXTEND_TRIAL:
            return gateway.trial_extend(sub, days=params["days"], idempotency_key=key)
        case Action.CANCEL:
            return gateway.cancel(
                sub,
                at_period_end=params.get("at_period_end", True),
                feedback=session.survey_reason or None,
                comment=session.survey_feedback or None,
                idempotency_key=key,
            )
    raise StripeGatewayError("stripe_error", f"Unknown action {session.selected_action!r}.")


def session_execute(*, session_id: str) -> Session | None:
    """Run the action of a session in ``executing``; a no-op for any other status.

    Raises ``StripeGatewayError`` when the error is transient, for the caller to retry;
    permanent errors fail the session here.
    """
    session = Session.objects.select_related("tenant").filter(id=session_id).first()
    if session is None or session.status != SessionStatus.EXECUTING:
        return session
    try:
        details = _run_action(session)
    except StripeGatewayError as exc:
        if exc.transient:
            raise
        session_fail(session=session, error=exc)
        return session
    session_complete(session=session, details=details)
    return session


def session_complete(*, session: Session, details: dict[str, Any]) -> bool:
    """Record the outcome, tell the merchant and write the subscriber's receipt (sent by a
    worker after commit), in one transaction."""
    now = timezone.now()
    with transaction.atomic():
        moved = Session.objects.filter(id=session.id, status=SessionStatus.EXECUTING).update(
            status=SessionStatus.COMPLETED,
            outcome_action=session.selected_action,
            outcome_details=details,
            executed_at=now,
            completed_at=now,
        )
        if not moved:
            return False
        session.refresh_from_db()
        data = session_event_data(session)
        event_emit(
            tenant=session.tenant, livemode=session.livemode, type="session.completed", data=data
        )
        event_emit(
            tenant=session.tenant,
            livemode=session.livemode,
            type=ACTION_EVENTS[Action(session.selected_action)],
            data=data,
        )
        receipt_record(session=session)
        audit_record(
            action=AuditAction.SESSION_COMPLETED,
            target=session,
            changes={"outcome_action": session.outcome_action},
        )
        outcome_recorded(kind="session", record_id=session.id)
    record_session_completed(
        outcome=session.selected_action, source=session.source, livemode=session.livemode
    )
    return True


def session_fail(*, session: Session, error: StripeGatewayError) -> bool:
    now = timezone.now()
    failure = {
        "code": error.code,
        "message": error.message,
        "stripe_code": error.stripe_code,
        "stripe_type": error.stripe_type,
        "http_status": error.http_status,
        "transient": error.transient,
    }
    with transaction.atomic():
        moved = Session.objects.filter(id=session.id, status=SessionStatus.EXECUTING).update(
            status=SessionStatus.FAILED, failure=failure, failed_at=now
        )
        if not moved:
            return False
        session.refresh_from_db()
        event_emit(
            tenant=session.tenant,
            livemode=session.livemode,
            type="session.failed",
            data={**session_event_data(session), "error": failure},
        )
        audit_record(
            action=AuditAction.SESSION_FAILED, target=session, changes={"failure": failure}
        )
    record_session_failed(source=session.source, livemode=session.livemode)
    logger.warning("session %s failed: %s", session.id, error.message)
    return True


def sessions_requeue_stuck(*, now=None) -> int:  # type: ignore[no-untyped-def]
    """Hand sessions stuck in ``executing`` back to a worker (the broker lost the task, or
    the worker died); after too many tries, fail them."""
    now = now or timezone.now()
    stuck = Session.objects.filter(
        status=SessionStatus.EXECUTING, executing_at__lt=now - STUCK_AFTER
    ).values_list("id", "executing_at", "execution_attempts")
    requeued = 0
    for session_id, executing_at, attempts in stuck[:500]:
        if attempts >= MAX_EXECUTION_ATTEMPTS:
            session = Session.objects.select_related("tenant").get(id=session_id)
            session_fail(
                session=session,
                error=StripeGatewayError(
                    "stripe_error", "The action could not be completed after several tries."
                ),
            )
            continue
        claimed = Session.objects.filter(
            id=session_id, status=SessionStatus.EXECUTING, executing_at=executing_at
        ).update(executing_at=now, execution_attempts=F("execution_attempts") + 1)
        if claimed:
            session_execute_enqueue(session_id)
            requeued += 1
    return requeued
