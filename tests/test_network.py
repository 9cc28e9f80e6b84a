"""The client's address behind trusted proxies: read from X-Forwarded-For only as far as
the proxies in front are trusted, for the audit log's network and the per-client limits."""

from __future__ import annotations

import pytest
from django.test import Client

from audit.context import client_of
from mrrx.network import client_address

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (0, "203.0.113.7", "10.0.0.2"),  # no proxy trusted: the header is the client's word
        (1, "203.0.113.7", "203.0.113.7"),
        (1, "6.6.6.6, 203.0.113.7", "203.0.113.7"),  # a spoofed entry on the left is skipped
        (2, "6.6.6.6, 203.0.113.7, 10.0.0.9", "203.0.113.7"),
        (2, "203.0.113.7", "10.0.0.2"),  # fewer entries than proxies: not through them all
        (1, "", "10.0.0.2"),
        (1, " , ", "10.0.0.2"),
    ],
)
def test_the_client_address(settings, proxies, forwarded, expected):
    settings.TRUSTED_PROXIES = proxies
    meta = {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": forwarded}
    assert client_address(meta) == expected


def test_the_audit_log_records_the_network_the_proxy_saw(settings, rf):
    request = rf.get("/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="6.6.6.6, 198.51.100.23")
    assert client_of(request)[0] == "127.0.0.0"
    settings.TRUSTED_PROXIES = 1
    assert client_of(request)[0] == "198.51.100.0"


def test_per_client_limits_count_each_client_behind_the_proxy(settings):
    settings.TRUSTED_PROXIES = 1
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "health": (2, 60)}
    proxy = {"REMOTE_ADDR": "127.0.0.1"}
    first = Client(HTTP_X_FORWARDED_FOR="203.0.113.7", **proxy)
    second = Client(HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.8", **proxy)
    assert [first.get("/api/v1/health").status_code for _ in range(3)] == [200, 200, 429]
    # Another client through the same proxy has its own count, whatever it forges.
    assert [second.get("/api/v1/health").status_code for _ in range(3)] == [200, 200, 429]
