from __future__ import annotations

from celery import shared_task

from .api.idempotency import idempotency_prune as prune_records
from .api.ratelimit import rate_limit_prune


@shared_task(name="mrrx.tasks.idempotency_prune")
def idempotency_prune() -> dict[str, int]:
    return {"idempotency_records": prune_records(), "rate_limit_counters": rate_limit_prune()}
