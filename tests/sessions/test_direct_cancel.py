"""``/api/v1/subscriptions/<id>/cancel``: a direct cancel, on the emulator, for real."""

from __future__ import annotations

import json
import re
import threading
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command
from django.db import connection
from rest_framework.test import APIClient

from billing.models import StripeConnection
from offers.selectors import flow_config_get
from sessions_app import direct_cancel, execution
from sessions_app.models import Session
from tenants.models import ApiKey
from tenants.services import apikey_issue
from tests.webhooks.conftest import Receiver
from tests.webhooks.reference import reference_verify
from webhooks.models import Delivery, Event
from webhooks.services import delivery_attempt, endpoint_create

from .conftest import SEED_KEY, FlowClient, seed, stripe_subscription

pytestmark = pytest.mark.django_db

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
REPR_KEYS = [
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


def _path(subscription_id: str) -> str:
    return f"/api/v1/subscriptions/{subscription_id}/cancel"


def _cancel(shop, body=None, *, method: str = "post", subscription_id=None, client=None, **extra):  # type: ignore[no-untyped-def]
    client = client or shop.client
    send = getattr(client.client, method)
    return send(
        _path(subscription_id or shop.seeded.subscription_id), body or {}, format="json", **extra
    )


def _error(response, status: int, code: str, sentence: str | None = None) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code
    if sentence is not None:
        assert sentence.lower() in body["error"]["message"].lower()
    return body["error"]


def _stripe_writes(emulator, subscription_id: str) -> list[dict]:  # type: ignore[no-untyped-def]
    requests = emulator.requests(path=f"/v1/subscriptions/{subscription_id}")
    return [r for r in requests if r["method"] != "GET"]


def _assert_nothing_changed(shop, emulator) -> None:  # type: ignore[no-untyped-def]
    assert Session.objects.count() == 0
    assert Event.objects.count() == 0
    assert _stripe_writes(emulator, shop.seeded.subscription_id) == []
    stripe = stripe_subscription(emulator, shop.seeded.subscription_id)
    assert stripe["status"] == "active" and stripe["cancel_at_period_end"] is False


# --- cancel ------------------------------------------------------------------------------------


def test_cancel_at_period_end_records_a_completed_api_session(shop, emulator):
    response = _cancel(
        shop,
        {
            "reason": "too_expensive",
            "feedback": "We are cutting tools this quarter.",
            "at_period_end": True,
            "customer_id": shop.seeded.customer_id,
        },
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert list(body) == REPR_KEYS
    assert re.fullmatch(r"ses_[0-9a-z]{25}", body["id"])
    assert body["status"] == "completed" and body["source"] == "api"
    assert body["outcome"]["action"] == "cancel"
    assert ISO_MS.match(body["outcome"]["executed_at"])
    assert set(body["outcome"]["details"]) == {"canceled_at", "cancel_at_period_end"}
    assert body["outcome"]["details"]["cancel_at_period_end"] is True
    assert body["survey_response"] == {
        "reason": "too_expensive",
        "reason_other": None,
        "feedback": "We are cutting tools this quarter.",
    }
    assert body["subscription"]["id"] == shop.seeded.subscription_id
    assert body["subscription"]["product_name"] == "Pro Plan"
    assert body["subscription"]["price"] == {"amount": 2900, "currency": "usd", "interval": "month"}
    assert body["customer_id"] == shop.seeded.customer_id
    assert body["metadata"] == {} and body["return_url"] is None and body["livemode"] is False
    assert response["X-RateLimit-Limit"] == "100"
    # The session reads back as it was answered.
    assert shop.client.get(f"/api/v1/sessions/{body['id']}").json() == body

    stripe = stripe_subscription(emulator, shop.seeded.subscription_id)
    assert stripe["status"] == "active" and stripe["cancel_at_period_end"] is True
    assert stripe["cancellation_details"]["feedback"] == "too_expensive"
    assert stripe["cancellation_details"]["comment"] == "We are cutting tools this quarter."
    assert [r["idempotency_key"] for r in _stripe_writes(emulator, stripe["id"])] == [
        f"{body['id']}:cancel:update"
    ]

    session = Session.objects.get(pk=body["id"])
    assert (session.source, session.status, session.outcome_action) == (
        "api",
        "completed",
        "cancel",
    )
    assert session.selected_action == "cancel" and session.end_reason == ""
    assert session.executed_at and session.completed_at and session.failure is None
    assert session.subscription_snapshot["status"] == "active"
    assert session.subscription_snapshot["current_period_end"]
    assert session.survey_reason == "too_expensive"

    events = {e.type: e.payload["data"] for e in Event.objects.filter(tenant=shop.tenant)}
    assert set(events) == {"session.completed", "subscription.canceled"}
    for data in events.values():
        assert data["session_id"] == body["id"]
        assert data["subscription_id"] == shop.seeded.subscription_id
        assert data["customer_id"] == shop.seeded.customer_id
        assert (data["action"], data["status"], data["source"]) == ("cancel", "completed", "api")
        assert data["outcome"] == body["outcome"]
        assert data["survey_response"] == body["survey_response"]


def test_cancel_now_ends_the_subscription_with_stripe_feedback(shop, emulator):
    response = _cancel(
        shop,
        {
            "reason": "other",
            "reason_other": "Moved to an in-house tool",
            "feedback": "Thanks for everything",
            "at_period_end": False,
        },
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["outcome"]["details"]["cancel_at_period_end"] is False
    assert ISO_MS.match(body["outcome"]["details"]["canceled_at"])
    assert body["survey_response"] == {
        "reason": "other",
        "reason_other": "Moved to an in-house tool",
        "feedback": "Thanks for everything",
    }
    stripe = stripe_subscription(emulator, shop.seeded.subscription_id)
    assert stripe["status"] == "canceled"
    assert stripe["cancellation_details"]["feedback"] == "other"
    assert stripe["cancellation_details"]["comment"] == "Thanks for everything"
    [write] = _stripe_writes(emulator, stripe["id"])
    assert (write["method"], write["idempotency_key"]) == ("DELETE", f"{body['id']}:cancel:cancel")


@pytest.mark.parametrize("timing, canceled_now", [("period_end", False), ("immediately", True)])
def test_timing_defaults_to_the_workspace_flow_setting(shop, emulator, timing, canceled_now):
    config = flow_config_get(tenant=shop.tenant, livemode=False)
    config.cancel_timing = timing
    config.save()

    response = _cancel(shop, {"reason": "not_using_enough"})

    assert response.status_code == 200, response.content
    stripe = stripe_subscription(emulator, shop.seeded.subscription_id)
    assert (stripe["status"] == "canceled") is canceled_now
    assert stripe["cancel_at_period_end"] is (not canceled_now)
    assert stripe["cancellation_details"]["feedback"] == "unused"
    assert stripe["cancellation_details"]["comment"] is None


def test_a_cancel_without_a_reason_sends_stripe_no_details(shop, emulator):
    response = _cancel(shop, {})

    assert response.status_code == 200, response.content
    assert response.json()["survey_response"] is None
    stripe = stripe_subscription(emulator, shop.seeded.subscription_id)
    assert stripe["cancel_at_period_end"] is True
    assert stripe["cancellation_details"]["feedback"] is None


def test_put_is_an_alias_of_post(shop, emulator):
    response = _cancel(shop, {"reason": "missing_features", "at_period_end": False}, method="put")

    assert response.status_code == 200, response.content
    assert response.json()["source"] == "api"
    stripe = stripe_subscription(emulator, shop.seeded.subscription_id)
    assert stripe["status"] == "canceled"
    assert stripe["cancellation_details"]["feedback"] == "missing_features"


def test_the_v1_alias_cancels_too(shop, emulator):
    response = shop.client.client.post(
        f"/v1/subscriptions/{shop.seeded.subscription_id}/cancel", {}, format="json"
    )
    assert response.status_code == 200, response.content


def test_events_carry_the_hosted_cancellations_payload_plus_source(shop, emulator):
    """A hosted cancellation and a direct one tell the merchant the same things."""
    browser = FlowClient()
    hosted = shop.create(return_url="https://app.example.com/account").json()
    path = urlsplit(hosted["url"]).path
    browser.get(path)
    browser.post(path, {"step": "reason", "reason": "too_expensive"})
    browser.post(path, {"step": "offer", "action": "cancel"})
    browser.post(path, {"step": "feedback", "feedback": "Too pricey"})
    browser.post(path, {"step": "confirm"})
    execution.session_execute(session_id=hosted["id"])
    other = emulator.client(SEED_KEY).v1.subscriptions.create(
        {"customer": shop.seeded.customer_id, "items": [{"price": shop.seeded.basic_price_id}]}
    )

    direct = _cancel(
        shop, {"reason": "too_expensive", "feedback": "Too pricey"}, subscription_id=other.id
    ).json()

    for type in ("session.completed", "subscription.canceled"):
        by_session = {
            e.payload["data"]["session_id"]: e.payload["data"]
            for e in Event.objects.filter(type=type)
        }
        flow, api = by_session[hosted["id"]], by_session[direct["id"]]
        assert list(flow) == list(api)
        assert (flow["source"], api["source"]) == ("flow", "api")
        differ = {"session_id", "subscription_id", "outcome", "metadata", "source"}
        assert {k: v for k, v in flow.items() if k not in differ} == {
            k: v for k, v in api.items() if k not in differ
        }
        assert set(flow["outcome"]["details"]) == set(api["outcome"]["details"])


def test_the_webhooks_are_delivered_signed(shop, emulator, settings):
    settings.WEBHOOK_ALLOW_LOOPBACK = True
    receiver = Receiver()
    try:
        _, secret = endpoint_create(tenant=shop.tenant, livemode=False, url=receiver.url("/hook"))
        body = _cancel(shop, {"reason": "technical_issues", "at_period_end": False}).json()

        # What the worker does with each queued delivery, here in the test's process.
        for delivery in Delivery.objects.order_by("id"):
            assert delivery_attempt(delivery_id=delivery.pk).succeeded
        received = receiver.to("/hook")
    finally:
        receiver.close()

    assert sorted(r.headers["x-mrrx-event-type"] for r in received) == [
        "session.completed",
        "subscription.canceled",
    ]
    for request in received:
        payload = request.body.decode()
        assert reference_verify(payload, request.headers["x-mrrx-signature"], secret)
        data = json.loads(payload)["data"]
        assert (data["session_id"], data["source"]) == (body["id"], "api")
        assert data["survey_response"]["reason"] == "technical_issues"


# --- idempotency -------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["post", "put"])
def test_a_replay_with_the_same_key_acts_once_and_answers_the_same(shop, emulator, method):
    body = {"reason": "too_expensive", "at_period_end": False}
    first = _cancel(shop, body, method=method, HTTP_IDEMPOTENCY_KEY="cancel-1")
    again = _cancel(shop, body, method=method, HTTP_IDEMPOTENCY_KEY="cancel-1")

    assert first.status_code == again.status_code == 200, again.content
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert Session.objects.count() == 1
    assert len(_stripe_writes(emulator, shop.seeded.subscription_id)) == 1
    assert Event.objects.filter(type="subscription.canceled").count() == 1


def test_the_same_key_with_another_body_is_422(shop, emulator):
    _cancel(shop, {"reason": "too_expensive"}, HTTP_IDEMPOTENCY_KEY="cancel-1")
    response = _cancel(shop, {"reason": "technical_issues"}, HTTP_IDEMPOTENCY_KEY="cancel-1")

    _error(response, 422, "idempotency_key_reused")
    assert Session.objects.count() == 1
    assert len(_stripe_writes(emulator, shop.seeded.subscription_id)) == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_cancels_act_once(shop, emulator):
    answers: list[tuple[int, str | None]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(6)

    def call() -> None:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {shop.client.plaintext}")
        barrier.wait()
        response = client.post(
            _path(shop.seeded.subscription_id), {"at_period_end": False}, format="json"
        )
        with lock:
            answers.append((response.status_code, response.json().get("error", {}).get("code")))
        connection.close()

    threads = [threading.Thread(target=call) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert answers.count((200, None)) == 1, answers
    assert {a for a in answers if a[0] != 200} <= {
        (409, "session_already_exists"),
        (400, "subscription_already_canceled"),
    }
    assert list(Session.objects.values_list("status", flat=True)) == ["completed"]
    assert len(_stripe_writes(emulator, shop.seeded.subscription_id)) == 1
    assert Event.objects.filter(type="subscription.canceled").count() == 1


def test_a_cancellation_finished_between_the_read_and_the_claim_is_already_canceled(
    shop, emulator, monkeypatch
):
    claim = direct_cancel._session_begin

    def canceled_meanwhile(**kwargs):  # type: ignore[no-untyped-def]
        emulator.client(SEED_KEY).v1.subscriptions.cancel(shop.seeded.subscription_id)
        claim(**kwargs)

    monkeypatch.setattr(direct_cancel, "_session_begin", canceled_meanwhile)

    _error(_cancel(shop, {"at_period_end": False}), 400, "subscription_already_canceled")
    assert Session.objects.count() == 0 and Event.objects.count() == 0


# --- errors ------------------------------------------------------------------------------------


def test_unknown_subscription_is_404(shop, emulator):
    _error(_cancel(shop, subscription_id="sub_doesnotexist"), 404, "subscription_not_found")
    _assert_nothing_changed(shop, emulator)


def test_a_malformed_subscription_id_is_404_without_asking_stripe(shop, emulator):
    emulator.http.delete("/_emulator/requests")
    _error(_cancel(shop, subscription_id="nope"), 404, "subscription_not_found")
    assert emulator.requests() == []
    assert Session.objects.count() == 0


def test_another_workspaces_subscription_is_404(shop, emulator, make_client, other_tenant):
    account = "acct_1Theirs000000000"
    theirs = seed(emulator, account=account)
    StripeConnection.objects.create(
        tenant=other_tenant, livemode=False, method="oauth", account_id=account
    )

    _error(_cancel(shop, subscription_id=theirs.subscription_id), 404, "subscription_not_found")
    assert Session.objects.count() == 0
    assert stripe_subscription(emulator, theirs.subscription_id, account)["status"] == "active"
    # Their own key cancels it: the 404 was the account boundary, nothing else.
    response = _cancel(
        shop, subscription_id=theirs.subscription_id, client=make_client(other_tenant)
    )
    assert response.status_code == 200, response.content
    assert Session.objects.get().tenant == other_tenant


def test_another_customers_subscription_is_invalid_customer(shop, emulator):
    other = emulator.client(SEED_KEY).v1.customers.create({"email": "other@example.com"})
    error = _error(
        _cancel(shop, {"customer_id": other.id}),
        400,
        "invalid_customer",
        "The subscription does not belong to that customer.",
    )
    assert error["details"]["customer_id"] == other.id
    _assert_nothing_changed(shop, emulator)


def test_a_canceled_subscription_is_already_canceled(shop, emulator):
    emulator.client(SEED_KEY).v1.subscriptions.cancel(shop.seeded.subscription_id)
    emulator.http.delete("/_emulator/requests")

    _error(
        _cancel(shop, {"at_period_end": False}),
        400,
        "subscription_already_canceled",
        "The subscription is already canceled.",
    )
    assert Session.objects.count() == 0 and Event.objects.count() == 0
    assert _stripe_writes(emulator, shop.seeded.subscription_id) == []


def test_canceling_at_period_end_again_is_already_canceled_but_now_cancels_now(shop, emulator):
    emulator.client(SEED_KEY).v1.subscriptions.update(
        shop.seeded.subscription_id, {"cancel_at_period_end": True}
    )
    emulator.http.delete("/_emulator/requests")

    error = _error(
        _cancel(shop, {"at_period_end": True}),
        400,
        "subscription_already_canceled",
        "already set to cancel at the end of its period",
    )
    assert error["details"]["cancel_at_period_end"] is True
    assert Session.objects.count() == 0
    assert _stripe_writes(emulator, shop.seeded.subscription_id) == []

    response = _cancel(shop, {"at_period_end": False})
    assert response.status_code == 200, response.content
    assert stripe_subscription(emulator, shop.seeded.subscription_id)["status"] == "canceled"


def test_stripe_failing_to_read_is_502_and_records_nothing(shop, emulator):
    emulator.fail_next(1, status=500, path_prefix="/v1/subscriptions")
    error = _error(_cancel(shop), 502, "stripe_error")
    assert error["details"]["transient"] is True
    _assert_nothing_changed(shop, emulator)


def test_stripe_failing_to_cancel_is_502_and_a_failed_session_then_a_retry_works(shop, emulator):
    emulator.fail_next(
        1, status=500, path_prefix=f"/v1/subscriptions/{shop.seeded.subscription_id}", method="POST"
    )
    error = _error(_cancel(shop, {"reason": "too_expensive"}), 502, "stripe_error")

    failed = Session.objects.get()
    assert error["details"]["session_id"] == failed.pk
    assert (failed.source, failed.status, failed.outcome_action) == ("api", "failed", "")
    assert failed.failure["transient"] is True
    assert list(Event.objects.values_list("type", flat=True)) == ["session.failed"]
    stripe = stripe_subscription(emulator, shop.seeded.subscription_id)
    assert stripe["cancel_at_period_end"] is False and stripe["status"] == "active"

    retried = _cancel(shop, {"reason": "too_expensive"})
    assert retried.status_code == 200, retried.content
    assert stripe_subscription(emulator, shop.seeded.subscription_id)["cancel_at_period_end"]


def test_a_request_that_dies_mid_way_leaves_a_session_the_worker_finishes(
    shop, emulator, monkeypatch
):
    def die(**kwargs):  # type: ignore[no-untyped-def]
        raise SystemExit("the web process was killed")

    monkeypatch.setattr(direct_cancel, "session_execute", die)
    with pytest.raises(SystemExit):
        direct_cancel.subscription_cancel(
            tenant=shop.tenant,
            livemode=False,
            subscription_id=shop.seeded.subscription_id,
            reason="too_expensive",
            at_period_end=False,
        )
    session = Session.objects.get()
    assert (session.status, session.source) == ("executing", "api")

    # What the stuck-session sweep hands to a worker.
    execution.session_execute(session_id=session.pk)

    session.refresh_from_db()
    assert (session.status, session.outcome_action) == ("completed", "cancel")
    stripe = stripe_subscription(emulator, shop.seeded.subscription_id)
    assert stripe["status"] == "canceled"
    assert stripe["cancellation_details"]["feedback"] == "too_expensive"


# --- open sessions -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "status, ended_as",
    [("created", "expired"), ("viewed", "abandoned"), ("offer_shown", "abandoned")],
)
def test_an_open_hosted_session_is_ended_as_canceled_directly(shop, emulator, status, ended_as):
    hosted = shop.create().json()["id"]
    Session.objects.filter(pk=hosted).update(status=status)

    response = _cancel(shop, {"reason": "too_expensive"})

    assert response.status_code == 200, response.content
    ended = Session.objects.get(pk=hosted)
    assert (ended.status, ended.end_reason) == (ended_as, "canceled_directly")
    [event] = Event.objects.filter(type="session.expired")
    assert event.payload["data"]["session_id"] == hosted
    assert event.payload["data"]["status"] == ended_as
    assert event.payload["data"]["end_reason"] == "canceled_directly"
    assert event.payload["data"]["source"] == "flow"
    assert shop.client.get(f"/api/v1/sessions/{hosted}").json()["status"] == ended_as


def test_a_hosted_session_executing_its_action_is_409(shop, emulator):
    hosted = shop.create().json()["id"]
    Session.objects.filter(pk=hosted).update(status="executing")
    emulator.http.delete("/_emulator/requests")

    error = _error(_cancel(shop), 409, "session_already_exists", "under way")

    assert error["details"]["session_id"] == hosted
    assert Session.objects.get(pk=hosted).status == "executing"
    assert Session.objects.count() == 1
    assert _stripe_writes(emulator, shop.seeded.subscription_id) == []
    assert not Event.objects.exclude(type="session.created").exists()


# --- input -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body, field",
    [
        ({"reason": "bored"}, "reason"),
        ({"reason": 5}, "reason"),
        ({"reason": None}, "reason"),
        ({"reason": "other"}, "reason_other"),
        ({"reason": "other", "reason_other": "   "}, "reason_other"),
        ({"reason": "other", "reason_other": "x" * 501}, "reason_other"),
        ({"reason": "too_expensive", "reason_other": "why"}, "reason_other"),
        ({"reason": "too_expensive", "feedback": "x" * 5001}, "feedback"),
        ({"feedback": "no reason given"}, "reason"),
        ({"at_period_end": "yes"}, "at_period_end"),
        ({"at_period_end": 0}, "at_period_end"),
        ({"customer_id": "bob"}, "customer_id"),
        ({"surprise": True}, "surprise"),
    ],
)
def test_bad_input_is_a_validation_error_and_changes_nothing(shop, emulator, body, field):
    emulator.http.delete("/_emulator/requests")
    error = _error(_cancel(shop, body), 400, "validation_error")
    assert field in error["details"]
    assert emulator.requests() == []
    assert Session.objects.count() == 0 and Event.objects.count() == 0


def test_a_reason_the_workspace_does_not_ask_is_refused(shop, emulator):
    config = flow_config_get(tenant=shop.tenant, livemode=False)
    config.reasons = [r for r in config.reasons if r != "business_closing"]
    config.save()

    error = _error(_cancel(shop, {"reason": "business_closing"}), 400, "validation_error")

    assert "business_closing" not in error["details"]["reason"]
    assert "too_expensive" in error["details"]["reason"]
    _assert_nothing_changed(shop, emulator)


# --- keys and scopes ---------------------------------------------------------------------------


def test_a_key_without_subscriptions_write_is_403(shop, emulator, make_client):
    sessions_only = make_client(shop.tenant, scopes=["sessions:write", "sessions:read"])
    error = _error(
        _cancel(shop, client=sessions_only), 403, "insufficient_permissions", "subscriptions:write"
    )
    assert error["details"]["missing_scopes"] == ["subscriptions:write"]
    _assert_nothing_changed(shop, emulator)


def test_keys_lack_the_scope_unless_asked_for(shop, emulator):
    key, plaintext = apikey_issue(tenant=shop.tenant, livemode=False)
    assert "subscriptions:write" not in key.scopes
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    _error(
        client.post(_path(shop.seeded.subscription_id), {}, format="json"),
        403,
        "insufficient_permissions",
    )
    _assert_nothing_changed(shop, emulator)

    call_command(
        "apikey_create",
        "--tenant",
        shop.tenant.pk,
        "--mode",
        "test",
        "--scopes",
        "subscriptions:write",
    )
    assert ApiKey.objects.filter(tenant=shop.tenant, scopes=["subscriptions:write"]).exists()


def test_schema_documents_the_direct_cancel(client):
    schema = client.get("/api/v1/schema", HTTP_ACCEPT="application/json").json()
    operations = schema["paths"]["/api/v1/subscriptions/{subscription_id}/cancel"]
    assert set(operations) >= {"post", "put"}
    post = operations["post"]
    assert {"200", "400", "403", "404", "409", "422", "429", "502"} <= set(post["responses"])
    request = schema["components"]["schemas"]["SubscriptionCancelRequest"]
    assert set(request["properties"]) == {
        "reason",
        "reason_other",
        "feedback",
        "at_period_end",
        "customer_id",
    }
    assert "source" in schema["components"]["schemas"]["Session"]["properties"]
