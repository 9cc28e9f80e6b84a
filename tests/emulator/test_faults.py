"""Injected faults: failures, rate limits and slow answers."""

from __future__ import annotations

import time

import pytest
import stripe


def test_fail_next_two_then_succeed(client, emu):
    emu.fail_next(2, status=500)
    for _ in range(2):
        with pytest.raises(stripe.APIError):
            client.v1.customers.create()
    customer = client.v1.customers.create()
    assert customer.id.startswith("cus_")
    log = emu.requests(path="/v1/customers")
    assert [r["status"] for r in log] == [500, 500, 200]
    assert [r["fault"] for r in log] == [True, True, False]


def test_retries_with_the_same_key_act_once(emu):
    # stripe-python retries 500s with the same Idempotency-Key; the write happens once.
    retrying = emu.client("sk_test_x", max_network_retries=3)
    emu.fail_next(2, status=500, path_prefix="/v1/customers")
    customer = retrying.v1.customers.create(params={"email": "once@example.com"})
    log = emu.requests(method="POST", path="/v1/customers")
    assert [r["status"] for r in log] == [500, 500, 200]
    assert len({r["idempotency_key"] for r in log}) == 1
    assert [c.id for c in retrying.v1.customers.list().data] == [customer.id]


def test_rate_limit(client, emu):
    emu.fail_next(1, status=429)
    with pytest.raises(stripe.RateLimitError):
        client.v1.subscriptions.list()
    assert client.v1.subscriptions.list().data == []


def test_delay_then_normal_answer(client, emu):
    emu.fail_next(1, status=None, delay_ms=300)
    started = time.monotonic()
    customer = client.v1.customers.create()
    assert time.monotonic() - started >= 0.3
    assert customer.id.startswith("cus_")


def test_faults_filter_by_path_and_method(client, emu):
    emu.fail_next(1, status=503, path_prefix="/v1/subscriptions", method="POST")
    client.v1.customers.create()  # unaffected
    client.v1.subscriptions.list()  # GET: unaffected
    with pytest.raises(stripe.APIError) as exc:
        client.v1.subscriptions.create(params={"customer": "cus_x", "items": [{"price": "p"}]})
    assert exc.value.http_status == 503
