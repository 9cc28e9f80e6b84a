from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser import CHROMIUM
from tests.flow_worker.conftest import celery_worker_env  # noqa: F401
from tests.sessions.conftest import (  # noqa: F401
    emulator,
    shop,
    stripe_emulator,
    stripe_subscription,
    trial_shop,
)
from tests.worker_fixture import celery_broker, celery_worker_process  # noqa: F401

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e"
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="session")
def chromium() -> Iterator[object]:
    # tests/conftest.py has already stopped every test that uses this when CHROMIUM is missing.
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls the tests
    # make between browser steps are still plain synchronous code.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--disable-quic",
            ],
        )
        yield browser
        browser.close()
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


class Shots:
    """Numbered screenshots of each step, kept as test artifacts (not committed)."""

    def __init__(self, name: str) -> None:
        self.folder = ARTIFACTS / re.sub(r"[^\w.-]+", "_", name)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.count = 0

    def take(self, page, step: str) -> Path:  # type: ignore[no-untyped-def]
        self.count += 1
        path = self.folder / f"{self.count:02d}-{step}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def shots(request) -> Shots:  # type: ignore[no-untyped-def]
    return Shots(request.node.name)


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
