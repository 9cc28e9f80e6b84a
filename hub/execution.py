"""Carrying out a hub action on Stripe, exactly once.

Every Stripe write carries the action's idempotency key
(``<hub id>:<action>:<subscription id>[:<price>]``) and the outcome is read back from
Stripe. A duplicated message, a retry after a transient error and a stuck action picked up
again all run the same code with the same key; only the first to complete the row (a
conditional update) records the outcome and tells the merchant.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from audit.context import Actor
from audit.models import AuditAction
from audit.services import audit_record
from billing.gateway import StripeGatewayError, gateway_for
from mrrx.formats import iso_timestamp
from webhooks.services import event_emit

from .jobs import hub_action_execute_enqueue
from .models import HubAction, HubActionKind, HubActionStatus

logger = logging.getLogger(__name__)

ACTION_EVENTS = {
    HubActionKind.RESUME: "subscription.resumed",
    HubActionKind.REACTIVATE: "subscription.reactivated",
    HubActionKind.CHANGE_PLAN: "subscription.plan_changed",
}
STUCK_AFTER = timedelta(minutes=3)
MAX_EXECUTION_ATTEMPTS = 5


def _run(action: HubAction) -> dict[str, Any]:
    gateway = gateway_for(tenant=action.tenant, livemode=action.livemode)
    key, subscription_id, params = action.idempotency_key, action.subscription_id, action.params
    match action.kind:
        case HubActionKind.RESUME:
            subscription = gateway.resume(subscription_id, idempotency_key=key)
            if subscription.paused:
                raise StripeGatewayError("stripe_error", "Stripe did not resume the subscription.")
            return {
                "previous_resume_date": params.get("pause_resumes_at"),
                "current_period_end": iso_timestamp(subscription.current_period_end),
            }
        case HubActionKind.REACTIVATE:
            return gateway.reactivate(subscription_id, idempotency_key=key)
        case HubActionKind.CHANGE_PLAN:
            return gateway.price_change(
                subscription_id,
                new_price_id=action.price_id,
                proration_behavior=params["proration_behavior"],
                proration_date=params.get("proration_date"),
                idempotency_key=key,
            )
    raise StripeGatewayError("stripe_error", f"Unknown hub action {action.kind!r}.")


def hub_action_execute(*, action_id: str) -> HubAction | None:
    """Run an action in ``executing``; a no-op for any other status.

    Raises ``StripeGatewayError`` when the error is transient, for the caller to retry;
    permanent errors fail the action here.
    """
    action = HubAction.objects.select_related("tenant", "hub_session").filter(id=action_id).first()
    if action is None or action.status != HubActionStatus.EXECUTING:
        return action
    try:
        outcome = _run(action)
    except StripeGatewayError as exc:
        if exc.transient:
            raise
        hub_action_fail(action=action, error=exc)
        return action
    hub_action_complete(action=action, outcome=outcome)
    return action


def hub_action_event_data(action: HubAction) -> dict[str, Any]:
    """The ``data`` of a hub action's webhook: the hub visit stands where a session would."""
    hub = action.hub_session
    return {
        "session_id": hub.id,
        "subscription_id": action.subscription_id,
        "customer_id": hub.customer_id,
        "action": action.kind,
        "status": action.status,
        "outcome": {
            "action": action.kind,
            "executed_at": iso_timestamp(action.completed_at),
            "details": action.outcome or {},
        },
        "metadata": hub.metadata,
        "livemode": action.livemode,
        "source": "hub",
    }


def hub_action_complete(*, action: HubAction, outcome: dict[str, Any]) -> bool:
    """Record the outcome and tell the merchant, in one transaction."""
    with transaction.atomic():
        moved = HubAction.objects.filter(id=action.id, status=HubActionStatus.EXECUTING).update(
            status=HubActionStatus.COMPLETED, outcome=outcome, completed_at=timezone.now()
        )
        if not moved:
            return False
        action.refresh_from_db()
        audit_record(
            action=AuditAction.HUB_ACTION_COMPLETED,
            target=action,
            actor=Actor.system(),
            changes={"kind": action.kind, "outcome": outcome},
        )
        event_emit(
            tenant=action.tenant,
            livemode=action.livemode,
            type=ACTION_EVENTS[HubActionKind(action.kind)],
            data=hub_action_event_data(action),
        )
    logger.info("hub action %s (%s) completed", action.id, action.kind)
    return True


def hub_action_fail(*, action: HubAction, error: StripeGatewayError) -> bool:
    failure = {
        "code": error.code,
        "message": error.message,
        "stripe_code": error.stripe_code,
        "http_status": error.http_status,
        "transient": error.transient,
    }
    with transaction.atomic():
        moved = HubAction.objects.filter(id=action.id, status=HubActionStatus.EXECUTING).update(
            status=HubActionStatus.FAILED, failure=failure, failed_at=timezone.now()
        )
        if moved:
            audit_record(
                action=AuditAction.HUB_ACTION_FAILED,
                target=action,
                actor=Actor.system(),
                changes={"kind": action.kind, "failure": failure},
            )
    if moved:
        action.refresh_from_db()
        logger.warning("hub action %s (%s) failed: %s", action.id, action.kind, error.message)
    return moved == 1


def hub_actions_requeue_stuck(*, now: datetime | None = None) -> int:
    """Hand actions stuck in ``executing`` back to a worker (the broker lost the message,
    or the worker died); after too many tries, fail them."""
    now = now or timezone.now()
    stuck = HubAction.objects.filter(
        status=HubActionStatus.EXECUTING, executing_at__lt=now - STUCK_AFTER
    ).values_list("id", "executing_at", "attempts")
    requeued = 0
    for action_id, executing_at, attempts in stuck[:500]:
        if attempts >= MAX_EXECUTION_ATTEMPTS:
            action = HubAction.objects.get(id=action_id)
            hub_action_fail(
                action=action,
                error=StripeGatewayError(
                    "stripe_error", "The action could not be completed after several tries."
                ),
            )
            continue
        claimed = HubAction.objects.filter(
            id=action_id, status=HubActionStatus.EXECUTING, executing_at=executing_at
        ).update(executing_at=now, attempts=F("attempts") + 1)
        if claimed:
            hub_action_execute_enqueue(action_id)
            requeued += 1
    return requeued
