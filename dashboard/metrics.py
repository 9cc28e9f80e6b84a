"""The gauges of ``/metrics`` that are read when Prometheus scrapes: the Celery queues'
depths from the broker and the webhook backlog from the database, with the queries of the
operations page."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from django.db import DatabaseError
from django.db.models import Count, Min
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from mrrx.metrics import scrape_collector_register

from .operations import deliveries_due, queue_depths

logger = logging.getLogger(__name__)


class OperationsCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        yield from self._queues()
        yield from self._webhook_backlog()

    def _queues(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily(
            "mrrx_queue_depth",
            "Messages waiting in each Celery queue, read from the broker at scrape time "
            "(absent when the broker did not answer).",
            labels=["queue"],
        )
        figures = queue_depths()
        for figure in figures:
            if figure.value is not None:
                depth.add_metric([figure.label], figure.value)
        yield depth
        yield GaugeMetricFamily(
            "mrrx_broker_up",
            "1 when the scrape could read the queue depths from the broker, else 0.",
            value=int(all(figure.value is not None for figure in figures)),
        )

    def _webhook_backlog(self) -> Iterator[Metric]:
        now = timezone.now()
        try:
            due = deliveries_due(now).aggregate(count=Count("pk"), oldest=Min("next_attempt_at"))
        except DatabaseError as exc:
            # The process counters are still worth a scrape without the database.
            logger.warning("Could not read the webhook backlog: %s", type(exc).__name__)
            return
        yield GaugeMetricFamily(
            "mrrx_webhook_deliveries_due",
            "Webhook deliveries whose next attempt is due now, at scrape time.",
            value=due["count"],
        )
        oldest = due["oldest"]
        yield GaugeMetricFamily(
            "mrrx_webhook_oldest_due_delivery_age_seconds",
            "How long the longest-waiting due webhook delivery has been due (0 when none is).",
            value=(now - oldest).total_seconds() if oldest is not None else 0.0,
        )


def register() -> None:
    scrape_collector_register("dashboard.operations", OperationsCollector())
