"""Saves checked at 30, 60 and 90 days: from Stripe's events, then from Stripe itself.

Time is the emulator's clock: the session runs its action now, the clock moves on, and the
pass is told the emulator's time as ``now``.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from billing.models import StripeEvent
from retention.models import InvoicePayment, Save, SubscriptionChange
from retention.services import (
    TokenBucket,
    checkpoints_recheck,
    checkpoints_settle_from_events,
    saves_verify,
)

from .conftest import (
    DAY,
    SEED_KEY,
    connect,
    deliver,
    emulator_events,
    emulator_now,
    run_session,
    scrambled,
    seed,
)

pytestmark = pytest.mark.django_db

DISCOUNT = {"percent_off": 20, "duration_months": 3}


class FakeTime:
    """A clock whose sleeps only move it: pacing is measured, never waited for."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.slept += seconds


def bucket(rate: float = 20) -> tuple[TokenBucket, FakeTime]:
    fake = FakeTime()
    return TokenBucket(rate=rate, clock=fake.clock, sleep=fake.sleep), fake


def statuses(save: Save) -> dict[int, str]:
    return {c.day: c.status for c in save.checkpoints.order_by("day")}


def cancel_at_day_45(emulator, shop) -> None:
    stripe = emulator.client(SEED_KEY)
    emulator.advance(45 * DAY)
    stripe.v1.subscriptions.cancel(shop.seeded.subscription_id)
    emulator.advance(50 * DAY)


def paid_invoices(emulator, subscription_id: str, after: int, until: int) -> int:
    return sum(
        e["data"]["object"]["amount_paid"]
        for e in emulator_events(emulator)
        if e["type"] == "invoice.paid"
        and e["data"]["object"]["parent"]["subscription_details"]["subscription"] == subscription_id
        and after < e["created"] <= until
    )


def test_a_save_written_when_the_discount_is_applied(shop, django_capture_on_commit_callbacks):
    session = run_session(shop, "discount", DISCOUNT, django_capture_on_commit_callbacks)

    save = Save.objects.get(session=session)
    assert (save.tenant, save.subscription_id, save.outcome_action) == (
        shop.tenant,
        shop.seeded.subscription_id,
        "discount",
    )
    assert (save.saved_at, save.mrr_amount, save.currency) == (session.executed_at, 2900, "usd")
    checkpoints = list(save.checkpoints.order_by("day"))
    assert [(c.day, c.due_at, c.status) for c in checkpoints] == [
        (day, session.executed_at + timedelta(days=day), "pending") for day in (30, 60, 90)
    ]


@pytest.mark.parametrize("order", ["as_sent", "scrambled_with_duplicates", "reversed"])
def test_a_save_that_cancels_at_day_45_is_retained_at_30_and_churned_at_60_and_90(
    emulator, shop, client, django_capture_on_commit_callbacks, order
):
    start = emulator.now()
    session = run_session(shop, "discount", DISCOUNT, django_capture_on_commit_callbacks)
    cancel_at_day_45(emulator, shop)
    events = emulator_events(emulator, since=start)
    sent = {
        "as_sent": events,
        "scrambled_with_duplicates": scrambled(events),
        "reversed": events[::-1],
    }[order]

    assert set(deliver(client, shop, sent)) == {200}
    settled = checkpoints_settle_from_events(now=emulator_now(emulator))

    save = Save.objects.get(session=session)
    assert settled == 3
    assert statuses(save) == {30: "retained", 60: "churned", 90: "churned"}
    assert {c.settled_by for c in save.checkpoints.all()} == {"event"}
    day_30, day_60, day_90 = save.checkpoints.order_by("day")
    assert day_30.subscription_status == "active"
    assert (day_60.subscription_status, day_90.subscription_status) == ("canceled", "canceled")
    # One discounted renewal (20% off 2900) between the save and the cancellation.
    saved = int(save.saved_at.timestamp())
    assert save.revenue_amount == 2320
    assert day_30.revenue_amount == paid_invoices(
        emulator, shop.seeded.subscription_id, saved, int(day_30.due_at.timestamp())
    )
    assert (day_60.revenue_amount, day_90.revenue_amount) == (2320, 2320)
    # Duplicates were stored once each: one timeline row per Stripe event.
    assert SubscriptionChange.objects.filter(tenant=shop.tenant).count() == len(
        {e["id"] for e in events if e["type"].startswith("customer.subscription.")}
        - {e["id"] for e in events if e["type"] == "customer.subscription.created"}
    )
    if order == "scrambled_with_duplicates":
        assert StripeEvent.objects.count() == len(events)


def test_settled_checkpoints_are_never_recomputed(
    emulator, shop, client, django_capture_on_commit_callbacks
):
    start = emulator.now()
    session = run_session(shop, "discount", DISCOUNT, django_capture_on_commit_callbacks)
    emulator.advance(35 * DAY)
    deliver(client, shop, emulator_events(emulator, since=start))
    assert checkpoints_settle_from_events(now=emulator_now(emulator)) == 1
    save = Save.objects.get(session=session)
    before = list(save.checkpoints.values_list("day", "status", "settled_at", "revenue_amount"))

    # A late event that claims an earlier cancellation changes nothing already settled.
    late = dict(emulator_events(emulator, since=start)[-1])
    late_object = dict(late["data"]["object"], status="canceled")
    late.update(id="evt_late_cancel", created=start + DAY, data={"object": late_object})
    deliver(client, shop, [late])
    checkpoints_settle_from_events(now=emulator_now(emulator))

    after = list(save.checkpoints.values_list("day", "status", "settled_at", "revenue_amount"))
    assert after == before
    assert statuses(save)[30] == "retained"


def test_checkpoints_wait_for_late_events_before_settling(
    emulator, shop, client, django_capture_on_commit_callbacks
):
    start = emulator.now()
    session = run_session(shop, "discount", DISCOUNT, django_capture_on_commit_callbacks)
    emulator.advance(31 * DAY)
    deliver(client, shop, emulator_events(emulator, since=start))
    due = Save.objects.get(session=session).checkpoints.get(day=30).due_at

    assert checkpoints_settle_from_events(now=due + timedelta(minutes=59)) == 0
    assert checkpoints_settle_from_events(now=due + timedelta(minutes=61)) == 1


def test_a_paused_subscription_that_resumes_and_pays_is_retained(
    emulator, shop, client, django_capture_on_commit_callbacks
):
    start = emulator.now()
    session = run_session(shop, "pause", {"days": 45}, django_capture_on_commit_callbacks)
    save = Save.objects.get(session=session)
    assert save.paused_until is not None
    assert save.paused_until.date() == (session.executed_at + timedelta(days=45)).date()

    emulator.advance(95 * DAY)
    events = emulator_events(emulator, since=start)
    deliver(client, shop, events)
    checkpoints_settle_from_events(now=emulator_now(emulator))

    save.refresh_from_db()
    assert statuses(save) == {30: "retained", 60: "retained", 90: "retained"}
    day_30, day_60, day_90 = save.checkpoints.order_by("day")
    assert day_30.revenue_amount == 0  # paused: nothing collected
    assert day_90.revenue_amount > 0
    assert save.revenue_amount == paid_invoices(
        emulator, shop.seeded.subscription_id, int(save.saved_at.timestamp()), emulator.now()
    )
    assert InvoicePayment.objects.filter(tenant=shop.tenant, status="paid").count() >= 2


def test_a_pause_beyond_the_accepted_one_is_churned(
    emulator, shop, client, django_capture_on_commit_callbacks
):
    start = emulator.now()
    session = run_session(shop, "pause", {"days": 20}, django_capture_on_commit_callbacks)
    stripe = emulator.client(SEED_KEY)
    emulator.advance(25 * DAY)
    # The subscriber paused again, this time outside MRRX and for months.
    stripe.v1.subscriptions.update(
        shop.seeded.subscription_id,
        {"pause_collection": {"behavior": "void", "resumes_at": emulator.now() + 120 * DAY}},
    )
    emulator.advance(70 * DAY)
    deliver(client, shop, emulator_events(emulator, since=start))
    checkpoints_settle_from_events(now=emulator_now(emulator))

    assert statuses(Save.objects.get(session=session)) == {
        30: "churned",
        60: "churned",
        90: "churned",
    }


def test_a_subscription_past_due_at_the_checkpoint_is_churned(
    emulator, shop, client, django_capture_on_commit_callbacks
):
    start = emulator.now()
    session = run_session(shop, "discount", DISCOUNT, django_capture_on_commit_callbacks)
    # The first two renewals (around days 30 and 60) fail; the third is paid.
    emulator.fail_payments(shop.seeded.customer_id, count=2)
    emulator.advance(95 * DAY)
    deliver(client, shop, emulator_events(emulator, since=start))
    checkpoints_settle_from_events(now=emulator_now(emulator))

    save = Save.objects.get(session=session)
    failed = InvoicePayment.objects.filter(tenant=shop.tenant, status="payment_failed")
    assert [f.amount for f in failed.order_by("occurred_at")] == [2320, 2320]
    paid = InvoicePayment.objects.get(
        tenant=shop.tenant, status="paid", occurred_at__gt=save.saved_at
    )
    assert save.revenue_amount == paid.amount > 0
    day_60 = save.checkpoints.get(day=60)
    assert (day_60.status, day_60.subscription_status) == ("churned", "past_due")
    for checkpoint in save.checkpoints.all():
        owing = failed.first().occurred_at <= checkpoint.due_at < paid.occurred_at
        assert checkpoint.status == ("churned" if owing else "retained")


def test_the_recheck_settles_what_events_did_not_from_stripe(
    emulator, shop, django_capture_on_commit_callbacks
):
    session = run_session(shop, "discount", DISCOUNT, django_capture_on_commit_callbacks)
    cancel_at_day_45(emulator, shop)
    now = emulator_now(emulator)
    emulator.http.delete("/_emulator/requests").raise_for_status()

    # No event was delivered: nothing settles from events.
    assert checkpoints_settle_from_events(now=now) == 0
    limiter, fake = bucket()
    result = checkpoints_recheck(now=now, bucket=limiter)

    save = Save.objects.get(session=session)
    assert (result.calls, result.settled, result.complete) == (1, 3, True)
    assert statuses(save) == {30: "retained", 60: "churned", 90: "churned"}
    assert {c.settled_by for c in save.checkpoints.all()} == {"recheck"}
    reads = emulator.requests(path=f"/v1/subscriptions/{shop.seeded.subscription_id}")
    assert [r["method"] for r in reads] == ["GET"]
    assert fake.slept == 0  # one read: within the bucket's burst

    # A second pass finds nothing left to ask Stripe.
    assert checkpoints_recheck(now=now, bucket=limiter).calls == 0


def test_the_recheck_is_paced_batched_by_workspace_and_resumable(
    emulator, tenant, other_tenant, django_capture_on_commit_callbacks
):
    from .conftest import Shop

    shops = [
        Shop(tenant=tenant, connection=connect(tenant), seeded=seed(emulator)),
        Shop(tenant=tenant, connection=tenant.stripe_connections.get(), seeded=seed(emulator)),
        Shop(
            tenant=other_tenant,
            connection=connect(other_tenant, key="rk_test_other_workspace_key_5678"),
            seeded=seed(emulator),
        ),
    ]
    for shop in shops:
        run_session(shop, "discount", DISCOUNT, django_capture_on_commit_callbacks)
    emulator.advance(95 * DAY)
    now = emulator_now(emulator)

    limiter, fake = bucket(rate=20)
    first = checkpoints_recheck(now=now, bucket=limiter, max_calls=2)
    assert (first.calls, first.settled, first.complete) == (2, 6, False)
    # Killed here, started again: only the subscription not yet read is read.
    second = checkpoints_recheck(now=now, bucket=limiter)
    assert (second.calls, second.settled, second.complete) == (1, 3, True)
    for shop in shops:
        reads = emulator.requests(path=f"/v1/subscriptions/{shop.seeded.subscription_id}")
        assert len([r for r in reads if r["method"] == "GET"]) >= 1
    assert Save.objects.filter(checkpoints__status="pending").count() == 0
    # Three reads at 20 a second with a burst of one: two waits of 1/20 s.
    assert fake.slept == pytest.approx(2 / 20)


def test_the_token_bucket_holds_its_rate():
    limiter, fake = bucket(rate=20)
    for _ in range(201):
        limiter.take()
    assert fake.now == pytest.approx(200 / 20)


def test_another_workspaces_events_never_touch_a_save(
    emulator, shop, client, other_tenant, django_capture_on_commit_callbacks
):
    start = emulator.now()
    session = run_session(shop, "discount", DISCOUNT, django_capture_on_commit_callbacks)
    cancel_at_day_45(emulator, shop)
    # The other workspace watches the same subscription id (a session of its own) and
    # receives every event; the save's workspace receives none.
    from .conftest import Shop

    other = Shop(
        tenant=other_tenant,
        connection=connect(other_tenant, key="rk_test_other_workspace_key_5678"),
        seeded=shop.seeded,
    )
    run_session(other, "discount", DISCOUNT, django_capture_on_commit_callbacks)
    deliver(client, other, emulator_events(emulator, since=start))

    assert SubscriptionChange.objects.filter(tenant=other_tenant).exists()
    assert not SubscriptionChange.objects.filter(tenant=shop.tenant).exists()
    checkpoints_settle_from_events(now=emulator_now(emulator))
    save = Save.objects.get(session=session)
    assert statuses(save) == {30: "pending", 60: "pending", 90: "pending"}
    assert save.revenue_amount == 0


def test_the_periodic_pass_writes_missing_saves_and_settles(
    emulator, shop, client, django_capture_on_commit_callbacks
):
    start = emulator.now()
    session = run_session(shop, "discount", DISCOUNT, django_capture_on_commit_callbacks)
    Save.objects.all().delete()  # as if the listener had failed
    emulator.advance(95 * DAY)
    deliver(client, shop, emulator_events(emulator, since=start))
    limiter, _ = bucket()

    result = saves_verify(now=emulator_now(emulator), bucket=limiter)

    assert (result.saves_written, result.settled_from_events) == (1, 3)
    assert result.recheck is not None and result.recheck.calls == 0
    assert statuses(Save.objects.get(session=session)) == {
        30: "retained",
        60: "retained",
        90: "retained",
    }
