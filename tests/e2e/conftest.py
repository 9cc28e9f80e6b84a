from __future__ import annotations

from typing import Any

import pytest

from offers.selectors import flow_config_get
from offers.services import flow_config_update, offer_create, offer_delete
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


def offers_only(tenant, reason: str, *offers: tuple[str, dict[str, Any]]) -> None:  # type: ignore[no-untyped-def]
    """The test-mode flow offers exactly ``offers`` ((action, params), in order) for
    ``reason``, with no trial extension put first."""
    config = flow_config_get(tenant=tenant, livemode=False)
    flow_config_update(config=config, trial_extension_first=False)
    for offer in config.offers.filter(reason=reason):
        offer_delete(offer=offer)
    for action, params in offers:
        offer_create(config=config, reason=reason, action=action, params=params)
