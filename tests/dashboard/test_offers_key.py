"""Offer figures are counted per list of offers (``Session.offers_key``): sessions that
considered the same offers share a key, whatever their offers' parameters; the key is
kept when a session is saved and filled for sessions written before it existed."""

from __future__ import annotations

import importlib
from datetime import UTC, date, datetime, timedelta

import pytest
from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext

from dashboard.analytics import Period, analytics_report
from sessions_app.models import Session, offers_key_of
from tests.factories import TenantFactory

pytestmark = pytest.mark.django_db

DAY = datetime(2026, 3, 2, 12, tzinfo=UTC)
PERIOD = Period(start=date(2026, 3, 1), end=date(2026, 3, 3))


def _offer(action: str, shown: bool = True, **params) -> dict:
    return {"offer_id": f"{action}:ofr_{action}", "action": action, "params": params,
            "shown": shown, "reason": None if shown else "cooldown"}  # fmt: skip


def _session(tenant, offers, status="offer_shown", outcome="", n=[0]) -> Session:  # noqa: B006
    n[0] += 1
    return Session.objects.create(
        tenant=tenant,
        livemode=True,
        status=status,
        outcome_action=outcome,
        customer_id=f"cus_{n[0]}",
        subscription_id=f"sub_{n[0]}",
        created_at=DAY,
        viewed_at=DAY,
        expires_at=DAY + timedelta(hours=24),
        offers_considered=offers,
    )


def test_the_key_follows_the_offers_not_their_parameters():
    preview_a = [_offer("pause"), _offer("downgrade", next_invoice={"amount_due": 1200})]
    preview_b = [_offer("pause"), _offer("downgrade", next_invoice={"amount_due": 1900})]
    assert offers_key_of(preview_a) == offers_key_of(preview_b)
    assert len(offers_key_of(preview_a)) == 32
    assert offers_key_of([_offer("pause"), _offer("downgrade", shown=False)]) != offers_key_of(
        preview_a
    )
    assert offers_key_of([_offer("downgrade"), _offer("pause")]) != offers_key_of(preview_a)
    assert offers_key_of([]) == offers_key_of(None) == offers_key_of({"x": 1}) == ""


def test_saving_a_session_keeps_its_key_in_step():
    tenant = TenantFactory()
    session = _session(tenant, [_offer("pause")])
    assert Session.objects.get(pk=session.pk).offers_key == offers_key_of([_offer("pause")])
    session.offers_considered = [_offer("discount")]
    session.save(update_fields=["offers_considered"])
    assert Session.objects.get(pk=session.pk).offers_key == offers_key_of([_offer("discount")])


def test_offer_figures_count_every_session_of_a_key_once_each():
    tenant = TenantFactory()
    # Three sessions share a list (their downgrade previews differ), one has its own.
    for amount, status, outcome in ((1200, "completed", "downgrade"),
                                    (1900, "completed", "cancel"),
                                    (2500, "abandoned", "")):  # fmt: skip
        offers = [_offer("pause", shown=False), _offer("downgrade", next_invoice=amount)]
        _session(tenant, offers, status, outcome)
    _session(tenant, [_offer("pause")], "completed", "pause")
    _session(tenant, [], "expired")

    with CaptureQueriesContext(connection) as queries:
        report = analytics_report(tenant=tenant, livemode=True, period=PERIOD)
    figures = {
        row.offer_id: (row.considered, row.shown, row.accepted, row.acceptance_rate)
        for row in report.offers
    }
    assert figures == {
        "downgrade:ofr_downgrade": (3, 3, 1, 1 / 3),
        "pause:ofr_pause": (4, 1, 1, 1.0),
    }
    assert report.counts["started"] == 5 and report.counts["saved"] == 2
    # The offers of each distinct list are read once, by one session's id.
    reads = [q["sql"] for q in queries if '"offers_considered"' in q["sql"]]
    assert len(reads) == 1 and "IN (" in reads[0]


def test_sessions_written_before_the_key_are_given_theirs():
    tenant = TenantFactory()
    with_offers = [_session(tenant, [_offer("pause"), _offer("discount", shown=False)])
                   for _ in range(3)]  # fmt: skip
    other = _session(tenant, [_offer("discount")])
    none = _session(tenant, [])
    Session.objects.filter(tenant=tenant).update(offers_key="")

    migration = importlib.import_module("sessions_app.migrations.0014_offers_key")
    migration.fill_offers_key(apps, connection.schema_editor())

    keys = dict(Session.objects.filter(tenant=tenant).values_list("id", "offers_key"))
    for session in with_offers:
        assert keys[session.pk] == offers_key_of(session.offers_considered) != ""
    assert keys[other.pk] == offers_key_of([_offer("discount")])
    assert keys[none.pk] == ""
