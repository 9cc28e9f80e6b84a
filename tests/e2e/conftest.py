from __future__ import annotations

import pytest

from tests.browser import ARTIFACTS, PHONE  # noqa: F401 - used by the browser tests here
from tests.flow_worker.conftest import celery_worker_env  # noqa: F401
from tests.sessions.conftest import (  # noqa: F401
    emulator,
    shop,
    stripe_emulator,
    stripe_subscription,
    trial_shop,
)
from tests.worker_fixture import celery_broker, celery_worker_process  # noqa: F401


@pytest.fixture
def hosted(settings, live_server, shop):  # type: ignore[no-untyped-def]
    """The product served for real: links point at the live server, which is allowlisted."""
    settings.PUBLIC_BASE_URL = live_server.url
    shop.tenant.return_url_allowlist = [live_server.url]
    shop.tenant.brand_color = "#0f766e"
    shop.tenant.name = "Acme Analytics"
    shop.tenant.support_email = "help@acme.example"
    shop.tenant.save()
    return shop
