"""Idempotency-Key handling matches Stripe's."""

from __future__ import annotations

import pytest
import stripe

from .helpers import make_subscription, raw


def _customer_writes(emu) -> list[dict]:
    return [
        r
        for r in emu.requests(method="POST", path="/v1/customers")
        if r["status"] == 200 and not r["replayed"]
    ]


def test_same_key_same_params_replays_once(client, emu):
    opts = {"idempotency_key": "create-jenny"}
    first = client.v1.customers.create(params={"email": "jenny@example.com"}, options=opts)
    second = client.v1.customers.create(params={"email": "jenny@example.com"}, options=opts)
    assert second.id == first.id
    assert raw(second) == raw(first)
    assert second.last_response.headers.get("idempotent-replayed") == "true"
    assert "idempotent-replayed" not in first.last_response.headers
    assert first.last_response.headers["request-id"].startswith("req_")
    # Acted once: one write in the log, one customer, one event.
    assert len(_customer_writes(emu)) == 1
    assert len(client.v1.customers.list().data) == 1
    created = client.v1.events.list(params={"type": "customer.created"}).data
    assert len(created) == 1
    assert created[0].request.idempotency_key == "create-jenny"
    replays = [r for r in emu.requests(idempotency_key="create-jenny") if r["replayed"]]
    assert len(replays) == 1


def test_same_key_different_params_is_an_idempotency_error(client):
    opts = {"idempotency_key": "key-1"}
    client.v1.customers.create(params={"email": "a@example.com"}, options=opts)
    with pytest.raises(stripe.IdempotencyError) as exc:
        client.v1.customers.create(params={"email": "b@example.com"}, options=opts)
    assert exc.value.http_status == 400
    error = exc.value.json_body["error"]
    assert error["type"] == "idempotency_error"
    assert error["message"].startswith(
        "Keys for idempotent requests can only be used with the same parameters they were "
        "first used with."
    )


def test_same_key_other_endpoint_is_an_idempotency_error(client):
    client.v1.customers.create(options={"idempotency_key": "key-2"})
    with pytest.raises(stripe.IdempotencyError):
        client.v1.products.create(params={"name": "x"}, options={"idempotency_key": "key-2"})


def test_subscription_update_replay_does_not_apply_twice(client, emu):
    _, _, sub = make_subscription(client)
    params = {"metadata": {"offer": "half-off"}, "pause_collection": {"behavior": "void"}}
    opts = {"idempotency_key": "pause-1"}
    client.v1.subscriptions.update(sub.id, params=params, options=opts)
    client.v1.subscriptions.update(sub.id, params={"pause_collection": ""})
    replay = client.v1.subscriptions.update(sub.id, params=params, options=opts)
    # The replay answers with the stored first response and changes nothing now.
    assert replay.pause_collection.behavior == "void"
    assert client.v1.subscriptions.retrieve(sub.id).pause_collection is None
    updates = client.v1.events.list(params={"type": "customer.subscription.updated"}).data
    assert len(updates) == 2


def test_keys_are_scoped_per_account(client, emu):
    acct = emu.mint_oauth_code()["account"]
    opts = {"idempotency_key": "shared-key"}
    platform = client.v1.customers.create(params={"email": "p@example.com"}, options=opts)
    connected = client.v1.customers.create(
        params={"email": "c@example.com"}, options={**opts, "stripe_account": acct}
    )
    assert platform.id != connected.id
    assert "idempotent-replayed" not in connected.last_response.headers


def test_validation_errors_are_not_stored(client):
    opts = {"idempotency_key": "fix-and-retry"}
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.customers.create(params={"emial": "typo@example.com"}, options=opts)
    # Stripe saves no result when parameters fail validation, so the key is still usable.
    customer = client.v1.customers.create(params={"email": "ok@example.com"}, options=opts)
    assert customer.email == "ok@example.com"
