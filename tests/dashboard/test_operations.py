"""The operators' page: queues, backlog behind links, heartbeats of the beat tasks, health."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest
from django.utils import timezone

from dashboard.models import Heartbeat
from dashboard.operations import queue_depths
from mrrx.celery import app as celery_app
from mrrx.tasks import idempotency_prune
from sessions_app.models import Session
from tests.worker_fixture import isolated_broker
from webhooks.models import Delivery, Endpoint

from .conftest import BUILDERS, change_url

pytestmark = pytest.mark.django_db


def test_merchants_may_not_open_operations(merchant_client, tenant):
    assert merchant_client(tenant, "owner").get("/admin/operations/").status_code == 403
    assert "Operations" not in merchant_client(tenant, "owner").get("/admin/").content.decode()


def _row_link(html: str, label: str) -> tuple[str, int]:
    match = re.search(
        rf'<a href="([^"]+)">{re.escape(label)}</a></td><td[^>]*><a href="[^"]+">(\d+)</a>', html
    )
    assert match, label
    return unescape(match.group(1)), int(match.group(2))


def test_backlog_figures_link_to_exactly_the_rows_behind_them(
    operator_client, tenant, other_tenant
):
    now = timezone.now()
    due = BUILDERS["webhooks.delivery"](tenant).obj
    Delivery.objects.filter(pk=due.pk).update(
        status="pending", next_attempt_at=now - timedelta(seconds=5)
    )
    later = BUILDERS["webhooks.delivery"](other_tenant).obj
    Delivery.objects.filter(pk=later.pk).update(
        status="pending", next_attempt_at=now + timedelta(hours=1)
    )
    failed = BUILDERS["webhooks.delivery"](other_tenant).obj  # built failed
    stuck = BUILDERS["sessions_app.session"](tenant).obj
    Session.objects.filter(pk=stuck.pk).update(
        status="executing", executing_at=now - timedelta(minutes=10)
    )
    fresh = BUILDERS["sessions_app.session"](other_tenant).obj
    Session.objects.filter(pk=fresh.pk).update(status="executing", executing_at=now)
    disabled = Endpoint.objects.filter(pk=due.endpoint_id)
    disabled.update(enabled=False, disabled_at=now, disabled_reason="410 Gone")

    html = operator_client.get("/admin/operations/").content.decode()

    expected = {
        "Webhook deliveries due now": (due, [later, failed]),
        "Webhook deliveries failed": (failed, [due, later]),
        "Sessions stuck in executing": (stuck, [fresh]),
        "Disabled webhook endpoints": (disabled.get(), [failed.endpoint]),
    }
    for label, (behind, not_behind) in expected.items():
        url, count = _row_link(html, label)
        assert count == 1, label
        listing = operator_client.get(url)
        assert listing.status_code == 200 and "?e=1" not in listing.get("Location", "")
        page = listing.content.decode()
        assert change_url(behind) in page, label
        assert all(change_url(other) not in page for other in not_behind), label


def test_beat_tasks_write_heartbeats_that_the_page_shows(operator_client):
    idempotency_prune.apply()  # runs the task as a worker would, signals included

    beat = Heartbeat.objects.get(name="mrrx.tasks.idempotency_prune")
    assert beat.last_state == "SUCCESS" and timezone.now() - beat.last_run_at < timedelta(minutes=1)
    assert not Heartbeat.objects.exclude(name="mrrx.tasks.idempotency_prune").exists()

    html = operator_client.get("/admin/operations/").content.decode()
    table = html.split('id="beat"')[1].split("</table>")[0]
    prune = next(row for row in table.split("<tr>") if "mrrx.tasks.idempotency_prune" in row)
    assert "on time" in prune and "SUCCESS" in prune
    expire = next(row for row in table.split("<tr>") if "sessions_app.tasks.sessions_expire" in row)
    assert "never" in expire and "late" in expire


def test_a_task_outside_the_beat_schedule_writes_no_heartbeat():
    from celery import shared_task

    @shared_task(name="tests.dashboard.not_scheduled")
    def not_scheduled() -> int:
        return 1

    not_scheduled.apply()
    assert not Heartbeat.objects.exists()


def test_queue_depths_count_waiting_messages_per_queue():
    with isolated_broker():
        for _ in range(3):
            celery_app.send_task("tests.dashboard.nobody_runs_this", queue="webhooks")
        celery_app.send_task("tests.dashboard.nobody_runs_this", queue="actions")

        depths = {figure.label: figure.value for figure in queue_depths()}

    assert depths == {"actions": 1, "webhooks": 3, "default": 0}


def test_the_page_shows_queues_and_the_deep_health_check(operator_client):
    html = operator_client.get("/admin/operations/").content.decode()
    for name in ("actions", "webhooks", "default", "database", "cache", "broker", "stripe"):
        assert f"<td>{name}</td>" in html, name
    database = html.split("<td>database</td>")[1].split("</tr>")[0]
    assert "healthy" in database
    assert "/api/v1/health?deep=1" in html
