from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.sessions.conftest import (  # noqa: F401
    SEED_KEY,
    FlowClient,
    connect,
    emulator,
    seed,
    shop,
    stripe_emulator,
    stripe_subscription,
    trial_shop,
)
from tests.webhooks.conftest import make_endpoint, receiver  # noqa: F401
from tests.worker_fixture import celery_broker, celery_worker_process  # noqa: F401


@pytest.fixture(scope="package")
def celery_worker_env(stripe_emulator, tmp_path_factory) -> dict[str, str]:  # noqa: F811
    """The worker talks to the emulator, may deliver webhooks to 127.0.0.1, and writes
    the email it sends as files into a folder of its own (``worker_mail_dir``)."""
    return {
        "WEBHOOK_ALLOW_LOOPBACK": "1",
        "STRIPE_API_BASE": stripe_emulator.base_url,
        "STRIPE_CONNECT_BASE": stripe_emulator.base_url,
        "MRRX_TEST_EMAIL_DIR": str(tmp_path_factory.mktemp("worker-mail")),
    }


@pytest.fixture
def worker_mail_dir(celery_worker_env: dict[str, str]) -> Path:
    return Path(celery_worker_env["MRRX_TEST_EMAIL_DIR"])


@pytest.fixture(autouse=True)
def _loopback(settings, celery_broker):  # noqa: F811
    settings.WEBHOOK_ALLOW_LOOPBACK = True


def walk_to_confirm(shop, *, reason: str, action: str, feedback: str = "", **extra) -> tuple:  # noqa: F811
    """Create a session and take the subscriber through the flow up to the confirmation."""
    body = shop.create(return_url="https://app.example.com/account").json()
    path = urlsplit(body["url"]).path
    browser = FlowClient()
    browser.get(path)
    assert browser.post(path, {"step": "reason", "reason": reason}).status_code == 302
    response = browser.post(path, {"step": "offer", "action": action, **extra})
    assert response.status_code == 302, response.content.decode()[:2000]
    browser.post(path, {"step": "feedback", "feedback": feedback})
    return body["id"], path, browser
