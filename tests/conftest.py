from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from rest_framework.test import APIClient

from tenants.models import ALL_SCOPES, ApiKey, Tenant
from tenants.services import apikey_issue

from . import browser
from .browser import chromium, shots  # noqa: F401 - the shared browser fixtures
from .factories import TenantFactory

_BROWSER_TESTS_NOT_RUN = pytest.StashKey[int]()


@dataclass
class KeyedClient:
    """An API client that sends one workspace's key."""

    client: APIClient
    tenant: Tenant
    api_key: ApiKey
    plaintext: str

    def get(self, path: str, **kwargs):  # type: ignore[no-untyped-def]
        return self.client.get(path, **kwargs)

    def post(self, path: str, data=None, **kwargs):  # type: ignore[no-untyped-def]
        kwargs.setdefault("format", "json")
        return self.client.post(path, data, **kwargs)


@pytest.fixture
def tenant(db) -> Tenant:  # type: ignore[no-untyped-def]
    return TenantFactory()


@pytest.fixture
def other_tenant(db) -> Tenant:  # type: ignore[no-untyped-def]
    return TenantFactory()


@pytest.fixture
def make_client(db) -> Callable[..., KeyedClient]:  # type: ignore[no-untyped-def]
    def make(
        tenant: Tenant | None = None, *, livemode: bool = False, scopes=ALL_SCOPES, **key_fields
    ) -> KeyedClient:
        tenant = tenant or TenantFactory()
        api_key, plaintext = apikey_issue(
            tenant=tenant, livemode=livemode, scopes=scopes, **key_fields
        )
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
        return KeyedClient(client=client, tenant=tenant, api_key=api_key, plaintext=plaintext)

    return make


@pytest.fixture
def api(make_client, tenant) -> KeyedClient:  # type: ignore[no-untyped-def]
    """A test-mode client with every scope, for ``tenant``."""
    return make_client(tenant)


def _drives_a_browser(item: pytest.Item) -> bool:
    return item.get_closest_marker("e2e") is not None or "chromium" in getattr(
        item, "fixturenames", ()
    )


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    # Before any fixture: a browser test stopped here costs no live server or worker.
    if not _drives_a_browser(item):
        return
    reason = browser.missing_reason()
    if reason is None:
        return
    item.config.stash[_BROWSER_TESTS_NOT_RUN] = item.config.stash.get(_BROWSER_TESTS_NOT_RUN, 0) + 1
    if browser.required():
        pytest.fail(f"{reason} ({browser.REQUIRE} is set)", pytrace=False)
    pytest.skip(reason)


def pytest_unconfigure(config: pytest.Config) -> None:
    # After pytest's own summary and counts, so the browser tests that did not run are the
    # last thing on screen rather than one more "skipped" among the counts.
    count = config.stash.get(_BROWSER_TESTS_NOT_RUN, 0)
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if not count or reporter is None:
        return
    tests = f"{count} test{'s' if count != 1 else ''}"
    if browser.required():
        reporter.write_line(
            f"Browser tests FAILED, not run ({tests}): {browser.missing_reason()}; "
            f"{browser.REQUIRE} is set, so a missing browser fails the run",
            red=True,
            bold=True,
        )
    else:
        reporter.write_line(
            f"Browser tests NOT RUN ({tests}): {browser.missing_reason()}", yellow=True, bold=True
        )
