"""Outbound requests go only to public addresses, checked at every send, and to the very
address that was checked."""

from __future__ import annotations

import ipaddress
import socket

import pytest
from django.core.exceptions import ValidationError

from webhooks.models import Endpoint
from webhooks.services import delivery_attempt, endpoint_create
from webhooks.ssrf import refusal_reason

from .conftest import emit_one

pytestmark = pytest.mark.django_db


@pytest.fixture
def no_loopback(settings):
    settings.WEBHOOK_ALLOW_LOOPBACK = False


def _point_endpoint_at(endpoint: Endpoint, url: str) -> None:
    # As if the URL had been saved while valid and its host later changed meaning.
    Endpoint.objects.filter(pk=endpoint.pk).update(url=url)


@pytest.mark.parametrize(
    "template, reason",
    [
        ("http://127.0.0.1:{port}/hook", "loopback address"),
        ("http://169.254.169.254/latest/meta-data/", "link-local address"),
        ("http://[::1]:{port}/hook", "loopback address"),
        ("http://10.0.0.1/hook", "private address"),
        ("http://100.64.0.1/hook", "shared address space (100.64.0.0/10)"),
        ("http://2130706433:{port}/hook", "loopback address"),
        ("http://0x7f.1:{port}/hook", "loopback address"),
        ("http://localhost:{port}/hook", "loopback address"),
        ("http://[::ffff:127.0.0.1]:{port}/hook", "loopback address"),
        ("http://0.0.0.0:{port}/hook", "unspecified address"),
    ],
)
def test_private_destinations_are_refused_at_send_time_with_the_reason_logged(
    template, reason, no_loopback, tenant, receiver, make_endpoint
):
    endpoint, _ = make_endpoint(tenant, url="https://hooks.example.com/mrrx")
    _point_endpoint_at(endpoint, template.format(port=receiver.port))
    delivery = emit_one(tenant)

    attempt = delivery_attempt(delivery_id=delivery.pk)

    assert attempt.status_code is None and not attempt.succeeded
    assert attempt.error.startswith("refused to connect to ")
    assert reason in attempt.error
    assert receiver.requests == []
    delivery.refresh_from_db()
    assert delivery.last_error == attempt.error


def test_a_name_that_resolves_to_a_private_address_is_refused(
    monkeypatch, no_loopback, tenant, receiver, make_endpoint
):
    real = socket.getaddrinfo

    def resolver(host, port, *args, **kwargs):
        if host == "internal.example.com":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.1.2.3", port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    endpoint, _ = make_endpoint(tenant, url="https://internal.example.com/hook")
    delivery = emit_one(tenant)

    attempt = delivery_attempt(delivery_id=delivery.pk)

    assert attempt.error == (
        "refused to connect to internal.example.com (10.1.2.3): private address"
    )


def test_the_loopback_allowance_allows_nothing_else_private(tenant, receiver, make_endpoint):
    endpoint, _ = make_endpoint(tenant)
    for url in ("http://10.0.0.1/hook", "http://169.254.169.254/", "http://[fd00::1]/"):
        _point_endpoint_at(endpoint, url)
        attempt = delivery_attempt(delivery_id=emit_one(tenant).pk)
        assert attempt.error.startswith("refused to connect to "), url


def test_the_checked_address_is_the_one_connected_to(monkeypatch, tenant, receiver, make_endpoint):
    # DNS rebinding: the name answers loopback (allowed here) first, then a private
    # address. The request must go where the first, checked, answer pointed.
    real = socket.getaddrinfo
    answers = iter(["127.0.0.1"])
    asked = []

    def resolver(host, port, *args, **kwargs):
        if host == "rebind.example.com":
            asked.append(host)
            address = next(answers, "10.9.9.9")
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    make_endpoint(tenant, url=f"http://rebind.example.com:{receiver.port}/hook")

    attempt = delivery_attempt(delivery_id=emit_one(tenant).pk)

    assert attempt.succeeded, attempt.error
    assert asked == ["rebind.example.com"]
    [got] = receiver.requests
    assert got.headers["host"] == f"rebind.example.com:{receiver.port}"


def test_a_live_endpoint_is_sent_to_over_https_only(tenant, receiver, make_endpoint):
    endpoint, _ = make_endpoint(tenant, livemode=True, url="https://hooks.example.com/mrrx")
    _point_endpoint_at(endpoint, receiver.url())

    attempt = delivery_attempt(delivery_id=emit_one(tenant, livemode=True).pk)

    assert attempt.error == "live-mode endpoints must use https"
    assert receiver.requests == []


@pytest.mark.parametrize(
    "url", ["http://10.0.0.1/hook", "http://169.254.169.254/", "http://[::1]/", "http://0.0.0.0/"]
)
def test_an_address_written_into_the_url_is_refused_when_saved(url, no_loopback, tenant):
    with pytest.raises(ValidationError) as caught:
        endpoint_create(tenant=tenant, livemode=False, url=url)
    assert "does not send webhooks to this address" in caught.value.message_dict["url"][0]
    assert not Endpoint.objects.exists()


@pytest.mark.parametrize(
    "address, reason",
    [
        ("93.184.216.34", None),
        ("2606:4700:4700::1111", None),
        ("127.0.0.53", "loopback address"),
        ("10.1.2.3", "private address"),
        ("172.16.0.1", "private address"),
        ("192.168.1.1", "private address"),
        ("169.254.169.254", "link-local address"),
        ("100.127.255.254", "shared address space (100.64.0.0/10)"),
        ("224.0.0.1", "multicast address"),
        ("240.0.0.1", "private address"),
        ("255.255.255.255", "private address"),
        ("0.0.0.0", "unspecified address"),
        ("198.18.0.1", "private address"),
        ("::", "unspecified address"),
        ("::1", "loopback address"),
        ("fe80::1", "link-local address"),
        ("fd12:3456::1", "IPv6 unique local address"),
        ("fec0::1", "IPv6 site-local address"),
        ("ff02::1", "multicast address"),
        ("::ffff:10.0.0.1", "private address (embedded in ::ffff:a00:1)"),
        ("::ffff:169.254.169.254", "link-local address (embedded in ::ffff:a9fe:a9fe)"),
        ("64:ff9b::a00:1", "private address (embedded in 64:ff9b::a00:1)"),
        ("2002:a00:1::", "private address (embedded in 2002:a00:1::)"),
        ("2001:db8::1", "private address"),
    ],
)
def test_refusal_reasons(address, reason):
    assert refusal_reason(ipaddress.ip_address(address), allow_loopback=False) == reason


def test_loopback_is_allowed_only_when_the_setting_says_so():
    for address in ("127.0.0.1", "::1", "::ffff:127.0.0.1"):
        ip = ipaddress.ip_address(address)
        assert refusal_reason(ip, allow_loopback=True) is None
        assert refusal_reason(ip, allow_loopback=False).startswith("loopback address")
