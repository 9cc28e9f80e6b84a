"""Errors come back in Stripe's body shape and map to stripe-python's exception classes."""

from __future__ import annotations

import httpx
import pytest
import stripe

from .helpers import make_subscription


def test_unknown_id_is_resource_missing(client):
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.subscriptions.retrieve("sub_doesnotexist")
    err = exc.value
    assert err.http_status == 404
    assert err.code == "resource_missing"
    assert err.param == "id"
    body = err.json_body["error"]
    assert body["message"] == "No such subscription: 'sub_doesnotexist'"
    assert body["type"] == "invalid_request_error"
    assert body["doc_url"].endswith("/resource-missing")
    assert body["request_log_url"].startswith("https://dashboard.stripe.com/test/logs/req_")
    assert err.request_id and err.request_id.startswith("req_")


def test_unknown_and_invalid_parameters(client):
    _, _, sub = make_subscription(client)
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.subscriptions.update(sub.id, params={"colour": "blue"})
    assert exc.value.http_status == 400
    assert exc.value.code == "parameter_unknown"
    assert exc.value.param == "colour"
    assert exc.value.json_body["error"]["message"] == "Received unknown parameter: colour"
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.subscriptions.update(
            sub.id, params={"pause_collection": {"behavior": "void", "until": 1}}
        )
    assert exc.value.param == "pause_collection[until]"
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.customers.create(params={"email": "a@b.c", "plan": "x"})
    assert exc.value.code == "parameter_unknown"
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.prices.create(params={"currency": "usd", "unit_amount": "ten", "product": "p"})
    assert exc.value.code == "parameter_invalid_integer"
    assert exc.value.param == "unit_amount"
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.coupons.create(params={"duration": "forever"})
    assert exc.value.http_status == 400
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.products.create(params={})
    assert exc.value.code == "parameter_missing"
    assert exc.value.param == "name"


def test_authentication_errors(emu):
    with pytest.raises(stripe.AuthenticationError) as exc:
        emu.client("not_a_key").v1.customers.list()
    assert exc.value.http_status == 401
    response = httpx.get(emu.base_url + "/v1/customers")
    assert response.status_code == 401
    assert "did not provide an API key" in response.json()["error"]["message"]
    for key in ("sk_live_abc", "rk_test_abc", "rk_live_abc"):
        assert emu.client(key).v1.customers.list().data == []
    # curl -u sk_test_x: (Basic auth) works too.
    basic = httpx.get(emu.base_url + "/v1/customers", auth=("sk_test_x", ""))
    assert basic.status_code == 200


def test_live_and_test_data_are_separate(emu):
    live = emu.client("sk_live_abc").v1.customers.create()
    assert live.livemode is True
    assert emu.client("sk_test_abc").v1.customers.list().data == []


def test_unrecognized_url(emu):
    response = httpx.get(
        emu.base_url + "/v1/nonsense", headers={"Authorization": "Bearer sk_test_x"}
    )
    assert response.status_code == 404
    assert response.json()["error"]["message"].startswith("Unrecognized request URL (GET:")


def test_fault_statuses_map_to_exception_classes(client, emu):
    emu.fail_next(1, status=429)
    with pytest.raises(stripe.RateLimitError) as exc:
        client.v1.customers.list()
    assert exc.value.http_status == 429
    assert exc.value.json_body["error"]["code"] == "rate_limit"
    assert exc.value.json_body["error"]["type"] == "invalid_request_error"
    emu.fail_next(1, status=500)
    with pytest.raises(stripe.APIError) as exc:
        client.v1.customers.list()
    assert exc.value.http_status == 500
    assert exc.value.json_body["error"]["type"] == "api_error"
    assert client.v1.customers.list().data == []


def test_raw_form_encoding_as_curl_sends_it(emu):
    headers = {"Authorization": "Bearer sk_test_x"}
    price = httpx.post(
        emu.base_url + "/v1/prices",
        headers=headers,
        content="currency=usd&unit_amount=700&recurring[interval]=month&product_data[name]=Basic",
    ).json()
    customer = httpx.post(emu.base_url + "/v1/customers", headers=headers, data={}).json()
    body = (
        f"customer={customer['id']}&items[0][price]={price['id']}&items[0][quantity]=2"
        "&expand[]=customer&expand[]=items.data.price.product&metadata[k]=v"
    )
    sub = httpx.post(emu.base_url + "/v1/subscriptions", headers=headers, content=body).json()
    assert sub["customer"]["id"] == customer["id"]
    assert sub["items"]["data"][0]["quantity"] == 2
    assert sub["items"]["data"][0]["price"]["product"]["name"] == "Basic"
    got = httpx.get(
        emu.base_url + f"/v1/subscriptions/{sub['id']}?expand[]=customer", headers=headers
    ).json()
    assert got["customer"]["object"] == "customer"
