"""``/api/v1/hub_sessions``: open a hub for a customer, read what they did there."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.utils import timezone

from hub.models import HubAction, HubSession
from hub.tokens import HUB_AUDIENCE
from sessions_app.models import Session
from sessions_app.tokens import token_verify

from .conftest import SEED_KEY, connect, page_path

pytestmark = pytest.mark.django_db

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def _error(response, status: int, code: str) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert body["error"]["message"].startswith(f"{code}: ")
    return body["error"]


# --- create ---------------------------------------------------------------------------------


def test_create_returns_id_token_url_and_expiry(hub_shop, settings):
    response = hub_shop.create(
        return_url="https://app.example.com/account", metadata={"user_id": "u1"}
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {"id", "token", "url", "expires_at", "livemode"}
    assert body["id"].startswith("hub_") and body["livemode"] is False
    assert body["url"] == f"{settings.PUBLIC_BASE_URL}/h/{body['token']}"
    assert ISO_MS.match(body["expires_at"])
    claims = token_verify(token=body["token"], audience=HUB_AUDIENCE)
    assert claims["hid"] == body["id"]
    hub = HubSession.objects.get(pk=body["id"])
    assert hub.customer_id == hub_shop.customer.customer_id
    assert hub.metadata == {"user_id": "u1"}
    assert hub.return_url == "https://app.example.com/account"
    assert timedelta(minutes=59) < hub.expires_at - timezone.now() <= timedelta(hours=1)
    # Headers of the shared machinery, as on every endpoint.
    assert response["X-RateLimit-Limit"] == "1000"


def test_return_url_defaults_to_the_workspace_default(hub_shop):
    body = hub_shop.open()
    assert HubSession.objects.get(pk=body["id"]).return_url == "https://app.example.com/account"


def test_customer_email_stands_in_for_the_id(hub_shop):
    body = hub_shop.open(customer_id=None, customer_email="subscriber@example.com")
    hub = HubSession.objects.get(pk=body["id"])
    assert hub.customer_id == hub_shop.customer.customer_id
    assert hub.customer_email == "subscriber@example.com"


def test_id_and_email_that_agree_are_accepted(hub_shop):
    body = hub_shop.open(customer_email="subscriber@example.com")
    assert HubSession.objects.get(pk=body["id"]).customer_id == hub_shop.customer.customer_id


def test_id_and_email_that_disagree_are_a_validation_error(hub_shop, emulator):
    emulator.client(SEED_KEY).v1.customers.create({"email": "someone@example.com"})
    error = _error(hub_shop.create(customer_email="someone@example.com"), 400, "validation_error")
    assert "customer_email" in error["details"]
    assert HubSession.objects.count() == 0


def test_an_email_of_two_customers_asks_for_the_id(hub_shop, emulator):
    twin = emulator.client(SEED_KEY).v1.customers.create({"email": "subscriber@example.com"})
    error = _error(
        hub_shop.create(customer_id=None, customer_email="subscriber@example.com"),
        400,
        "validation_error",
    )
    assert "customer_id" in error["details"]
    assert twin.id in error["details"]["customer_id"]
    assert hub_shop.customer.customer_id in error["details"]["customer_id"]
    assert "customer_id" in error["message"]
    assert HubSession.objects.count() == 0


def test_unknown_customer_is_404(hub_shop):
    error = _error(hub_shop.create(customer_id="cus_doesnotexist"), 404, "not_found")
    assert error["details"] == {"customer_id": "cus_doesnotexist"}
    _error(hub_shop.create(customer_id=None, customer_email="nobody@example.com"), 404, "not_found")
    assert HubSession.objects.count() == 0


def test_another_workspaces_customer_is_404(hub_shop, emulator, make_client, other_tenant):
    # The other workspace's Stripe account (a Connect account) has its own customers.
    theirs = emulator.client(SEED_KEY, stripe_account="acct_otherworkspace1")
    customer = theirs.v1.customers.create({"email": "theirs@example.com"})
    _error(hub_shop.create(customer_id=customer.id), 404, "not_found")
    _error(hub_shop.create(customer_id=None, customer_email="theirs@example.com"), 404, "not_found")
    assert HubSession.objects.count() == 0


def test_a_customer_without_subscriptions_still_gets_a_hub(hub_shop, emulator):
    alone = emulator.client(SEED_KEY).v1.customers.create({"email": "alone@example.com"})
    assert hub_shop.create(customer_id=alone.id).status_code == 201


@pytest.mark.parametrize(
    "body, field",
    [
        ({"customer_id": None}, "customer_id"),
        ({"customer_id": "bob"}, "customer_id"),
        ({"customer_id": None, "customer_email": "not-an-email"}, "customer_email"),
        ({"metadata": {f"k{i}": "v" for i in range(11)}}, "metadata"),
        ({"metadata": {"k": 5}}, "metadata"),
        ({"return_url": "https://evil.example/account"}, "return_url"),
        ({"return_url": "javascript:alert(1)"}, "return_url"),
        ({"subscription_id": "sub_1"}, "subscription_id"),
        ({"surprise": True}, "surprise"),
    ],
)
def test_bad_input_is_a_validation_error_and_changes_nothing(hub_shop, body, field):
    error = _error(hub_shop.create(**body), 400, "validation_error")
    assert field in error["details"]
    assert HubSession.objects.count() == 0


def test_malformed_json_is_invalid_request(hub_shop):
    response = hub_shop.client.client.post(
        "/api/v1/hub_sessions", data="{nope", content_type="application/json"
    )
    _error(response, 400, "invalid_request")


def test_a_read_only_key_cannot_create(hub_shop, make_client):
    reader = make_client(hub_shop.tenant, scopes=["sessions:read"])
    response = reader.post("/api/v1/hub_sessions", {"customer_id": "cus_1"})
    _error(response, 403, "insufficient_permissions")


def test_stripe_trouble_is_stripe_error(hub_shop, emulator):
    emulator.fail_next(1, status=500, path_prefix="/v1/customers")
    _error(hub_shop.create(), 502, "stripe_error")
    assert HubSession.objects.count() == 0


def test_idempotent_replay_returns_the_same_hub(hub_shop):
    headers = {"HTTP_IDEMPOTENCY_KEY": "hub-create-1"}
    first = hub_shop.client.post(
        "/api/v1/hub_sessions", {"customer_id": hub_shop.customer.customer_id}, **headers
    )
    again = hub_shop.client.post(
        "/api/v1/hub_sessions", {"customer_id": hub_shop.customer.customer_id}, **headers
    )
    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert HubSession.objects.count() == 1
    other_body = hub_shop.client.post(
        "/api/v1/hub_sessions", {"customer_email": "subscriber@example.com"}, **headers
    )
    _error(other_body, 422, "idempotency_key_reused")


def test_a_live_key_opens_live_hubs_for_live_customers_only(hub_shop, emulator, make_client):
    connect(hub_shop.tenant, livemode=True)
    live_customer = emulator.client("sk_live_seed").v1.customers.create({"email": "l@example.com"})
    live = make_client(hub_shop.tenant, livemode=True)
    response = live.post(
        "/api/v1/hub_sessions",
        {"customer_id": live_customer.id, "return_url": "https://app.example.com/account"},
    )
    assert response.status_code == 201, response.content
    assert response.json()["livemode"] is True
    assert HubSession.objects.get().livemode is True
    # The test-mode customer does not exist in live mode.
    test_customer = {"customer_id": hub_shop.customer.customer_id}
    _error(live.post("/api/v1/hub_sessions", test_customer), 404, "not_found")


# --- read -----------------------------------------------------------------------------------


def test_get_shows_the_visit_with_nothing_done_yet(hub_shop):
    created = hub_shop.open(metadata={"user_id": "u1"})
    body = hub_shop.client.get(f"/api/v1/hub_sessions/{created['id']}").json()
    assert body["id"] == created["id"]
    assert body["customer_id"] == hub_shop.customer.customer_id
    assert body["metadata"] == {"user_id": "u1"}
    assert (body["viewed_at"], body["views"], body["actions"], body["sessions"]) == (
        None,
        0,
        [],
        [],
    )
    assert body["expires_at"] == created["expires_at"]


def test_get_lists_actions_with_times_and_the_cancellation_sessions_opened(hub_shop, browser):
    created = hub_shop.open()
    path = page_path(created["url"])
    browser.get(path)
    sub_id = hub_shop.customer.addon_subscription_id
    assert browser.post(path, {"action": "cancel", "subscription": sub_id}).status_code == 302
    body = hub_shop.client.get(f"/api/v1/hub_sessions/{created['id']}").json()
    session = Session.objects.get(hub_session_id=created["id"])
    assert body["views"] == 1 and ISO_MS.match(body["viewed_at"])
    [action] = body["actions"]
    assert action["type"] == "cancel" and action["status"] == "opened"
    assert action["subscription_id"] == sub_id and action["session_id"] == session.id
    assert ISO_MS.match(action["created_at"])
    [listed] = body["sessions"]
    assert listed["id"] == session.id and listed["status"] == "created"
    assert listed["subscription_id"] == sub_id


def test_unknown_hub_is_404(hub_shop):
    error = _error(hub_shop.client.get("/api/v1/hub_sessions/hub_nope"), 404, "session_not_found")
    assert error["details"] == {"hub_session_id": "hub_nope"}


def test_another_workspaces_and_the_other_modes_hub_is_404(hub_shop, make_client, other_tenant):
    created = hub_shop.open()
    theirs = make_client(other_tenant)
    _error(theirs.get(f"/api/v1/hub_sessions/{created['id']}"), 404, "session_not_found")
    live = make_client(hub_shop.tenant, livemode=True)
    _error(live.get(f"/api/v1/hub_sessions/{created['id']}"), 404, "session_not_found")


def test_v1_alias_serves_the_same_views(hub_shop):
    created = hub_shop.open()
    assert hub_shop.client.get(f"/v1/hub_sessions/{created['id']}").status_code == 200


def test_schema_documents_hub_sessions_with_error_codes(client):
    schema = client.get("/api/v1/schema", HTTP_ACCEPT="application/json").json()
    create = schema["paths"]["/api/v1/hub_sessions"]["post"]
    assert {"201", "400", "404", "422", "429", "502"} <= set(create["responses"])
    read = schema["paths"]["/api/v1/hub_sessions/{hub_session_id}"]["get"]
    assert {"200", "404"} <= set(read["responses"])
    assert {"HubSession", "HubAction", "HubSessionCreateRequest"} <= set(
        schema["components"]["schemas"]
    )


def test_url_uses_public_base_url(hub_shop, settings):
    settings.PUBLIC_BASE_URL = "https://billing.example.com"
    assert urlsplit(hub_shop.open()["url"]).netloc == "billing.example.com"


def test_no_action_rows_for_a_new_hub(hub_shop):
    hub_shop.open()
    assert HubAction.objects.count() == 0
