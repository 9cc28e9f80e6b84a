"""The clock invoices every paid period: paid, or failed when told, and none while paused."""

from __future__ import annotations

import httpx
import pytest

from .helpers import make_subscription

DAY = 86400


def _events(client, type_: str) -> list:
    return client.v1.events.list(params={"type": type_, "limit": 100}).data


def test_creation_and_each_renewal_are_invoiced_and_paid(client, emu):
    _, _, sub = make_subscription(client)
    paid = _events(client, "invoice.paid")
    assert [e.data.object.billing_reason for e in paid] == ["subscription_create"]
    emu.advance(31 * DAY)
    emu.advance(31 * DAY)
    paid = _events(client, "invoice.paid")
    assert len(paid) == 3
    newest = paid[0].data.object
    assert newest.billing_reason == "subscription_cycle"
    assert newest.status == "paid"
    assert newest.amount_paid == newest.total == 2000
    assert newest.parent.subscription_details.subscription == sub.id
    item = client.v1.subscriptions.retrieve(sub.id)["items"].data[0]
    assert newest.created == item.current_period_start


def test_invoice_is_discounted_while_the_coupon_lasts(client, emu):
    client.v1.coupons.create(
        params={"id": "half3", "percent_off": 50, "duration": "repeating", "duration_in_months": 1}
    )
    make_subscription(client, discounts=[{"coupon": "half3"}])
    emu.advance(31 * DAY)
    emu.advance(31 * DAY)
    amounts = [e.data.object.amount_paid for e in reversed(_events(client, "invoice.paid"))]
    assert amounts == [1000, 2000, 2000]


def test_a_trial_is_invoiced_when_it_ends(client, emu):
    _, _, sub = make_subscription(client, trial_period_days=7)
    assert _events(client, "invoice.paid") == []
    emu.advance(8 * DAY)
    paid = _events(client, "invoice.paid")
    assert [e.data.object.created for e in paid] == [sub.trial_end]


def test_failed_payment_leaves_the_subscription_past_due_until_an_invoice_is_paid(client, emu):
    customer, _, sub = make_subscription(client)
    assert emu.fail_payments(customer.id) == {"customer": customer.id, "failing_payments": 1}
    emu.advance(31 * DAY)
    failed = _events(client, "invoice.payment_failed")
    assert len(failed) == 1
    assert failed[0].data.object.status == "open"
    assert failed[0].data.object.amount_paid == 0
    assert client.v1.subscriptions.retrieve(sub.id).status == "past_due"
    emu.advance(31 * DAY)
    assert client.v1.subscriptions.retrieve(sub.id).status == "active"
    updated = _events(client, "customer.subscription.updated")
    statuses = [e.data.object.status for e in updated if "status" in e.data.previous_attributes]
    assert statuses == ["active", "past_due"]  # newest first


def test_no_invoice_while_collection_is_paused(client, emu):
    _, _, sub = make_subscription(client)
    resumes = emu.now() + 45 * DAY
    client.v1.subscriptions.update(
        sub.id, params={"pause_collection": {"behavior": "void", "resumes_at": resumes}}
    )
    emu.advance(40 * DAY)
    assert len(_events(client, "invoice.paid")) == 1  # the first period only
    emu.advance(31 * DAY)
    assert len(_events(client, "invoice.paid")) == 2


def test_cancel_at_period_end_ends_without_another_invoice(client, emu):
    _, _, sub = make_subscription(client)
    client.v1.subscriptions.update(sub.id, params={"cancel_at_period_end": True})
    emu.advance(31 * DAY)
    assert client.v1.subscriptions.retrieve(sub.id).status == "canceled"
    assert len(_events(client, "customer.subscription.deleted")) == 1
    assert len(_events(client, "invoice.paid")) == 1


def test_payment_failures_for_an_unknown_customer_are_refused(emu):
    with pytest.raises(httpx.HTTPStatusError) as exc:
        emu.fail_payments("cus_missing")
    assert exc.value.response.status_code == 400
    assert "cus_missing" in exc.value.response.json()["error"]["message"]
