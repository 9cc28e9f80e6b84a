"""A customer's whole footprint exported, then erased: nothing of them is left in any table,
the figures are, and their twin in another workspace (and in live mode) is untouched.

The footprint is made through the product's paths (``conftest.footprint``): the sessions
API, the hosted flow in a browser-like client, the worker's execution and receipt
services, real deliveries to a local receiver, the custom sessions and hub APIs, the hub
page, and Stripe's signed webhook to the workspace's endpoint.
"""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from audit.models import AuditEntry
from billing.models import StripeEvent
from dashboard.analytics import Period, analytics_report
from hub.models import HubSession
from sessions_app.models import CustomSession, Receipt, Session
from tests.webhooks.reference import reference_verify
from webhooks.models import DeliveryAttempt, Event

from .conftest import (
    EMAIL,
    FEEDBACK,
    METADATA,
    PERSONAL,
    REASON_OTHER,
    USER_AGENT,
    all_rows_in_database,
    deliver_pending,
)

pytestmark = pytest.mark.django_db

ERASED = "[erased]"


def _figures(tenant, livemode: bool = False) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Every figure of the analytics page, for each source, around today."""
    today = timezone.now().date()
    period = Period(start=today - timedelta(days=400), end=today + timedelta(days=1))
    figures = {}
    for source in ("flow", "api", "custom"):
        report = analytics_report(tenant=tenant, livemode=livemode, period=period, source=source)
        figures[source] = {
            f.name: (
                [asdict(row) for row in getattr(report, f.name)]
                if isinstance(getattr(report, f.name), list)
                else getattr(report, f.name)
            )
            for f in fields(report)
            if f.name not in ("tenant", "period")
        }
    return figures


def _rows_naming_the_person() -> list[str]:
    return [row for row in all_rows_in_database() if any(text in row for text in PERSONAL)]


def test_export_holds_every_kind_of_row_about_the_customer(footprint):
    response = footprint.client.post(f"/api/v1/customers/{footprint.customer_id}/export")

    assert response.status_code == 200, response.content
    document = response.json()
    assert list(document) == [
        "object",
        "customer_id",
        "workspace_id",
        "livemode",
        "generated_at",
        "counts",
        "sessions",
        "custom_sessions",
        "hub_sessions",
        "receipts",
        "saves",
        "invoice_payments",
        "events",
        "stripe_events",
        "audit_entries",
    ]
    assert (document["object"], document["customer_id"], document["livemode"]) == (
        "customer_export",
        footprint.customer_id,
        False,
    )
    counts = document["counts"]
    assert counts == {
        "sessions": 1,
        "custom_sessions": 1,
        "hub_sessions": 1,
        "hub_actions": 1,
        "receipts": 1,
        "saves": 0,
        "invoice_payments": 0,
        "events": counts["events"],
        "stripe_events": 1,
        "audit_entries": counts["audit_entries"],
    }
    [session] = document["sessions"]
    assert session["id"] == footprint.session_id
    assert (session["survey_feedback"], session["survey_reason_other"]) == (FEEDBACK, REASON_OTHER)
    assert session["metadata"] == METADATA
    assert session["subscription_snapshot"]["customer_email"] == EMAIL
    assert session["created_at"].endswith("Z") and session["completed_at"].endswith("Z")
    assert document["custom_sessions"][0]["id"] == footprint.custom_session_id
    [hub] = document["hub_sessions"]
    assert (hub["id"], hub["customer_email"]) == (footprint.hub_session_id, EMAIL)
    assert [action["kind"] for action in hub["actions"]] == ["reactivate"]
    [receipt] = document["receipts"]
    assert (receipt["session_id"], receipt["to_email"], receipt["status"]) == (
        footprint.session_id,
        EMAIL,
        "sent",
    )
    types = {event["type"] for event in document["events"]}
    assert {"session.completed", "subscription.canceled", "subscription.reactivated"} <= types
    assert counts["events"] == len(document["events"]) >= 3
    delivered = [d for event in document["events"] for d in event["deliveries"]]
    assert delivered and all(d["status"] == "succeeded" for d in delivered)
    completed = next(e for e in document["events"] if e["type"] == "session.completed")
    assert completed["payload"]["data"]["survey_response"]["feedback"] == FEEDBACK
    [stripe_event] = document["stripe_events"]
    assert stripe_event["payload"]["data"]["object"]["email"] == EMAIL
    steps = [e for e in document["audit_entries"] if e["actor_kind"] == "subscriber"]
    assert {e["action"] for e in steps} >= {"session.viewed", "session.offer_shown"}
    assert all(e["user_agent"] == USER_AGENT and e["ip"] == "127.0.0.0" for e in steps)
    assert counts["audit_entries"] == len(document["audit_entries"])
    # Nothing of the same customer in another workspace, or in live mode.
    text = json.dumps(document)
    untouched = footprint.untouched
    for row in (untouched["other_session"], untouched["other_custom_session"]):
        assert row.pk not in text
    assert untouched["other_tenant"].pk not in text
    assert untouched["live_session"].pk not in text
    # The export is itself recorded, by the key that asked.
    entry = AuditEntry.objects.filter(action="customer.exported").get()
    assert (entry.actor_kind, entry.actor_label) == ("api_key", footprint.client.api_key.prefix)
    assert entry.changes == {"customer_id": footprint.customer_id, "counts": counts}


def test_erasure_leaves_nothing_of_the_customer_in_any_table_and_every_figure(footprint, receiver):
    tenant = footprint.tenant
    before = _figures(tenant)
    live_before = _figures(tenant, livemode=True)
    assert before["flow"]["counts"]["completed"] == 1
    assert before["flow"]["reasons"] and before["custom"]["counts"]["completed"] == 1
    # Before: every kind of row holds some of it.
    named = "\n".join(_rows_naming_the_person())
    for table in (
        "sessions_app_session",
        "sessions_app_customsession",
        "sessions_app_receipt",
        "hub_hubsession",
        "webhooks_event",
        "webhooks_deliveryattempt",
        "billing_stripeevent",
        "audit_auditentry",
        "mrrx_idempotencyrecord",
    ):
        assert f"{table}: " in named, table

    response = footprint.client.post(f"/api/v1/customers/{footprint.customer_id}/erase")

    assert response.status_code == 200, response.content
    erasure = response.json()
    assert (erasure["object"], erasure["customer_id"], erasure["livemode"]) == (
        "customer_erasure",
        footprint.customer_id,
        False,
    )
    counts = erasure["counts"]
    for kind in (
        "sessions",
        "custom_sessions",
        "hub_sessions",
        "receipts",
        "events",
        "delivery_attempts",
        "stripe_events",
        "audit_entries",
        "idempotency_records",
    ):
        assert counts[kind] >= 1, kind
    # Nowhere, in any table, but in the rows of the other workspace and of live mode.
    keep = footprint.untouched
    allowed = (keep["other_tenant"].pk, keep["live_session"].pk)
    leftovers = [row for row in _rows_naming_the_person() if not any(k in row for k in allowed)]
    assert leftovers == []
    assert _figures(tenant) == before
    assert _figures(tenant, livemode=True) == live_before

    session = Session.objects.get(pk=footprint.session_id)
    assert (session.survey_feedback, session.survey_reason_other) == (ERASED, ERASED)
    assert session.metadata == dict.fromkeys(METADATA, ERASED)
    assert session.context == {"plan": ERASED, "mrr": ERASED, "tenure_days": ERASED}
    assert session.subscription_snapshot["customer_email"] == ERASED
    # The figures and the pseudonymous id stay.
    assert (session.customer_id, session.survey_reason, session.outcome_action) == (
        footprint.customer_id,
        "other",
        "cancel",
    )
    assert (session.price_amount, session.price_currency) == (2900, "usd")
    assert session.completed_at is not None
    receipt = Receipt.objects.get(session=session)
    assert (receipt.to_email, receipt.status) == (ERASED, "sent")
    hub = HubSession.objects.get(pk=footprint.hub_session_id)
    assert (hub.customer_email, hub.customer_id) == (ERASED, footprint.customer_id)
    custom = CustomSession.objects.get(pk=footprint.custom_session_id)
    assert (custom.survey_reason_other, custom.mrr_amount) == (ERASED, 2900)
    completed = Event.objects.get(session_id=session.pk, type="session.completed").payload
    assert completed["data"]["survey_response"] == {
        "reason": "other",
        "reason_other": ERASED,
        "feedback": ERASED,
    }
    assert completed["data"]["metadata"] == dict.fromkeys(METADATA, ERASED)
    assert completed["data"]["outcome"]["action"] == "cancel"
    attempts = DeliveryAttempt.objects.filter(delivery__event__session_id=session.pk)
    assert attempts and {a.response_body for a in attempts} == {ERASED}
    stripe_object = StripeEvent.objects.get(stripe_event_id=footprint.stripe_event_id).payload
    stripe_object = json.loads(stripe_object)["data"]["object"]
    assert (stripe_object["id"], stripe_object["email"], stripe_object["name"]) == (
        footprint.customer_id,
        ERASED,
        ERASED,
    )
    assert stripe_object["address"] == {"line1": ERASED, "city": ERASED, "country": ERASED}
    steps = AuditEntry.objects.filter(actor_kind="subscriber", actor_id=footprint.customer_id)
    assert steps and {(e.ip, e.user_agent) for e in steps} == {(None, ERASED)}
    offer_shown = steps.get(action="session.offer_shown").changes
    assert (offer_shown["survey_reason"], offer_shown["survey_reason_other"]) == ("other", ERASED)

    # Another workspace's customer, and this workspace's live mode, as they were.
    for name in ("other_session", "live_session"):
        row = Session.objects.get(pk=keep[name].pk)
        assert (row.survey_feedback, row.metadata) == (FEEDBACK, METADATA), name
        assert row.subscription_snapshot["customer_email"] == EMAIL
    other_custom = CustomSession.objects.get(pk=keep["other_custom_session"].pk)
    assert other_custom.survey_reason_other == REASON_OTHER

    # The merchant's systems hear of it, signed, with the id and counts and nothing else.
    receiver.requests.clear()
    event = Event.objects.get(type="customer.erased")
    assert event.pk == erasure["event_id"]
    deliver_pending()
    [request] = [r for r in receiver.requests if b"customer.erased" in r.body]
    body = request.body.decode()
    assert reference_verify(body, request.headers["x-mrrx-signature"], footprint.endpoint_secret)
    payload = json.loads(body)
    assert payload["type"] == "customer.erased"
    assert payload["data"] == {
        "customer_id": footprint.customer_id,
        "counts": counts,
        "livemode": False,
    }
    assert not any(text in body for text in PERSONAL)

    # Recorded, by the key that asked.
    entry = AuditEntry.objects.get(action="customer.erased")
    assert (entry.actor_kind, entry.actor_label) == ("api_key", footprint.client.api_key.prefix)
    assert entry.changes["counts"] == counts


def test_erasing_again_erases_nothing_new_and_still_answers(footprint):
    path = f"/api/v1/customers/{footprint.customer_id}/erase"
    first = footprint.client.post(path)
    deliver_pending()  # customer.erased went out, and its delivery is logged

    second = footprint.client.post(path)

    assert (first.status_code, second.status_code) == (200, 200)
    assert any(first.json()["counts"].values())
    assert set(second.json()["counts"].values()) == {0}
    assert Event.objects.filter(type="customer.erased").count() == 2


def test_an_export_after_erasure_lists_the_same_rows_erased(footprint):
    before = footprint.client.post(f"/api/v1/customers/{footprint.customer_id}/export").json()
    footprint.client.post(f"/api/v1/customers/{footprint.customer_id}/erase")

    after = footprint.client.post(f"/api/v1/customers/{footprint.customer_id}/export").json()

    text = json.dumps(after)
    assert not any(personal in text for personal in PERSONAL)
    # The same rows, plus the customer.erased event and the two privacy audit entries.
    assert after["counts"] == {
        **before["counts"],
        "events": before["counts"]["events"] + 1,
        "audit_entries": before["counts"]["audit_entries"] + 2,
    }
    assert after["sessions"][0]["survey_feedback"] == ERASED
    assert after["sessions"][0]["outcome_action"] == before["sessions"][0]["outcome_action"]
