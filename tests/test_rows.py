"""``mrrx.rows.RowReader``: the compiled read of one row gives the instance the ORM gives,
column for column (JSON, dates, nulls, decimals of every kind the session holds), on
PostgreSQL and on the embedded default's SQLite alike; and nothing for another workspace."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from mrrx.rows import RowReader
from sessions_app.models import Session

pytestmark = [pytest.mark.django_db, pytest.mark.smoke]


def _session(tenant, **fields) -> Session:  # type: ignore[no-untyped-def]
    now = timezone.now()
    return Session.objects.create(
        tenant=tenant,
        livemode=False,
        customer_id="cus_rows",
        subscription_id=f"sub_rows_{now.timestamp()}",
        price_amount=2900,
        price_currency="usd",
        price_interval="month",
        subscription_snapshot={"current_period_end": "2027-01-01T00:00:00.000Z", "n": [1, 2]},
        metadata={"plan": "pro", "nested": {"a": None}},
        flow_match={"flow_id": "", "tried": []},
        offers_considered=[{"id": "off_1", "eligible": True}],
        outcome_details=None,
        expires_at=now + timedelta(hours=24),
        **fields,
    )


def _fields(session: Session) -> dict:  # type: ignore[type-arg]
    return {f.attname: getattr(session, f.attname) for f in Session._meta.concrete_fields}


def test_the_row_is_the_instance_the_orm_reads(tenant):
    made = _session(tenant, executed_at=timezone.now(), survey_feedback="Too dear")
    reader = RowReader(Session, ["id", "tenant_id", "livemode"])

    read = reader.get(made.pk, tenant.pk, False)

    expected = Session.objects.get(pk=made.pk)
    assert isinstance(read, Session) and read.pk == made.pk
    assert _fields(read) == _fields(expected)
    assert read.metadata == {"plan": "pro", "nested": {"a": None}}
    assert read.executed_at == expected.executed_at and read.executed_at.tzinfo is not None
    assert read._state.adding is False and read._state.db == "default"
    # It is a live instance: saving it changes the row.
    read.survey_feedback = "Changed"
    read.save(update_fields=["survey_feedback"])
    assert Session.objects.get(pk=made.pk).survey_feedback == "Changed"


def test_no_row_for_another_workspace_another_mode_or_an_unknown_id(tenant, other_tenant):
    made = _session(tenant)
    reader = RowReader(Session, ["id", "tenant_id", "livemode"])
    assert reader.get(made.pk, other_tenant.pk, False) is None
    assert reader.get(made.pk, tenant.pk, True) is None
    assert reader.get("ses_unknown", tenant.pk, False) is None
