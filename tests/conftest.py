from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from rest_framework.test import APIClient

from mrrx import parallel
from tenants.models import ALL_SCOPES, ApiKey, Tenant
from tenants.services import apikey_issue

from . import browser, toolchains
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


@pytest.fixture(scope="session", autouse=True)
def _read_threads_closed(django_db_setup, django_db_blocker):  # type: ignore[no-untyped-def]
    """The analytics page's read threads (mrrx.parallel) keep connections to the test
    database: closed before it is dropped."""
    yield
    with django_db_blocker.unblock():
        parallel.shutdown()


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


def _marked(marker: str) -> Callable[[pytest.Item], bool]:
    return lambda item: item.get_closest_marker(marker) is not None


@dataclass(frozen=True)
class _Prerequisite:
    """Something outside Python that some tests need; when it is missing they do not run,
    and the run's last lines say so (or, with ``require_variable`` set, fail)."""

    label: str  # "Browser tests"
    thing: str  # "browser": what "a missing ..." names
    needed_by: Callable[[pytest.Item], bool]
    missing_reason: Callable[[], str | None]
    require_variable: str
    not_run: pytest.StashKey[int]

    def required(self) -> bool:
        return toolchains.required(self.require_variable)


# The browser last: its line is the run's last line, as it was before the others came.
_PREREQUISITES = (
    _Prerequisite(
        "Node tests",
        "Node.js",
        _marked("node"),
        toolchains.node_missing_reason,
        toolchains.REQUIRE_NODE,
        pytest.StashKey[int](),
    ),
    _Prerequisite(
        "Ruby checks",
        "Ruby",
        _marked("ruby"),
        toolchains.ruby_missing_reason,
        toolchains.REQUIRE_RUBY,
        pytest.StashKey[int](),
    ),
    _Prerequisite(
        "Browser tests",
        "browser",
        _drives_a_browser,
        browser.missing_reason,
        browser.REQUIRE,
        _BROWSER_TESTS_NOT_RUN,
    ),
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "node: runs Node.js (the TypeScript client and examples)")
    config.addinivalue_line("markers", "ruby: runs Ruby (the Rails example)")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    # Before any fixture: a test stopped here costs no live server or worker.
    for prerequisite in _PREREQUISITES:
        if not prerequisite.needed_by(item):
            continue
        reason = prerequisite.missing_reason()
        if reason is None:
            continue
        stash = item.config.stash
        stash[prerequisite.not_run] = stash.get(prerequisite.not_run, 0) + 1
        if prerequisite.required():
            pytest.fail(f"{reason} ({prerequisite.require_variable} is set)", pytrace=False)
        pytest.skip(reason)


def pytest_unconfigure(config: pytest.Config) -> None:
    # After pytest's own summary and counts, so the tests that did not run are the last
    # thing on screen rather than more "skipped" among the counts.
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return
    for prerequisite in _PREREQUISITES:
        count = config.stash.get(prerequisite.not_run, 0)
        if not count:
            continue
        tests = f"{count} test{'s' if count != 1 else ''}"
        reason = prerequisite.missing_reason()
        if prerequisite.required():
            reporter.write_line(
                f"{prerequisite.label} FAILED, not run ({tests}): {reason}; "
                f"{prerequisite.require_variable} is set, so a missing {prerequisite.thing} "
                "fails the run",
                red=True,
                bold=True,
            )
        else:
            reporter.write_line(
                f"{prerequisite.label} NOT RUN ({tests}): {reason}", yellow=True, bold=True
            )
