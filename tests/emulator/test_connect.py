"""Connected accounts: namespace isolation and the OAuth flow."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import httpx
import pytest
import stripe
from stripe import oauth_error

from .helpers import make_subscription


def test_objects_are_isolated_per_account(client, emu):
    acct_a = emu.mint_oauth_code()["account"]
    acct_b = emu.mint_oauth_code()["account"]
    a = {"stripe_account": acct_a}
    customer = client.v1.customers.create(params={"email": "a@example.com"}, options=a)
    assert client.v1.customers.retrieve(customer.id, options=a).id == customer.id
    for other in ({"stripe_account": acct_b}, {}):
        with pytest.raises(stripe.InvalidRequestError) as exc:
            client.v1.customers.retrieve(customer.id, options=other)
        assert exc.value.http_status == 404
        assert exc.value.code == "resource_missing"
        assert client.v1.customers.list(options=other).data == []
    sub_customer, _, sub = make_subscription(client)
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.subscriptions.update(sub.id, params={"metadata": {"x": "y"}}, options=a)
    assert client.v1.subscriptions.list(options=a).data == []


def test_oauth_code_exchange_and_reuse(client, emu):
    minted = emu.mint_oauth_code(email="owner@shop.example", business_name="Shop")
    token = client.oauth.token(params={"grant_type": "authorization_code", "code": minted["code"]})
    assert token.stripe_user_id == minted["account"]
    assert token.access_token.startswith("sk_test_")
    assert token.stripe_publishable_key.startswith("pk_test_")
    assert token.refresh_token
    assert token.token_type == "bearer"
    assert token.scope == "read_write"
    assert token.livemode is False
    account = client.v1.accounts.retrieve_current(options={"stripe_account": token.stripe_user_id})
    assert account.id == minted["account"]
    assert account.email == "owner@shop.example"
    # The access token works as that account's secret key.
    as_account = emu.client(token.access_token)
    made = as_account.v1.customers.create(params={"email": "buyer@example.com"})
    got = client.v1.customers.retrieve(made.id, options={"stripe_account": minted["account"]})
    assert got.email == "buyer@example.com"

    with pytest.raises(oauth_error.InvalidGrantError) as exc:
        client.oauth.token(params={"grant_type": "authorization_code", "code": minted["code"]})
    assert exc.value.http_status == 400
    assert exc.value.json_body["error"] == "invalid_grant"
    assert "error_description" in exc.value.json_body
    with pytest.raises(oauth_error.InvalidGrantError):
        client.oauth.token(params={"grant_type": "authorization_code", "code": "bogus"})


def test_any_fresh_ac_code_is_accepted(client):
    token = client.oauth.token(params={"grant_type": "authorization_code", "code": "ac_demo123"})
    assert token.stripe_user_id.startswith("acct_")
    with pytest.raises(oauth_error.InvalidGrantError):
        client.oauth.token(params={"grant_type": "authorization_code", "code": "ac_demo123"})


def test_client_secret_in_form_and_refresh(emu):
    code = emu.mint_oauth_code()["code"]
    response = httpx.post(
        emu.base_url + "/oauth/token",
        data={"grant_type": "authorization_code", "code": code, "client_secret": "sk_test_abc"},
    )
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "access_token",
        "livemode",
        "refresh_token",
        "scope",
        "stripe_publishable_key",
        "stripe_user_id",
        "token_type",
    }
    refreshed = httpx.post(
        emu.base_url + "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
        headers={"Authorization": "Bearer sk_test_abc"},
    )
    assert refreshed.status_code == 200
    assert refreshed.json()["stripe_user_id"] == body["stripe_user_id"]
    missing_secret = httpx.post(
        emu.base_url + "/oauth/token", data={"grant_type": "authorization_code", "code": "ac_x"}
    )
    assert missing_secret.status_code == 401
    assert missing_secret.json()["error"] == "invalid_client"


def test_authorize_redirects_with_code_and_state(client, emu):
    url = client.oauth.authorize_url(
        params={
            "scope": "read_write",
            "state": "csrf-123",
            "redirect_uri": "http://app.example/connect/callback?x=1",
        }
    )
    assert url.startswith(emu.base_url + "/oauth/authorize?")
    response = httpx.get(url, follow_redirects=False)
    assert response.status_code == 302
    location = urlparse(response.headers["location"])
    assert location.netloc == "app.example"
    query = parse_qs(location.query)
    assert query["state"] == ["csrf-123"]
    assert query["x"] == ["1"]
    code = query["code"][0]
    assert code.startswith("ac_")
    token = client.oauth.token(params={"grant_type": "authorization_code", "code": code})
    assert token.stripe_user_id.startswith("acct_")


def test_deauthorize_then_calls_fail(client, emu):
    minted = emu.mint_oauth_code()
    token = client.oauth.token(params={"grant_type": "authorization_code", "code": minted["code"]})
    acct = token.stripe_user_id
    client.v1.customers.create(options={"stripe_account": acct})
    result = client.oauth.deauthorize(params={"stripe_user_id": acct})
    assert result.stripe_user_id == acct
    with pytest.raises(stripe.PermissionError) as exc:
        client.v1.customers.list(options={"stripe_account": acct})
    assert exc.value.http_status == 403
    assert exc.value.json_body["error"]["code"] == "account_invalid"
    with pytest.raises(stripe.AuthenticationError) as exc:
        emu.client(token.access_token).v1.customers.list()
    assert exc.value.http_status == 401
    with pytest.raises(oauth_error.InvalidClientError):
        client.oauth.deauthorize(params={"stripe_user_id": acct})
    # The platform itself keeps working.
    assert client.v1.customers.list().data == []
