"""Every error message begins with its code.

The reference integration that merchants copy throws ``new Error(body.error.message)`` and
then branches on ``message.includes('already_exists')`` / ``includes('already_canceled')``,
so the code has to be readable from the message alone. Each code is obtained here from a
real error response wherever one can be reached; the subscriber's HTML pages keep the bare
sentence.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.test import RequestFactory, override_settings
from django.utils import timezone
from django.utils.functional import lazy
from rest_framework.test import APIClient

from mrrx.api.errors import (
    ERROR_STATUS,
    ApiError,
    coded_message,
    exception_handler,
    handler400,
    handler403,
    handler404,
    handler500,
)
from mrrx.api.idempotency import request_fingerprint
from mrrx.models import IdempotencyRecord
from sessions_app import flow
from sessions_app.models import Session
from tenants.models import SCOPE_SESSIONS_READ
from tenants.services import apikey_revoke
from tests.sessions.conftest import (  # noqa: F401 - the Stripe emulator and a connected shop
    SEED_KEY,
    FlowClient,
    Shop,
    emulator,
    shop,
    stripe_emulator,
)

from .factories import TenantFactory

# The product's own URLconf, so that Django's error handlers are the product's too.
pytestmark = pytest.mark.django_db


def code_from(message: str) -> str:
    """What a client holding only the message can recover: the text before the first ': '."""
    return message.split(": ", 1)[0]


def reference_branch(message: str) -> str:
    """The reference integration's branching, as merchants copy it:

    if (e.message.includes('already_exists')) { /* reuse the open session */ }
    else if (e.message.includes('already_canceled')) { /* nothing left to cancel */ }
    else { /* a generic error */ }
    """
    if "already_exists" in message:
        return "session_already_exists"
    if "already_canceled" in message:
        return "subscription_already_canceled"
    return "other"


# How an error was obtained.
REQUEST = "a real request through the API"
FAILURE = "a real request while something fails"
HANDLER = "a real exception handed to the handler Django or the API calls with it"
STAND_IN = "an ApiError made here, for a code nothing raises yet"


@dataclass(frozen=True)
class Observed:
    code: str
    message: str
    via: str  # which request or failure produced it, for the assertion messages
    how: str = REQUEST


# Reached only by a failure: Stripe failing (the emulator's fault injection, or a
# workspace with no Stripe connection) or a view raising (a test-only endpoint).
BY_FAILURE = {"stripe_error", "internal_error"}
# Raised only inside the hosted flow, which shows it on an HTML page: the real ApiError is
# put through the API's exception handler to see what a client would get.
HOSTED_FLOW_ONLY = {"action_not_available"}
# In ERROR_STATUS (and the OpenAPI schema) but raised nowhere yet: a 415 answers
# invalid_request, an expired or finished session is a page of the hosted flow, and no
# view answers 503. ApiErrors made here stand in, through the exception handler.
NEVER_RAISED = {
    "session_expired": "The session has expired.",
    "session_already_completed": "The session is already completed.",
    "service_unavailable": "The service is unavailable; try again shortly.",
    "unsupported_media_type": "Request bodies must be JSON.",
}


def _through_handler(error: ApiError, via: str, how: str) -> Observed:
    response = exception_handler(error, {})
    assert response.status_code == ERROR_STATUS[error.code], via
    body = response.data["error"]
    return Observed(body["code"], body["message"], via, how)


@pytest.fixture
def observed(shop: Shop, emulator, make_client) -> list[Observed]:  # noqa: F811
    """Every error code, from a real response wherever one can be reached (see `how`)."""
    seen: list[Observed] = []
    anonymous = APIClient()
    api = shop.client
    create_body = {
        "customer_id": shop.seeded.customer_id,
        "subscription_id": shop.seeded.subscription_id,
    }

    def got(response: Any, status: int, via: str, how: str = REQUEST) -> None:
        assert response.status_code == status, (via, response.content)
        assert response["Content-Type"] == "application/json", via
        error = json.loads(response.content)["error"]  # handlers' responses have no .json()
        seen.append(Observed(error["code"], error["message"], via, how))

    # --- real requests through the API ----------------------------------------------------
    got(anonymous.get("/api/v1/workspace"), 401, "no API key")
    got(anonymous.get("/api/v1/workspace", HTTP_AUTHORIZATION="Bearer x"), 401, "malformed key")
    unknown = "Bearer mrrx_test_" + "a" * 40
    got(anonymous.get("/api/v1/workspace", HTTP_AUTHORIZATION=unknown), 401, "unknown key")
    revoked = make_client(shop.tenant)
    apikey_revoke(api_key=revoked.api_key)
    got(revoked.get("/api/v1/workspace"), 401, "revoked key")
    expired = make_client(shop.tenant, expires_at=timezone.now() - timedelta(seconds=1))
    got(expired.get("/api/v1/workspace"), 401, "expired key")
    read_only = make_client(shop.tenant, scopes=(SCOPE_SESSIONS_READ,))
    got(read_only.post("/api/v1/sessions", create_body), 403, "key without sessions:write")
    limited = make_client(TenantFactory(rate_limit_overrides={"sessions.read": [1, 60]}))
    assert limited.get("/api/v1/sessions").status_code == 200
    got(limited.get("/api/v1/sessions"), 429, "over the rate limit")

    got(api.post("/api/v1/sessions", {**create_body, "surprise": 1}), 400, "unknown field")
    got(api.get("/api/v1/sessions?status=bogus"), 400, "unknown status filter")
    got(api.get("/api/v1/sessions?limit=0"), 400, "bad pagination")
    got(api.get("/api/v1/sessions?created[gte]=soon"), 400, "bad time filter")
    long_key = "k" * 256
    got(
        api.post("/api/v1/sessions", create_body, HTTP_IDEMPOTENCY_KEY=long_key),
        400,
        "Idempotency-Key too long",
    )
    raw = api.client
    malformed = raw.post("/api/v1/sessions", '{"customer_id": ', content_type="application/json")
    got(malformed, 400, "malformed JSON")
    got(raw.post("/api/v1/sessions", "x", content_type="text/plain"), 415, "not JSON")
    got(api.get("/api/v1/sessions", HTTP_ACCEPT="text/csv"), 406, "not accepting JSON")
    got(
        anonymous.post("/api/stripe/webhook", "{}", content_type="application/json"),
        400,
        "unsigned Stripe webhook",
    )
    # Django's own 400 (handler400): a Host header not in ALLOWED_HOSTS.
    got(anonymous.get("/api/v1/health", HTTP_HOST="evil.example"), 400, "disallowed host")
    got(anonymous.post("/api/v1/results/verify", {"token": "x"}, format="json"), 401, "bad token")
    got(anonymous.get("/api/v1/nothing-here"), 404, "unknown API path")
    got(anonymous.delete("/api/v1/health"), 405, "wrong method")

    other = emulator.client(SEED_KEY).v1.customers.create({"email": "other@example.com"})
    got(
        api.post("/api/v1/sessions", {**create_body, "customer_id": other.id}),
        400,
        "other customer's id",
    )
    missing_sub = {**create_body, "subscription_id": "sub_doesnotexist"}
    got(api.post("/api/v1/sessions", missing_sub), 404, "unknown subscription")
    got(api.get("/api/v1/sessions/ses_doesnotexist"), 404, "unknown session")

    assert api.post("/api/v1/sessions", create_body, HTTP_IDEMPOTENCY_KEY="k1").status_code == 201
    other_body = {**create_body, "metadata": {"n": "2"}}
    got(api.post("/api/v1/sessions", other_body, HTTP_IDEMPOTENCY_KEY="k1"), 422, "key reused")
    got(api.post("/api/v1/sessions", create_body), 409, "second session")
    now = timezone.now()
    IdempotencyRecord.objects.create(  # another request holds the key, mid-way
        tenant=shop.tenant,
        livemode=False,
        key="k2",
        request_hash=request_fingerprint(method="POST", path="/api/v1/sessions", data=other_body),
        created_at=now,
        locked_at=now,
    )
    got(api.post("/api/v1/sessions", other_body, HTTP_IDEMPOTENCY_KEY="k2"), 409, "key busy")
    emulator.client(SEED_KEY).v1.subscriptions.cancel(shop.seeded.subscription_id)
    got(api.post("/api/v1/sessions", create_body), 400, "canceled subscription")

    # --- failures ------------------------------------------------------------------------
    emulator.fail_next(1, status=500, path_prefix="/v1/subscriptions")  # fault injection
    got(api.post("/api/v1/sessions", missing_sub), 502, "Stripe answering 500", FAILURE)
    unconnected = make_client()
    response = unconnected.post("/api/v1/sessions", create_body)
    got(response, 502, "workspace without Stripe", FAILURE)
    # A RuntimeError raised in a view (a test-only endpoint) through the exception handler.
    with override_settings(ROOT_URLCONF="tests.api_test_urls"):
        got(api.get("/api/v1/explode"), 500, "view raising", FAILURE)

    # Django's JSON handlers, called as Django calls them, with the exceptions it passes.
    rf = RequestFactory()
    for name, response, status in [
        ("handler404", handler404(rf.get("/api/v1/x"), Exception("no")), 404),
        ("handler500", handler500(rf.get("/v1/x")), 500),
        ("handler400", handler400(rf.get("/api/v1/x"), SuspiciousOperation()), 400),
        ("handler403", handler403(rf.get("/api/v1/x"), PermissionDenied()), 403),
    ]:
        got(response, status, name, HANDLER)

    # --- the hosted flow's own error, as the API would answer it ----------------------------
    session = Session.objects.get()  # its subscriber has been shown no offer
    with pytest.raises(ApiError) as raised:
        flow.session_select_action(session=session, action="extend_trial")
    seen.append(_through_handler(raised.value, "hosted flow: offer not shown", HANDLER))

    # --- declared, never raised -----------------------------------------------------------
    for code, sentence in NEVER_RAISED.items():
        seen.append(_through_handler(ApiError(code, sentence), "not raised yet", STAND_IN))
    return seen


def test_every_code_is_obtained(observed: list[Observed]) -> None:
    # A new code in ERROR_STATUS fails here until this file obtains it.
    assert {o.code for o in observed} == set(ERROR_STATUS)
    # And by a real request whenever one can reach it.
    not_by_request = BY_FAILURE | HOSTED_FLOW_ONLY | set(NEVER_RAISED)
    assert {o.code for o in observed if o.how == REQUEST} == set(ERROR_STATUS) - not_by_request
    assert {o.code for o in observed if o.how == FAILURE} == BY_FAILURE
    assert {o.code for o in observed if o.how == STAND_IN} == set(NEVER_RAISED)


def test_every_message_begins_with_its_code(observed: list[Observed]) -> None:
    for o in observed:
        assert o.message.startswith(f"{o.code}: "), o
        assert not o.message.startswith(f"{o.code}: {o.code}"), o  # never twice
        assert len(o.message) > len(f"{o.code}: "), o


def test_the_prefix_identifies_each_code_exactly(observed: list[Observed]) -> None:
    for o in observed:
        assert code_from(o.message) == o.code, o
    # Nothing in a code could end the prefix early.
    assert all(code.isidentifier() and code.islower() for code in ERROR_STATUS)


def test_the_reference_snippet_takes_the_right_branch(observed: list[Observed]) -> None:
    for o in observed:
        expected = (
            o.code
            if o.code in ("session_already_exists", "subscription_already_canceled")
            else "other"
        )
        assert reference_branch(o.message) == expected, o
    branches = {reference_branch(o.message) for o in observed}
    assert {"session_already_exists", "subscription_already_canceled"} <= branches


def test_messages_read_as_sentences(observed: list[Observed]) -> None:
    by_via = {o.via: o.message for o in observed}
    assert by_via["second session"] == (
        "session_already_exists: an active session already exists for this subscription."
    )
    assert by_via["canceled subscription"] == (
        "subscription_already_canceled: the subscription is already canceled."
    )
    assert by_via["no API key"] == (
        "invalid_api_key: no API key provided. Send it as 'Authorization: Bearer mrrx_...'."
    )
    assert by_via["revoked key"] == "invalid_api_key: the API key has been revoked."
    assert by_via["expired key"] == "expired_api_key: the API key has expired."
    assert by_via["key without sessions:write"] == (
        "insufficient_permissions: this API key lacks the scope sessions:write."
    )
    assert by_via["over the rate limit"].startswith(
        "rate_limited: rate limit of 1 requests exceeded; retry after "
    )
    assert by_via["unknown field"] == "validation_error: the request failed validation."
    # Names and acronyms keep their capitals.
    assert by_via["Idempotency-Key too long"] == (
        "validation_error: Idempotency-Key must be 1 to 255 characters."
    )
    assert by_via["Stripe answering 500"] == (
        "stripe_error: Stripe could not be reached or refused the request; try again."
    )
    assert by_via["unsigned Stripe webhook"] == (
        "invalid_request: the Stripe-Signature header does not verify."
    )
    assert by_via["not JSON"] == (
        "invalid_request: request bodies must be JSON (Content-Type: application/json)."
    )
    assert by_via["not accepting JSON"] == "invalid_request: responses are JSON only."
    assert by_via["malformed JSON"].startswith("invalid_request: malformed request body: ")
    assert by_via["key busy"] == (
        "idempotency_in_progress: a request with this Idempotency-Key is still being processed."
    )
    assert by_via["key reused"] == (
        "idempotency_key_reused: this Idempotency-Key was used with a different request body."
    )
    # Stripe's own sentence, passed on.
    assert by_via["unknown subscription"] == (
        "subscription_not_found: no such subscription: 'sub_doesnotexist'"
    )
    assert by_via["unknown session"] == "session_not_found: no such session."
    assert by_via["bad token"] == "invalid_token: the result token is not valid."
    assert by_via["unknown API path"] == "not_found: no endpoint at /api/v1/nothing-here."
    assert by_via["wrong method"] == 'method_not_allowed: method "DELETE" not allowed.'
    assert by_via["view raising"] == (
        "internal_error: something went wrong on our side. It has been logged."
    )
    assert by_via["handler500"] == by_via["view raising"]
    assert by_via["handler403"] == "insufficient_permissions: forbidden."
    assert by_via["disallowed host"] == "invalid_request: bad request."
    assert by_via["hosted flow: offer not shown"] == (
        "action_not_available: that offer is not available for this session."
    )


@pytest.mark.parametrize(
    ("code", "message", "expected"),
    [
        # Already led by its code: left as it is.
        ("rate_limited", "rate_limited: slow down.", "rate_limited: slow down."),
        # Led by another code: that is part of the sentence, ours still leads.
        ("stripe_error", "rate_limited: slow down.", "stripe_error: rate_limited: slow down."),
        ("internal_error", "", "internal_error: internal error."),
        ("internal_error", "internal_error", "internal_error: internal error."),
        ("not_found", "  No such resource.  ", "not_found: no such resource."),
        ("invalid_request", "JSON only.", "invalid_request: JSON only."),
        (
            "invalid_request",
            "Stripe's answer was odd.",
            "invalid_request: Stripe's answer was odd.",
        ),
        ("invalid_request", "A body is required.", "invalid_request: a body is required."),
        ("validation_error", "created[gte] is bad.", "validation_error: created[gte] is bad."),
        ("validation_error", '"x" is not valid.', 'validation_error: "x" is not valid.'),
    ],
)
def test_coded_message(code: str, message: str, expected: str) -> None:
    assert coded_message(code, message) == expected


def test_lazy_translations_are_prefixed_too() -> None:
    # DRF and gettext_lazy hand the handler lazy strings, not str.
    lazy_text: Callable[[], str] = lazy(lambda: "No such resource.", str)
    assert coded_message("not_found", lazy_text()) == "not_found: no such resource."


def test_the_hosted_flow_shows_subscribers_the_bare_sentence(shop: Shop) -> None:  # noqa: F811
    body = shop.create().json()
    path = urlsplit(body["url"]).path
    browser = FlowClient()
    browser.get(path)
    browser.post(path, {"step": "reason", "reason": "too_expensive"})
    page = browser.post(path, {"step": "offer", "action": "extend_trial"})
    assert page.status_code == 400
    html = page.content.decode()
    assert "That offer is not available for this session." in html
    assert "action_not_available" not in html
    page = browser.post(path, {"step": "nonsense"})
    html = page.content.decode()
    assert page.status_code == 400 and "Unknown step." in html
    assert "validation_error" not in html
