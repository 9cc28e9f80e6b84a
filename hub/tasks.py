from __future__ import annotations

import logging

from celery import shared_task

from billing.gateway import StripeGatewayError

from . import execution, jobs
from .models import HubAction

logger = logging.getLogger(__name__)

# Transient Stripe errors retry after 2, 4, 8, 16, 32 s; then the action fails.
MAX_RETRIES = 5


@shared_task(name=jobs.HUB_ACTION_EXECUTE, bind=True, max_retries=MAX_RETRIES)
def hub_action_execute(self, action_id: str) -> str | None:  # type: ignore[no-untyped-def]
    try:
        action = execution.hub_action_execute(action_id=action_id)
    except StripeGatewayError as exc:
        if self.request.retries >= MAX_RETRIES:
            action = HubAction.objects.get(id=action_id)
            execution.hub_action_fail(action=action, error=exc)
            return "failed"
        raise self.retry(countdown=2 ** (self.request.retries + 1), exc=exc) from exc
    if action is None:
        logger.info("hub action %s: not found, nothing done", action_id)
        return None
    return action.status


@shared_task(name=jobs.HUB_ACTIONS_REQUEUE_STUCK)
def hub_actions_requeue_stuck() -> int:
    requeued = execution.hub_actions_requeue_stuck()
    if requeued:
        logger.info("requeued %d hub actions stuck in executing", requeued)
    return requeued
