"""What the hosted pages say about a finished session."""

from __future__ import annotations

from sessions_app import presentation
from sessions_app.models import Session


def canceled(**details) -> Session:  # type: ignore[no-untyped-def]
    return Session(
        outcome_action="cancel",
        outcome_details=details,
        status="completed",
        price_currency="usd",
        subscription_snapshot={"current_period_end": "2027-01-15T00:00:00.000Z"},
    )


def test_a_cancellation_at_period_end_keeps_access_to_the_end_of_the_paid_period():
    # Stripe's canceled_at is when the cancellation was asked for, not when access ends.
    session = canceled(canceled_at="2026-12-03T08:40:00.000Z", cancel_at_period_end=True)
    text = presentation.result(session)["text"]
    assert text == "Your subscription is canceled. You keep access until Jan. 15, 2027."


def test_an_immediate_cancellation_says_it_has_ended():
    session = canceled(canceled_at="2026-12-03T08:40:00.000Z", cancel_at_period_end=False)
    assert presentation.result(session)["text"] == "Your subscription is canceled."
