from __future__ import annotations

import logging

from celery import shared_task
from django.utils import timezone

from . import services

logger = logging.getLogger(__name__)

SAVES_VERIFY = "retention.tasks.saves_verify"


@shared_task(name=SAVES_VERIFY)
def saves_verify() -> dict[str, int]:
    result = services.saves_verify(now=timezone.now())
    recheck = result.recheck
    summary = {
        "saves_written": result.saves_written,
        "settled_from_events": result.settled_from_events,
        "stripe_calls": recheck.calls if recheck else 0,
        "settled_from_stripe": recheck.settled if recheck else 0,
    }
    if any(summary.values()):  # an idle pass says nothing
        logger.info("retention: saves verified %s", summary)
    return summary
