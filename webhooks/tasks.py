"""Celery tasks of the ``webhooks`` queue: each loads nothing itself and calls one service."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import close_old_connections

from . import jobs
from .services.attempts import deliveries_attempt, delivery_attempt
from .services.dispatch import deliveries_dispatch_due

logger = logging.getLogger(__name__)


@shared_task(name=jobs.DELIVERY_ATTEMPT)
def delivery_attempt_task(delivery_id: str, attempt: int | None = None) -> None:
    # What Django does at each request: drop a connection that broke or outlived
    # CONN_MAX_AGE (Celery keeps them across tasks; see CELERY_DB_REUSE_MAX).
    close_old_connections()
    # A delivery that is gone, finished or already past this attempt is a no-op.
    made = delivery_attempt(delivery_id=delivery_id, attempt=attempt)
    if made is not None:
        logger.info(
            "delivery %s attempt %d: %s",
            delivery_id,
            made.number,
            made.status_code or made.error or "no response",
        )


@shared_task(name=jobs.DELIVERIES_ATTEMPT)
def deliveries_attempt_task(jobs: list[list]) -> None:  # type: ignore[type-arg]
    """Several deliveries' attempts, claimed and logged together (one message a batch)."""
    close_old_connections()
    for made in deliveries_attempt(jobs=[(str(pk), int(attempt)) for pk, attempt in jobs]):
        logger.info(
            "delivery %s attempt %d: %s",
            made.delivery_id,
            made.number,
            made.status_code or made.error or "no response",
        )


@shared_task(name=jobs.DELIVERIES_DISPATCH_DUE)
def deliveries_dispatch_due_task() -> int:
    close_old_connections()
    dispatched = deliveries_dispatch_due()
    if dispatched:
        logger.info("dispatched %d due deliveries", dispatched)
    return dispatched
