"""``/api/v1/sessions``: the reference contract, every error code, for real."""

from __future__ import annotations

import re
import threading
from datetime import timedelta
from urllib.parse import urlsplit

import jwt
import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from sessions_app.models import Session
from sessions_app.tokens import SESSION_AUDIENCE, token_verify
from webhooks.models import Event

from .conftest import SEED_KEY, connect, seed

pytestmark = pytest.mark.django_db

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def _error(response, status: int, code: str) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    return body["error"]


# --- create ---------------------------------------------------------------------------------


def test_create_returns_the_reference_shape(shop):
    response = shop.create(return_url="https://app.example.com/account", metadata={"user_id": "u1"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {"id", "token", "url", "expires_at", "status", "livemode"}
    assert re.fullmatch(r"ses_[0-9a-z]{25}", body["id"])
    assert body["status"] == "created" and body["livemode"] is False
    assert body["url"] == f"{settings.PUBLIC_BASE_URL}/c/{body['token']}"
    assert ISO_MS.match(body["expires_at"])
    session = Session.objects.get(pk=body["id"])
    assert session.expires_at - session.created_at == timedelta(hours=24)
    claims = token_verify(token=body["token"], audience=SESSION_AUDIENCE)
    assert claims["sid"] == session.id and claims["exp"] == int(session.expires_at.timestamp())
    header = jwt.get_unverified_header(body["token"])
    assert header["alg"] == "HS256" and header["kid"] == settings.SESSION_TOKEN_KEYS[0][0]


def test_create_snapshots_the_subscription_in_one_stripe_read(shop, emulator):
    emulator.http.delete("/_emulator/requests")
    body = shop.create().json()
    session = Session.objects.get(pk=body["id"])
    assert session.product_name == "Pro Plan"
    assert (session.price_amount, session.price_currency, session.price_interval) == (
        2900,
        "usd",
        "month",
    )
    assert session.subscription_snapshot["status"] == "active"
    assert session.subscription_snapshot["current_period_end"]
    reads = [r for r in emulator.requests() if r["path"].startswith("/v1/subscriptions")]
    assert len(reads) == 1, reads


def test_create_emits_session_created(shop):
    body = shop.create(metadata={"plan": "pro"}).json()
    event = Event.objects.get(tenant=shop.tenant, type="session.created")
    assert event.payload["data"]["session_id"] == body["id"]
    assert event.payload["data"]["metadata"] == {"plan": "pro"}
    assert event.livemode is False


def test_return_url_defaults_to_the_workspace_default(shop):
    body = shop.create().json()
    got = shop.client.get(f"/api/v1/sessions/{body['id']}").json()
    assert got["return_url"] == shop.tenant.default_return_url


def test_customer_email_stands_in_for_customer_id(shop):
    response = shop.client.post(
        "/api/v1/sessions",
        {
            "customer_email": "subscriber@example.com",
            "subscription_id": shop.seeded.subscription_id,
        },
    )
    assert response.status_code == 201, response.content
    assert Session.objects.get(pk=response.json()["id"]).customer_id == shop.seeded.customer_id


def test_unknown_customer_email_is_invalid_customer(shop):
    response = shop.client.post(
        "/api/v1/sessions",
        {"customer_email": "nobody@example.com", "subscription_id": shop.seeded.subscription_id},
    )
    _error(response, 400, "invalid_customer")
    assert Session.objects.count() == 0


def test_subscription_may_be_left_out_when_the_customer_has_one(shop):
    response = shop.client.post("/api/v1/sessions", {"customer_id": shop.seeded.customer_id})
    assert response.status_code == 201, response.content
    session = Session.objects.get(pk=response.json()["id"])
    assert session.subscription_id == shop.seeded.subscription_id


def test_several_live_subscriptions_need_the_subscription_id(shop, emulator):
    client = emulator.client(SEED_KEY)
    client.v1.subscriptions.create(
        {"customer": shop.seeded.customer_id, "items": [{"price": shop.seeded.basic_price_id}]}
    )
    response = shop.client.post("/api/v1/sessions", {"customer_id": shop.seeded.customer_id})
    error = _error(response, 400, "validation_error")
    assert "subscription_id" in error["details"]
    assert Session.objects.count() == 0


def test_unknown_subscription_is_subscription_not_found(shop):
    _error(shop.create(subscription_id="sub_doesnotexist"), 404, "subscription_not_found")
    assert Session.objects.count() == 0


def test_other_customers_subscription_is_invalid_customer(shop, emulator):
    other = emulator.client(SEED_KEY).v1.customers.create({"email": "other@example.com"})
    error = _error(shop.create(customer_id=other.id), 400, "invalid_customer")
    assert error["details"]["customer_id"] == other.id
    assert Session.objects.count() == 0


def test_canceled_subscription_is_refused(shop, emulator):
    emulator.client(SEED_KEY).v1.subscriptions.cancel(shop.seeded.subscription_id)
    _error(shop.create(), 400, "subscription_already_canceled")
    assert Session.objects.count() == 0


def test_second_session_for_a_subscription_is_409_naming_the_first(shop):
    first = shop.create().json()
    error = _error(shop.create(), 409, "session_already_exists")
    assert error["details"]["session_id"] == first["id"]
    assert Session.objects.count() == 1


def test_a_finished_session_does_not_block_a_new_one(shop):
    first = shop.create().json()
    Session.objects.filter(pk=first["id"]).update(status="expired")
    assert shop.create().status_code == 201


def test_stripe_trouble_is_stripe_error_502(shop, emulator):
    emulator.fail_next(1, status=500, path_prefix="/v1/subscriptions")
    error = _error(shop.create(), 502, "stripe_error")
    assert error["details"]["transient"] is True
    assert Session.objects.count() == 0


def test_workspace_without_stripe_is_stripe_error(make_client, emulator):
    client = make_client()
    response = client.post("/api/v1/sessions", {"customer_id": "cus_1", "subscription_id": "sub_1"})
    _error(response, 502, "stripe_error")


@pytest.mark.parametrize(
    "body, field",
    [
        ({"metadata": {f"k{i}": "v" for i in range(11)}}, "metadata"),
        ({"metadata": {"k" * 41: "v"}}, "metadata"),
        ({"metadata": {"k": "v" * 501}}, "metadata"),
        ({"metadata": {"k": 5}}, "metadata"),
        ({"metadata": ["not", "an", "object"]}, "metadata"),
        ({"return_url": "javascript:alert(1)"}, "return_url"),
        ({"return_url": "//evil.example/account"}, "return_url"),
        ({"return_url": "https://app.example.com.evil.example/account"}, "return_url"),
        ({"return_url": "https://evil.example/account"}, "return_url"),
        ({"return_url": "https://user@app.example.com/account"}, "return_url"),
        ({"return_url": "http://app.example.com:8443/account"}, "return_url"),
        ({"subscription_id": "not-a-sub"}, "subscription_id"),
        ({"customer_id": "bob"}, "customer_id"),
        ({"context": {"mrr": -1}}, "context"),
        ({"context": {"unknown": 1}}, "context"),
        ({"surprise": True}, "surprise"),
    ],
)
def test_bad_input_is_a_validation_error_and_changes_nothing(shop, emulator, body, field):
    emulator.http.delete("/_emulator/requests")
    error = _error(shop.create(**body), 400, "validation_error")
    assert field in error["details"]
    assert Session.objects.count() == 0
    assert Event.objects.count() == 0


def test_missing_customer_is_a_validation_error(shop):
    response = shop.client.post(
        "/api/v1/sessions", {"subscription_id": shop.seeded.subscription_id}
    )
    assert "customer_id" in _error(response, 400, "validation_error")["details"]


def test_allowlisted_path_prefix_and_context_are_accepted(shop):
    shop.tenant.return_url_allowlist = ["https://shop.example/account"]
    shop.tenant.save()
    response = shop.create(
        return_url="https://shop.example/account/billing?x=1",
        context={"plan": "pro", "mrr": 2900, "tenure_days": 400},
    )
    assert response.status_code == 201, response.content
    session = Session.objects.get(pk=response.json()["id"])
    assert session.context == {"plan": "pro", "mrr": 2900, "tenure_days": 400}
    _error(shop.create(return_url="https://shop.example/accounting"), 400, "validation_error")


def test_live_mode_requires_https_return_urls(emulator, make_client, tenant):
    connect(tenant, livemode=True)
    tenant.return_url_allowlist = ["http://app.example.com"]
    tenant.save()
    seeded = seed(emulator)
    live = make_client(tenant, livemode=True)
    response = live.post(
        "/api/v1/sessions",
        {
            "customer_id": seeded.customer_id,
            "subscription_id": seeded.subscription_id,
            "return_url": "http://app.example.com/account",
        },
    )
    assert "https" in _error(response, 400, "validation_error")["details"]["return_url"]


def test_malformed_json_is_invalid_request(shop):
    response = shop.client.client.post(
        "/api/v1/sessions", '{"customer_id": ', content_type="application/json"
    )
    _error(response, 400, "invalid_request")


def test_read_only_key_cannot_create(shop, make_client):
    reader = make_client(shop.tenant, scopes=["sessions:read"])
    response = reader.post(
        "/api/v1/sessions",
        {"customer_id": shop.seeded.customer_id, "subscription_id": shop.seeded.subscription_id},
    )
    _error(response, 403, "insufficient_permissions")
    assert Session.objects.count() == 0


def test_bad_key_is_invalid_api_key(shop):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer mrrx_test_" + "x" * 40)
    _error(client.post("/api/v1/sessions", {}, format="json"), 401, "invalid_api_key")


def test_creation_limit_is_100_an_hour_with_headers(shop):
    response = shop.create()
    assert response["X-RateLimit-Limit"] == "100"
    assert response["X-RateLimit-Remaining"] == "99"
    shop.tenant.rate_limit_overrides = {"sessions.create": 1}
    shop.tenant.save()
    limited = shop.create()
    _error(limited, 429, "rate_limited")
    assert int(limited["Retry-After"]) >= 1


# --- idempotency -----------------------------------------------------------------------------


def test_idempotent_replay_returns_the_same_session(shop):
    first = shop.client.post(
        "/api/v1/sessions",
        {"customer_id": shop.seeded.customer_id, "subscription_id": shop.seeded.subscription_id},
        HTTP_IDEMPOTENCY_KEY="cancel-click-1",
    )
    again = shop.client.post(
        "/api/v1/sessions",
        {"customer_id": shop.seeded.customer_id, "subscription_id": shop.seeded.subscription_id},
        HTTP_IDEMPOTENCY_KEY="cancel-click-1",
    )
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert Session.objects.count() == 1


def test_idempotency_key_with_another_body_is_422(shop):
    shop.client.post(
        "/api/v1/sessions",
        {"customer_id": shop.seeded.customer_id, "subscription_id": shop.seeded.subscription_id},
        HTTP_IDEMPOTENCY_KEY="k",
    )
    response = shop.client.post(
        "/api/v1/sessions",
        {
            "customer_id": shop.seeded.customer_id,
            "subscription_id": shop.seeded.subscription_id,
            "metadata": {"x": "y"},
        },
        HTTP_IDEMPOTENCY_KEY="k",
    )
    _error(response, 422, "idempotency_key_reused")


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_creates_give_one_session(shop):
    statuses: list[tuple[int, dict]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(20)

    def call() -> None:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {shop.client.plaintext}")
        barrier.wait()
        response = client.post(
            "/api/v1/sessions",
            {
                "customer_id": shop.seeded.customer_id,
                "subscription_id": shop.seeded.subscription_id,
            },
            format="json",
        )
        with lock:
            statuses.append((response.status_code, response.json()))
        connection.close()

    threads = [threading.Thread(target=call) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    codes = sorted(code for code, _ in statuses)
    assert codes == [201] + [409] * 19, codes
    winner = next(body["id"] for code, body in statuses if code == 201)
    for code, body in statuses:
        if code == 409:
            assert body["error"]["code"] == "session_already_exists"
            assert body["error"]["details"]["session_id"] == winner
    assert Session.objects.count() == 1


# --- get --------------------------------------------------------------------------------------


def test_get_returns_the_reference_shape_field_by_field(shop):
    created = shop.create(return_url="https://app.example.com/account", metadata={"a": "b"}).json()
    response = shop.client.get(f"/api/v1/sessions/{created['id']}")
    assert response.status_code == 200
    body = response.json()
    assert list(body) == [
        "id",
        "status",
        "subscription",
        "outcome",
        "survey_response",
        "created_at",
        "expires_at",
        "customer_id",
        "metadata",
        "return_url",
        "livemode",
        "source",
        "experiment",
        "flow",
    ]
    assert body["id"] == created["id"] and body["status"] == "created"
    assert set(body["subscription"]) == {"id", "product_name", "price", "current_period_end"}
    assert body["subscription"]["id"] == shop.seeded.subscription_id
    assert body["subscription"]["product_name"] == "Pro Plan"
    assert body["subscription"]["price"] == {"amount": 2900, "currency": "usd", "interval": "month"}
    assert ISO_MS.match(body["subscription"]["current_period_end"])
    assert body["outcome"] is None and body["survey_response"] is None
    assert ISO_MS.match(body["created_at"]) and body["expires_at"] == created["expires_at"]
    assert body["customer_id"] == shop.seeded.customer_id
    assert body["metadata"] == {"a": "b"}
    assert body["return_url"] == "https://app.example.com/account"
    assert body["livemode"] is False
    assert body["source"] == "flow"
    assert body["experiment"] is None  # none running
    assert body["flow"] is None  # no segment flow: the default
    assert response["X-RateLimit-Limit"] == "1000"


def test_get_shows_outcome_and_survey_once_they_exist(shop):
    created = shop.create().json()
    now = timezone.now()
    Session.objects.filter(pk=created["id"]).update(
        status="completed",
        survey_reason="not_using_enough",
        survey_feedback="Taking a break",
        outcome_action="pause",
        outcome_details={"pause_duration_days": 30, "resume_date": "2026-03-17T00:00:00.000Z"},
        executed_at=now,
    )
    body = shop.client.get(f"/api/v1/sessions/{created['id']}").json()
    assert body["outcome"]["action"] == "pause"
    assert ISO_MS.match(body["outcome"]["executed_at"])
    assert body["outcome"]["details"] == {
        "pause_duration_days": 30,
        "resume_date": "2026-03-17T00:00:00.000Z",
    }
    assert body["survey_response"] == {
        "reason": "not_using_enough",
        "reason_other": None,
        "feedback": "Taking a break",
    }


def test_unknown_session_is_session_not_found(shop):
    _error(shop.client.get("/api/v1/sessions/ses_nope"), 404, "session_not_found")


def test_other_workspace_and_other_mode_sessions_are_404(shop, make_client, other_tenant):
    created = shop.create().json()
    theirs = make_client(other_tenant)
    _error(theirs.get(f"/api/v1/sessions/{created['id']}"), 404, "session_not_found")
    live = make_client(shop.tenant, livemode=True)
    _error(live.get(f"/api/v1/sessions/{created['id']}"), 404, "session_not_found")
    assert theirs.get("/api/v1/sessions").json()["data"] == []
    assert live.get("/api/v1/sessions").json()["data"] == []


def test_v1_alias_reads_sessions(shop):
    created = shop.create().json()
    assert shop.client.get(f"/v1/sessions/{created['id']}").json()["id"] == created["id"]


# --- list -------------------------------------------------------------------------------------


def _bulk_sessions(tenant, count: int, **fields):  # type: ignore[no-untyped-def]
    from mrrx.ids import new_id

    now = timezone.now()
    base_ms = int(now.timestamp() * 1000) - count
    rows = [
        Session(
            id=new_id("ses", at_ms=base_ms + i),
            tenant=tenant,
            livemode=False,
            customer_id=fields.get("customer_id", f"cus_{i % 7}"),
            subscription_id=f"sub_bulk_{i}",
            status=fields.get("status", "completed" if i % 2 else "expired"),
            product_name="Pro Plan",
            price_amount=2900,
            price_currency="usd",
            price_interval="month",
            created_at=now - timedelta(minutes=count - i),
            expires_at=now + timedelta(hours=24),
        )
        for i in range(count)
    ]
    Session.objects.bulk_create(rows)
    return rows


def test_pagination_walks_250_sessions_exactly_once(shop):
    rows = _bulk_sessions(shop.tenant, 250)
    seen, cursor = [], None
    while True:
        url = "/api/v1/sessions?limit=100" + (f"&cursor={cursor}" if cursor else "")
        body = shop.client.get(url).json()
        seen += [s["id"] for s in body["data"]]
        if not body["pagination"]["has_more"]:
            break
        cursor = body["pagination"]["next_cursor"]
    assert len(seen) == 250 and set(seen) == {r.id for r in rows}
    assert seen == sorted(seen, reverse=True)


def test_list_filters(shop):
    rows = _bulk_sessions(shop.tenant, 30)
    get = lambda q: shop.client.get(f"/api/v1/sessions?limit=100&{q}").json()["data"]  # noqa: E731
    assert {s["status"] for s in get("status=expired")} == {"expired"}
    assert len(get("status=expired,completed")) == 30
    assert {s["customer_id"] for s in get("customer_id=cus_3")} == {"cus_3"}
    assert [s["id"] for s in get("subscription_id=sub_bulk_5")] == [rows[5].id]
    middle = rows[10].created_at
    after = get(f"created[gte]={middle.isoformat().replace('+00:00', 'Z')}")
    before = get(f"created[lt]={int(middle.timestamp())}")
    assert len(after) == 20 and len(before) + len(after) == 30


@pytest.mark.parametrize(
    "query", ["status=nope", "created[gte]=yesterday", "limit=500", "cursor=evt_123"]
)
def test_bad_list_parameters_are_validation_errors(shop, query):
    _error(shop.client.get(f"/api/v1/sessions?{query}"), 400, "validation_error")


def test_schema_documents_sessions_with_error_codes(client):
    schema = client.get("/api/v1/schema", HTTP_ACCEPT="application/json").json()
    create = schema["paths"]["/api/v1/sessions"]["post"]
    assert {"201", "400", "404", "409", "422", "429", "502"} <= set(create["responses"])
    assert "/api/v1/sessions/{session_id}" in schema["paths"]
    assert "/api/v1/results/verify" in schema["paths"]


def test_url_uses_public_base_url(shop, settings):
    settings.PUBLIC_BASE_URL = "https://cancel.example.com"
    body = shop.create().json()
    assert urlsplit(body["url"]).netloc == "cancel.example.com"
