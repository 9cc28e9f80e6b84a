"""Handing webhook work to Celery by task name.

Services queue work through these functions and never import ``webhooks.tasks``: the
tasks call the services, and the names below are the contract between the two.
"""

from __future__ import annotations

from mrrx.celery import app

DELIVERY_ATTEMPT = "webhooks.tasks.delivery_attempt"
DELIVERIES_ATTEMPT = "webhooks.tasks.deliveries_attempt"
DELIVERIES_DISPATCH_DUE = "webhooks.tasks.deliveries_dispatch_due"


def delivery_attempt_enqueue(*, delivery_id: str, attempt: int) -> None:
    app.send_task(DELIVERY_ATTEMPT, kwargs={"delivery_id": delivery_id, "attempt": attempt})


def deliveries_attempt_enqueue(*, jobs: list[tuple[str, int]]) -> None:
    """One message for several (delivery id, attempt number) pairs."""
    app.send_task(DELIVERIES_ATTEMPT, kwargs={"jobs": [list(job) for job in jobs]})


def deliveries_dispatch_due_enqueue() -> None:
    app.send_task(DELIVERIES_DISPATCH_DUE)
