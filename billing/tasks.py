from __future__ import annotations

import logging

from celery import shared_task

from . import services

logger = logging.getLogger(__name__)


@shared_task(name="billing.tasks.oauth_states_prune")
def oauth_states_prune() -> int:
    pruned = services.oauth_states_prune()
    # Forgetting rows past their use is nothing anyone acts on: below INFO, like a tick.
    if pruned:
        logger.debug("pruned %d spent Stripe OAuth states", pruned)
    return pruned


@shared_task(name="billing.tasks.stripe_events_process_stale")
def stripe_events_process_stale() -> int:
    processed = services.stripe_events_process_stale()
    if processed:
        logger.info("processed %d stale Stripe events", processed)
    return processed
