"""The integrator's kit against the real product: a live server, the Stripe emulator, a
Celery worker that carries out actions and delivers webhooks to 127.0.0.1."""

from __future__ import annotations

import pytest

from tests.sessions.conftest import (  # noqa: F401
    connect,
    emulator,
    seed,
    shop,
    stripe_emulator,
    stripe_subscription,
)
from tests.webhooks.conftest import make_endpoint, receiver  # noqa: F401
from tests.worker_fixture import celery_broker, celery_worker_process  # noqa: F401


@pytest.fixture(scope="package")
def celery_worker_env(stripe_emulator) -> dict[str, str]:  # noqa: F811
    """The worker talks to the emulator and may deliver webhooks to 127.0.0.1."""
    return {
        "WEBHOOK_ALLOW_LOOPBACK": "1",
        "STRIPE_API_BASE": stripe_emulator.base_url,
        "STRIPE_CONNECT_BASE": stripe_emulator.base_url,
    }


@pytest.fixture(autouse=True)
def _isolated(settings, celery_broker):  # noqa: F811
    """Loopback receivers allowed, and whatever the live server queues goes to this
    package's broker namespace, never a developer's running worker."""
    settings.WEBHOOK_ALLOW_LOOPBACK = True


@pytest.fixture
def served(settings, live_server, shop):  # noqa: F811
    """The product served for real: hosted-page links point at the live server."""
    settings.PUBLIC_BASE_URL = live_server.url
    return shop
