from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sessions_app.models import Session
from sessions_app.selectors import months_before, recent_discount_accepted

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)


def _session(tenant, *, executed_at, **fields):  # type: ignore[no-untyped-def]
    values = {
        "livemode": False,
        "customer_id": "cus_1",
        "subscription_id": f"sub_{Session.objects.count()}",
        "status": "completed",
        "outcome_action": "discount",
        "executed_at": executed_at,
        "expires_at": executed_at + timedelta(hours=24),
        **fields,
    }
    return Session.objects.create(tenant=tenant, **values)


def _recent(tenant, months=12, **kwargs):  # type: ignore[no-untyped-def]
    args = {"livemode": False, "customer_id": "cus_1", **kwargs}
    return recent_discount_accepted(tenant=tenant, months=months, now=NOW, **args)


def test_discount_taken_within_the_cooldown_counts(tenant):
    _session(tenant, executed_at=NOW - timedelta(days=60))
    assert _recent(tenant) is True


def test_cooldown_is_counted_in_calendar_months(tenant):
    _session(tenant, executed_at=datetime(2025, 3, 31, 12, 0, tzinfo=UTC))
    assert _recent(tenant, months=12) is True
    assert _recent(tenant, months=11) is False
    Session.objects.all().update(executed_at=datetime(2025, 3, 31, 11, 59, tzinfo=UTC))
    assert _recent(tenant, months=12) is False


def test_no_session_means_no_recent_discount(tenant):
    assert _recent(tenant) is False


@pytest.mark.parametrize(
    "fields",
    [
        {"outcome_action": "pause"},
        {"outcome_action": "cancel"},
        {"status": "failed", "outcome_action": ""},
        {"status": "executing", "outcome_action": ""},
        {"customer_id": "cus_2"},
        {"livemode": True},
    ],
    ids=["pause", "cancel", "failed", "executing", "other-customer", "other-mode"],
)
def test_only_a_completed_discount_of_this_customer_and_mode_counts(tenant, fields):
    _session(tenant, executed_at=NOW - timedelta(days=10), **fields)
    assert _recent(tenant) is False


def test_another_workspaces_sessions_do_not_count(tenant, other_tenant):
    _session(other_tenant, executed_at=NOW - timedelta(days=10))
    assert _recent(tenant) is False
    assert _recent(other_tenant) is True


def test_zero_months_turns_the_cooldown_off(tenant):
    _session(tenant, executed_at=NOW - timedelta(days=1))
    assert _recent(tenant, months=0) is False


@pytest.mark.parametrize(
    ("moment", "months", "expected"),
    [
        (datetime(2026, 3, 31, tzinfo=UTC), 1, datetime(2026, 2, 28, tzinfo=UTC)),
        (datetime(2024, 3, 31, tzinfo=UTC), 1, datetime(2024, 2, 29, tzinfo=UTC)),
        (datetime(2026, 1, 15, tzinfo=UTC), 12, datetime(2025, 1, 15, tzinfo=UTC)),
        (datetime(2026, 1, 15, tzinfo=UTC), 13, datetime(2024, 12, 15, tzinfo=UTC)),
    ],
)
def test_months_before_clamps_to_the_end_of_shorter_months(moment, months, expected):
    assert months_before(moment, months) == expected
