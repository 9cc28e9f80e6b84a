"""What the session tasks write to the log: the outcome, under the session's id, and
nothing at all from a sweep that found nothing."""

from __future__ import annotations

import io
import json
import logging
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.utils import timezone

from mrrx.logging import ContextFilter, JsonFormatter
from sessions_app import tasks
from sessions_app.models import Session

from .conftest import FlowClient

pytestmark = pytest.mark.django_db


@pytest.fixture
def json_log():
    """The product's JSON log lines (``LOG_FORMAT=json``), as a shipper would read them."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.removeHandler(handler)
    root.setLevel(level)


def test_an_executed_session_logs_its_action_and_outcome_under_its_id(shop, emulator, json_log):
    body = shop.create().json()
    path = urlsplit(body["url"]).path
    browser = FlowClient()
    browser.get(path)
    browser.post(path, {"step": "reason", "reason": "not_using_enough"})
    browser.post(path, {"step": "offer", "action": "pause", "pause_months": "1"})
    browser.post(path, {"step": "feedback", "feedback": ""})
    browser.post(path, {"step": "confirm"})

    tasks.session_execute(body["id"])
    logging.getLogger("sessions_app.tasks").info("the next task")

    lines = [line for line in json_log() if line["logger"] == "sessions_app.tasks"]
    assert lines[0]["message"] == f"session {body['id']} executed pause: completed"
    assert lines[0]["session_id"] == body["id"]
    # The worker's next task is about something else: the id is not left bound.
    assert lines[1]["message"] == "the next task" and "session_id" not in lines[1]


def _task_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "sessions_app.tasks"]


def test_the_expiry_sweep_logs_what_it_ended_and_is_silent_when_nothing_was_due(shop, caplog):
    session_id = shop.create().json()["id"]
    caplog.set_level(logging.INFO, logger="sessions_app.tasks")

    tasks.sessions_expire()
    assert _task_lines(caplog) == []

    Session.objects.filter(pk=session_id).update(expires_at=timezone.now() - timedelta(seconds=1))
    tasks.sessions_expire()
    assert _task_lines(caplog) == ["expired 1 unopened and abandoned 0 opened sessions"]
