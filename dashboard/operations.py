"""What an operator checks first: queues, webhook backlog, stuck work, beat, health."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from celery.schedules import schedule as interval_schedule
from django.conf import settings
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone

from mrrx.celery import app as celery_app
from mrrx.health import run_checks
from sessions_app.execution import STUCK_AFTER
from sessions_app.models import Session, SessionStatus
from webhooks.models import Delivery, Endpoint

from .models import Heartbeat

logger = logging.getLogger(__name__)

QUEUES = ("actions", "webhooks", "default")
BROKER_READ_TIMEOUTS = {"socket_connect_timeout": 1, "socket_timeout": 1}


@dataclass(frozen=True)
class Figure:
    label: str
    value: int | None
    url: str | None = None
    note: str = ""
    alert: bool = False


@dataclass(frozen=True)
class BeatRow:
    key: str
    task: str
    every: timedelta | None
    last_run_at: datetime | None
    last_state: str
    late: bool


def queue_depths() -> list[Figure]:
    """Messages waiting in each Celery queue, as the broker counts them.

    Declaring a queue answers with its size: LLEN of its lists on Redis, the number of
    message files on the filesystem broker. (Declaring the app's own queues changes
    nothing; a passive declare would call an empty Redis queue missing.)
    """
    figures = []
    try:
        # Bounded waits: a broker that accepts connections but never answers must not
        # hang this page or a metrics scrape.
        with celery_app.connection_for_read(transport_options=BROKER_READ_TIMEOUTS) as connection:
            connection.ensure_connection(max_retries=1, timeout=2)
            channel = connection.default_channel
            for name in QUEUES:
                depth = channel.queue_declare(queue=name).message_count
                figures.append(Figure(name, depth, alert=depth > 1000))
    except Exception as exc:
        logger.warning("Could not read the queue depths: %s", type(exc).__name__)
        return [Figure(name, None, note=f"broker unreachable ({type(exc).__name__})",
                       alert=True) for name in QUEUES]  # fmt: skip
    return figures


def _changelist(name: str, **params: Any) -> str:
    return f"{reverse(f'admin:{name}_changelist')}?{urlencode(params)}"


def deliveries_due(now: datetime) -> QuerySet[Delivery]:
    """Webhook deliveries whose next attempt is due (pending, at or before ``now``)."""
    return Delivery.objects.filter(status=Delivery.Status.PENDING, next_attempt_at__lte=now)


def backlog(now: datetime | None = None) -> list[Figure]:
    now = now or timezone.now()
    stuck_before = now - STUCK_AFTER
    due = deliveries_due(now)
    failed = Delivery.objects.filter(status=Delivery.Status.FAILED)
    stuck = Session.objects.filter(status=SessionStatus.EXECUTING, executing_at__lt=stuck_before)
    disabled = Endpoint.objects.filter(enabled=False)
    return [
        Figure(
            "Webhook deliveries due now",
            due.count(),
            _changelist(
                "webhooks_delivery", status__exact="pending", next_attempt_at__lte=now.isoformat()
            ),
            "pending, with the next attempt at or before now",
        ),
        Figure(
            "Webhook deliveries failed",
            failed.count(),
            _changelist("webhooks_delivery", status__exact="failed"),
            "every attempt used up",
        ),
        Figure(
            "Sessions stuck in executing",
            stuck.count(),
            _changelist(
                "sessions_app_session",
                status__exact="executing",
                executing_at__lt=stuck_before.isoformat(),
            ),
            f"executing for more than {int(STUCK_AFTER.total_seconds() // 60)} minutes",
        ),
        Figure(
            "Disabled webhook endpoints",
            disabled.count(),
            _changelist("webhooks_endpoint", enabled__exact="0"),
            "by their merchant, a 410, or five days of failures",
        ),
    ]


def _every(entry: dict[str, Any]) -> timedelta | None:
    value = entry.get("schedule")
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float):
        return timedelta(seconds=value)
    if isinstance(value, interval_schedule):
        return value.run_every
    return None  # crontab and friends: no fixed period to judge lateness by


def beat(now: datetime | None = None) -> list[BeatRow]:
    """Each beat entry with its task's last heartbeat; late after three missed periods."""
    now = now or timezone.now()
    beats = {hb.name: hb for hb in Heartbeat.objects.all()}
    rows = []
    for key, entry in sorted(settings.CELERY_BEAT_SCHEDULE.items()):
        task, every = entry["task"], _every(entry)
        heartbeat = beats.get(task)
        last = heartbeat.last_run_at if heartbeat else None
        late = last is None or (every is not None and now - last > 3 * every + timedelta(minutes=1))
        rows.append(
            BeatRow(
                key=key,
                task=task,
                every=every,
                last_run_at=last,
                last_state=heartbeat.last_state if heartbeat else "",
                late=late,
            )
        )
    return rows


def overview() -> dict[str, Any]:
    health = run_checks()
    return {
        "queues": queue_depths(),
        "backlog": backlog(),
        "beat": beat(),
        "health": health,
        "healthy": all(result["status"] == "healthy" for result in health.values()),
        "flower_url": settings.FLOWER_URL,
        "health_url": reverse("v1:health") + "?deep=1",
    }
