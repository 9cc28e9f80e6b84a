"""Save verification over 100,000 saves: the time of the pass and the Stripe calls it makes.

In a database of its own, with the Stripe emulator: 100,000 saves made 100 days ago (so
that all 300,000 checkpoints are due). Most have a timeline from inbound events (the
subscription's state before the save, and for a third a cancellation or a payment failure
later, with the invoices paid); ``BENCH_RETENTION_RECHECKS`` of them (1,000 by default)
have none and are real subscriptions in the emulator, a third of them canceled, for the
re-check to read at the product's rate (``RETENTION_RECHECK_RATE``, 20 a second). Times:
the set-based settling from events, and the re-check (paced: its time is mostly the
rate's). Stripe calls are counted from the emulator's request log. Needs DATABASE_URL:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python -m bench retention
"""

from __future__ import annotations

import os
import random
import time
from datetime import timedelta

from . import common, report

SAVES = int(os.environ.get("BENCH_RETENTION_SAVES", "100000"))
RECHECKS = int(os.environ.get("BENCH_RETENTION_RECHECKS", "1000"))
# The events pass over 100,000 saves' 300,000 checkpoints: within two minutes.
EVENTS_AT_MOST_S = 120.0


def _build(tenant, pairs: list[tuple[str, str]]) -> None:  # type: ignore[no-untyped-def]
    from django.db import connection
    from django.utils import timezone

    from mrrx.ids import new_id
    from retention.models import (
        CHECKPOINT_DAYS,
        CUSTOM_SOURCE,
        InvoicePayment,
        Save,
        SaveCheckpoint,
        SubscriptionChange,
    )
    from sessions_app.models import CustomSession

    rng = random.Random(13)
    now = timezone.now()
    saved_at = now - timedelta(days=100)
    customs, saves, checkpoints, changes, invoices = [], [], [], [], []
    real = dict(enumerate(pairs))
    for n in range(SAVES):
        customer_id, subscription_id = real.get(n, (f"cus_b{n}", f"sub_b{n}"))
        custom = CustomSession(
            id=new_id("csn"),
            tenant=tenant,
            livemode=False,
            external_id=f"bench-{n}",
            customer_id=customer_id,
            subscription_id=subscription_id,
            started_at=saved_at,
            outcome_action="discount",
            mrr_amount=2900,
            mrr_currency="usd",
        )
        save = Save(
            id=new_id("sav"),
            tenant=tenant,
            livemode=False,
            custom_session_id=custom.id,
            customer_id=customer_id,
            subscription_id=subscription_id,
            outcome_action="discount",
            saved_at=saved_at,
            mrr_amount=2900,
            currency="usd",
            session_started_at=saved_at,
            session_source=CUSTOM_SOURCE,
        )
        customs.append(custom)
        saves.append(save)
        checkpoints += [
            SaveCheckpoint(save_record_id=save.id, day=day, due_at=saved_at + timedelta(days=day))
            for day in CHECKPOINT_DAYS
        ]
        if n in real:
            continue  # no events: left to the re-check
        timeline = [(saved_at - timedelta(minutes=1), "active", False)]
        roll = rng.random()
        if roll < 0.2:
            timeline.append((saved_at + timedelta(days=rng.randrange(1, 95)), "canceled", False))
        elif roll < 0.33:
            timeline.append((saved_at + timedelta(days=rng.randrange(1, 95)), "past_due", False))
        for i, (at, status, canceling) in enumerate(timeline):
            changes.append(
                SubscriptionChange(
                    tenant=tenant,
                    livemode=False,
                    subscription_id=subscription_id,
                    event_id=f"evt_b{n}_{i}",
                    event_type="customer.subscription.updated",
                    occurred_at=at,
                    status=status,
                    cancel_at_period_end=canceling,
                    mrr_amount=2900,
                )
            )
        for month in (1, 2, 3):
            invoices.append(
                InvoicePayment(
                    tenant=tenant,
                    livemode=False,
                    invoice_id=f"in_b{n}_{month}",
                    subscription_id=subscription_id,
                    customer_id=customer_id,
                    status="paid",
                    amount=2320,
                    currency="usd",
                    occurred_at=saved_at + timedelta(days=30 * month - 1),
                    event_id=f"evt_bi{n}_{month}",
                )
            )
    for model, rows in (
        (CustomSession, customs),
        (Save, saves),
        (SaveCheckpoint, checkpoints),
        (SubscriptionChange, changes),
        (InvoicePayment, invoices),
    ):
        model.objects.bulk_create(rows, batch_size=10000)
    with connection.cursor() as cursor:
        for table in (
            "retention_save",
            "retention_savecheckpoint",
            "retention_subscriptionchange",
            "retention_invoicepayment",
        ):
            cursor.execute(f"VACUUM ANALYZE {table}")


def _run(stripe_url: str) -> None:
    import httpx
    import stripe

    data = common.setup_workspace(stripe_url, subscriptions=RECHECKS)
    from django.conf import settings
    from django.utils import timezone

    from retention.models import CheckpointStatus, SaveCheckpoint
    from retention.services import checkpoints_recheck, checkpoints_settle_from_events

    client = stripe.StripeClient(
        "sk_test_bench", base_addresses={"api": stripe_url}, max_network_retries=0
    )
    for _, subscription_id in data["pairs"][::3]:
        client.v1.subscriptions.cancel(subscription_id)
    started = time.perf_counter()
    _build(data["tenant"], data["pairs"])
    print(f"retention: {SAVES:,} saves built in {time.perf_counter() - started:.1f} s")
    httpx.delete(f"{stripe_url}/_emulator/requests").raise_for_status()

    now = timezone.now()
    started = time.perf_counter()
    from_events = checkpoints_settle_from_events(now=now)
    events_s = time.perf_counter() - started
    started = time.perf_counter()
    recheck = checkpoints_recheck(now=now)
    recheck_s = time.perf_counter() - started
    log = httpx.get(f"{stripe_url}/_emulator/requests").json()["data"]
    pending = SaveCheckpoint.objects.filter(status=CheckpointStatus.PENDING).count()
    rate = settings.RETENTION_RECHECK_RATE
    print(
        f"retention: {from_events:,} checkpoints settled from events in {events_s:.1f} s "
        f"({from_events / events_s:,.0f}/s); re-check: {recheck.calls:,} Stripe calls "
        f"({len(log):,} in the emulator's log), {recheck.settled:,} checkpoints settled in "
        f"{recheck_s:.1f} s ({recheck.calls / recheck_s:.1f} calls/s, limit {rate:g}/s); "
        f"{pending:,} left pending"
    )
    command = "python -m bench retention"
    report.record(
        f"retention: {from_events:,} checkpoints settled from events",
        events_s,
        "s",
        at_most=EVENTS_AT_MOST_S * SAVES / 100000,
        command=command,
    )
    report.record(
        f"retention: whole pass, {SAVES:,} saves", events_s + recheck_s, "s", command=command
    )
    report.record(
        f"retention: Stripe calls, {SAVES:,} saves ({RECHECKS:,} without events)",
        len(log),
        "calls",
        at_most=RECHECKS,
        command=command,
    )
    report.record(
        "retention: re-check rate",
        recheck.calls / recheck_s,
        "calls/s",
        at_most=rate,
        command=command,
    )


def main() -> None:
    if not os.environ.get("DATABASE_URL"):
        print(
            "bench/retention.py needs DATABASE_URL (PostgreSQL), e.g. "
            "DATABASE_URL=postgres://postgres@127.0.0.1:5432/test; skipped."
        )
        return
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    with common.own_database("retention"):
        emulator, stripe_url = common.start_emulator()
        try:
            _run(stripe_url)
        finally:
            common.stop([emulator])


if __name__ == "__main__":
    main()
