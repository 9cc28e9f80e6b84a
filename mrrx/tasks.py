from __future__ import annotations

import logging

from celery import shared_task

from .api.idempotency import idempotency_prune as prune_records
from .api.ratelimit import rate_limit_prune

logger = logging.getLogger(__name__)


@shared_task(name="mrrx.tasks.idempotency_prune")
def idempotency_prune() -> dict[str, int]:
    pruned = {"idempotency_records": prune_records(), "rate_limit_counters": rate_limit_prune()}
    # Forgetting rows past their use is nothing anyone acts on: below INFO, like a tick.
    if any(pruned.values()):
        logger.debug(
            "pruned %d idempotency records and %d rate-limit counters",
            pruned["idempotency_records"],
            pruned["rate_limit_counters"],
        )
    return pruned
