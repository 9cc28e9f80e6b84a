"""Heartbeats of the periodic tasks, written as each run finishes.

One ``task_postrun`` handler, filtered to the task names in ``CELERY_BEAT_SCHEDULE``,
records every run: the tasks themselves need no change, and a task added to the schedule
is watched without more code.
"""

from __future__ import annotations

import logging
from typing import Any

from celery.signals import task_postrun
from django.conf import settings
from django.utils import timezone

from .models import Heartbeat

logger = logging.getLogger(__name__)


def beat_task_names() -> set[str]:
    return {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}


def heartbeat_record(*, name: str, state: str = "SUCCESS") -> None:
    """Note that the periodic task ``name`` has just run."""
    Heartbeat.objects.update_or_create(
        name=name, defaults={"last_run_at": timezone.now(), "last_state": state or ""}
    )


def _on_task_postrun(sender: Any = None, state: str | None = None, **_: Any) -> None:
    name = getattr(sender, "name", None)
    if name not in beat_task_names():
        return
    try:
        heartbeat_record(name=name, state=state or "")
    except Exception:
        # A heartbeat must never turn a task's success into a failure.
        logger.exception("Could not record the heartbeat of %s", name)


def connect() -> None:
    task_postrun.connect(_on_task_postrun, weak=False, dispatch_uid="mrrx.dashboard.heartbeat")
