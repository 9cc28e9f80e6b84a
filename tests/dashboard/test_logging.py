"""Log lines: JSON when asked, tagged with the request and session, never a secret."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.utils import timezone

from mrrx.logging import ContextFilter, JsonFormatter, RedactSecretsFilter, redact
from sessions_app.models import Session
from sessions_app.tokens import session_token

pytestmark = pytest.mark.django_db
SESSION_ID = "ses_0abcdefghijklmnopqrstuvwx"
API_KEY = "mrrx_live_" + "A1b2C3d4" * 5


@pytest.fixture
def json_lines():
    """The root logger's output, as the product writes it with LOG_FORMAT=json."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    handler.addFilter(RedactSecretsFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)


def test_a_request_gets_an_id_and_every_line_carries_it_without_secrets(
    client, json_lines, settings
):
    settings.ROOT_URLCONF = "tests.dashboard.logging_urls"
    response = client.get(
        f"/logtest/{SESSION_ID}", HTTP_AUTHORIZATION=f"Bearer {API_KEY}", HTTP_X_API_KEY=API_KEY
    )

    request_id = response["X-Request-ID"]
    assert len(request_id) == 32
    lines = [line for line in json_lines() if line["logger"] == "mrrx.test"]
    assert [line["level"] for line in lines] == ["WARNING", "ERROR"]
    text = json.dumps(lines)
    for secret in (API_KEY, "sk_live_51Habcdefghijklmnop", "whsec_c2VjcmV0c2VjcmV0", "A1b2C3d4"):
        assert secret not in text
    assert "sk_live_[REDACTED]" in lines[0]["message"] and "mrrx_live_[REDACTED]" in text
    assert "whsec_[REDACTED]" in lines[1]["exc"] and "RuntimeError" in lines[1]["exc"]
    assert all(line["request_id"] == request_id for line in lines)
    assert all(line["session_id"] == SESSION_ID for line in lines)


@pytest.mark.parametrize(
    "incoming, kept",
    [
        ("req-2026-01-01T00:00:00Z-abc123", True),
        ("0123456789abcdef0123456789abcdef", True),
        ("short", False),
        ("has space in it 12345", False),
        ("x" * 200, False),
        ("evil\r\nSet-Cookie: a=b", False),
    ],
)
def test_an_incoming_request_id_is_kept_only_when_sane(client, incoming, kept):
    response = client.get("/api/v1/health", HTTP_X_REQUEST_ID=incoming)
    assert (response["X-Request-ID"] == incoming) is kept
    assert "\n" not in response["X-Request-ID"]


def test_the_hosted_flow_names_its_session_on_djangos_own_lines(client, tenant, json_lines):
    past = timezone.now() - timedelta(hours=1)
    session = Session.objects.create(
        tenant=tenant, livemode=False, customer_id="cus_1", subscription_id="sub_1",
        status="viewed", expires_at=past,
    )  # fmt: skip
    token = session_token(
        session_id=session.id, tenant_id=tenant.pk, livemode=False, expires_at=past
    )

    response = client.get(f"/c/{token}")

    assert response.status_code == 410
    [gone] = [line for line in json_lines() if line["logger"] == "django.request"]
    assert gone["session_id"] == session.id
    assert gone["request_id"] == response["X-Request-ID"]
    assert gone["message"] == "Gone: /c/[REDACTED]"  # the link is a credential


@pytest.mark.parametrize(
    "text, expected",
    [
        ("key mrrx_test_abcDEF123 used", "key mrrx_test_[REDACTED] used"),
        ("rk_test_51abc_DEF and sk_live_x", "rk_test_[REDACTED] and sk_live_[REDACTED]"),
        ("secret=whsec_abc+/= end", "secret=whsec_[REDACTED] end"),
        ("Authorization: Bearer abc.def", "Authorization: [REDACTED]"),
        ("{'HTTP_AUTHORIZATION': 'Basic dXNlcjpwdw=='}", "{'HTTP_AUTHORIZATION': '[REDACTED]'}"),
        ("a task_id and disk_usage stay", "a task_id and disk_usage stay"),
    ],
)
def test_redaction(text, expected):
    assert redact(text) == expected


def test_the_product_writes_json_lines_with_log_format_json():
    env = {**os.environ, "LOG_FORMAT": "json", "DJANGO_SETTINGS_MODULE": "tests.settings"}
    code = (
        "import django, logging; django.setup(); "
        "logging.getLogger('mrrx.probe').warning('charging with %s', 'sk_test_abc123')"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    [line] = [json.loads(text) for text in result.stderr.splitlines() if "mrrx.probe" in text]
    assert line["level"] == "WARNING" and line["message"] == "charging with sk_test_[REDACTED]"
    assert "ts" in line and "request_id" not in line  # no request here


def test_the_access_log_names_each_request_without_its_token(client, tenant, json_lines):
    session = Session.objects.create(
        tenant=tenant, livemode=False, customer_id="cus_1", subscription_id="sub_1",
        expires_at=timezone.now() + timedelta(hours=1),
    )  # fmt: skip
    token = session_token(
        session_id=session.id, tenant_id=tenant.pk, livemode=False, expires_at=session.expires_at
    )
    client.get(f"/c/{token}")
    client.get("/api/v1/health")
    access = [line for line in json_lines() if line["logger"] == "mrrx.access"]
    assert [line["message"].split()[:3] for line in access] == [
        ["GET", "/c/[REDACTED]", "200"],
        ["GET", "/api/v1/health", "200"],
    ]
    assert token not in json.dumps(access)


def test_an_expired_periodic_tick_is_routine_and_another_revoked_task_is_not():
    """Celery's "Discarding revoked task" for a beat tick that expired unrun (the next
    tick does its work) is a DEBUG line; for any other task it keeps INFO."""
    logger = logging.getLogger("celery.worker.request")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger.addHandler(handler)
    try:
        logger.info(
            "Discarding revoked task: %s[%s]", "webhooks.tasks.deliveries_dispatch_due", "t1"
        )
        logger.info("Discarding revoked task: %s[%s]", "sessions_app.tasks.session_execute", "t2")
    finally:
        logger.removeHandler(handler)
    assert stream.getvalue().splitlines() == [
        "INFO Discarding revoked task: sessions_app.tasks.session_execute[t2]"
    ]
