"""Advancing the emulator clock drives trials, pauses, renewals and scheduled cancels."""

from __future__ import annotations

from .helpers import make_subscription

DAY = 86400


def _events(client, type_: str) -> list:
    return client.v1.events.list(params={"type": type_, "limit": 100}).data


def test_clock_reports_and_advances(emu):
    start = emu.now()
    result = emu.advance(3600)
    assert result["offset"] == 3600
    assert result["now"] >= start + 3600
    assert emu.now() >= start + 3600
    emu.reset()
    assert emu.now() < start + 3600


def test_trial_ends_and_becomes_active(client, emu):
    _, _, sub = make_subscription(client, trial_period_days=7)
    trial_end = sub.trial_end
    result = emu.advance(8 * DAY)
    assert result["transitions"] >= 2
    after = client.v1.subscriptions.retrieve(sub.id)
    assert after.status == "active"
    item = after["items"].data[0]
    assert item.current_period_start == trial_end
    assert item.current_period_end > trial_end + 27 * DAY
    assert after.billing_cycle_anchor == trial_end
    warned = _events(client, "customer.subscription.trial_will_end")
    assert [e.data.object.id for e in warned] == [sub.id]
    assert warned[0].created == trial_end - 3 * DAY
    updated = _events(client, "customer.subscription.updated")[0]
    assert updated.data.previous_attributes.status == "trialing"
    assert updated.created == trial_end
    assert updated.request.id is None  # automatic, not caused by an API request
    assert updated.id in result["events"]


def test_pause_resumes_at_resumes_at(client, emu):
    _, _, sub = make_subscription(client)
    resumes = emu.now() + 2 * DAY
    client.v1.subscriptions.update(
        sub.id,
        params={"pause_collection": {"behavior": "mark_uncollectible", "resumes_at": resumes}},
    )
    emu.advance(DAY)
    assert client.v1.subscriptions.retrieve(sub.id).pause_collection is not None
    emu.advance(2 * DAY)
    after = client.v1.subscriptions.retrieve(sub.id)
    assert after.pause_collection is None
    assert after.status == "active"
    resumed = _events(client, "customer.subscription.updated")[0]
    assert resumed.data.previous_attributes.pause_collection.behavior == "mark_uncollectible"
    assert resumed.created == resumes


def test_periods_renew(client, emu):
    _, _, sub = make_subscription(client)
    first = sub["items"].data[0]
    emu.advance(first.current_period_end - emu.now() + 60)
    item = client.v1.subscriptions.retrieve(sub.id)["items"].data[0]
    assert item.id == first.id
    assert item.current_period_start == first.current_period_end
    assert item.current_period_end > item.current_period_start
    # Long jumps renew repeatedly, one update event per period.
    before = len(_events(client, "customer.subscription.updated"))
    emu.advance(95 * DAY)
    assert len(_events(client, "customer.subscription.updated")) - before >= 3
    latest = client.v1.subscriptions.retrieve(sub.id)["items"].data[0]
    assert latest.current_period_start <= emu.now() < latest.current_period_end


def test_cancel_at_period_end_cancels_at_period_end(client, emu):
    _, _, sub = make_subscription(client)
    scheduled = client.v1.subscriptions.update(sub.id, params={"cancel_at_period_end": True})
    period_end = scheduled["items"].data[0].current_period_end
    emu.advance(period_end - emu.now() - 60)
    assert client.v1.subscriptions.retrieve(sub.id).status == "active"
    emu.advance(120)
    ended = client.v1.subscriptions.retrieve(sub.id)
    assert ended.status == "canceled"
    assert ended.ended_at == period_end
    assert ended.canceled_at == scheduled.canceled_at  # when cancellation was requested
    deleted = _events(client, "customer.subscription.deleted")
    assert [e.data.object.id for e in deleted] == [sub.id]
    assert client.v1.subscriptions.list().data == []


def test_repeating_discount_expires(client, emu):
    client.v1.coupons.create(
        params={"id": "TWO", "percent_off": 25, "duration": "repeating", "duration_in_months": 2}
    )
    _, _, sub = make_subscription(client, discounts=[{"coupon": "TWO"}])
    assert len(sub.discounts) == 1
    emu.advance(70 * DAY)
    assert client.v1.subscriptions.retrieve(sub.id).discounts == []


def test_events_from_one_advance_are_chronological(client, emu):
    make_subscription(client)
    make_subscription(client, trial_period_days=10)
    result = emu.advance(65 * DAY)
    events = client.v1.events.list(params={"limit": 100}).data
    created = [e.created for e in events if e.id in result["events"]]
    assert len(created) >= 4
    assert created == sorted(created, reverse=True)  # newest first, like Stripe
