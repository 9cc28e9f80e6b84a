"""Where the browser tests find Chromium, and what to tell whoever has none."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

# MRRX_CHROMIUM exists so the suite can check its own report of a missing browser without
# one having to be missing; `make test` installs and looks only at Debian's path.
CHROMIUM = os.environ.get("MRRX_CHROMIUM") or "/usr/bin/chromium"
# CI sets this: there, browser tests that cannot run are a failure, not a note.
REQUIRE = "MRRX_REQUIRE_BROWSER"


def install_hint() -> str:
    if shutil.which("apt-get") is None:
        return "install Chromium as /usr/bin/chromium (Debian's package: apt-get install chromium)"
    if os.geteuid() == 0:
        return "install it with: apt-get install chromium"
    return "install it with: sudo apt-get install chromium"


def missing_reason() -> str | None:
    """Why the browser tests cannot run on this machine, or None when they can."""
    if os.access(CHROMIUM, os.X_OK):
        return None
    return f"{CHROMIUM} not found; {install_hint()}"


def required() -> bool:
    return os.environ.get(REQUIRE, "").strip() not in ("", "0")


# The browser itself, one per test run: every test that drives Chromium shares it, since
# Playwright's sync API allows one running instance per thread.
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "e2e"
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
