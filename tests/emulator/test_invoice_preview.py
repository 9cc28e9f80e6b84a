"""`POST /v1/invoices/create_preview`: the next invoice of a subscription, as is or with a
price change, computed the way Stripe prorates; nothing is stored or changed."""

from __future__ import annotations

import pytest
import stripe

from .helpers import assert_shape, make_price, make_subscription, raw


def _item(sub) -> str:  # type: ignore[no-untyped-def]
    return sub["items"].data[0].id


def _period(sub) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    item = sub["items"].data[0]
    return item.current_period_start, item.current_period_end


def _change(client, sub, price_id: str, **details):  # type: ignore[no-untyped-def]
    return client.v1.invoices.create_preview(
        params={
            "subscription": sub.id,
            "subscription_details": {"items": [{"id": _item(sub), "price": price_id}], **details},
        }
    )


def test_renewal_preview_has_stripes_shape_and_the_next_periods_amount(client):
    customer, price, sub = make_subscription(client)
    preview = client.v1.invoices.create_preview(
        params={"customer": customer.id, "subscription": sub.id}
    )
    assert isinstance(preview, stripe.Invoice)
    assert_shape(raw(preview), "invoice")
    start, end = _period(sub)
    assert preview.customer == customer.id
    assert preview.amount_due == preview.total == preview.subtotal == 2000
    assert preview.currency == "usd"
    assert preview.next_payment_attempt == preview.period_end == end
    assert preview.period_start == start
    [line] = preview.lines.data
    assert line.amount == 2000
    assert line.parent.subscription_item_details.proration is False
    assert line.period.start == end
    assert preview.parent.subscription_details.subscription == sub.id


def test_price_change_with_prorations_credits_unused_time_on_the_next_invoice(client):
    _, _, sub = make_subscription(client)
    cheaper = make_price(client, amount=1000)
    start, end = _period(sub)
    at = start + (end - start) // 2
    preview = _change(client, sub, cheaper.id, proration_date=at)
    credit, charge, renewal = preview.lines.data
    unused = round(2000 * (end - at) / (end - start))
    remaining = round(1000 * (end - at) / (end - start))
    assert credit.amount == -unused and credit.parent.subscription_item_details.proration
    assert charge.amount == remaining and charge.parent.subscription_item_details.proration
    assert credit.period.start == charge.period.start == at
    assert renewal.amount == 1000 and not renewal.parent.subscription_item_details.proration
    assert preview.total == renewal.amount + charge.amount + credit.amount
    assert preview.next_payment_attempt == end
    assert_shape(raw(preview), "invoice")


def test_always_invoice_previews_the_invoice_made_now_with_only_the_prorations(client, emu):
    _, _, sub = make_subscription(client)
    dearer = make_price(client, amount=5000)
    start, end = _period(sub)
    at = start + (end - start) // 4
    preview = _change(
        client, sub, dearer.id, proration_behavior="always_invoice", proration_date=at
    )
    assert [line.parent.subscription_item_details.proration for line in preview.lines.data] == [
        True,
        True,
    ]
    expected = round(5000 * (end - at) / (end - start)) - round(2000 * (end - at) / (end - start))
    assert preview.amount_due == preview.total == expected > 0
    assert preview.created >= emu.now() - 5


def test_no_proration_bills_the_new_price_from_the_next_period(client):
    _, _, sub = make_subscription(client)
    cheaper = make_price(client, amount=1500)
    preview = _change(client, sub, cheaper.id, proration_behavior="none")
    [line] = preview.lines.data
    assert line.amount == preview.amount_due == 1500


def test_a_trialing_subscription_is_not_prorated_and_bills_at_the_trial_end(client):
    _, _, sub = make_subscription(client, trial_period_days=10)
    cheaper = make_price(client, amount=700)
    preview = _change(client, sub, cheaper.id)
    [line] = preview.lines.data
    assert line.amount == preview.amount_due == 700
    assert preview.next_payment_attempt == sub.trial_end


def test_coupons_in_force_apply_to_the_subtotal(client):
    client.v1.coupons.create(params={"id": "QUARTER", "percent_off": 25, "duration": "forever"})
    _, _, sub = make_subscription(client, discounts=[{"coupon": "QUARTER"}])
    preview = client.v1.invoices.create_preview(params={"subscription": sub.id})
    assert preview.subtotal == 2000
    assert preview.total == preview.amount_due == 1500
    [discount] = preview.total_discount_amounts
    assert discount.amount == 500
    assert preview.discounts == [sub.discounts[0]]


def test_a_subscription_set_to_cancel_has_no_upcoming_invoice(client):
    customer, _, sub = make_subscription(client)
    client.v1.subscriptions.update(sub.id, params={"cancel_at_period_end": True})
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.invoices.create_preview(params={"subscription": sub.id})
    assert exc.value.http_status == 404
    assert exc.value.code == "invoice_upcoming_none"
    assert customer.id in str(exc.value.user_message)


def test_a_preview_changes_nothing_and_sends_no_event(client, emu):
    _, _, sub = make_subscription(client)
    cheaper = make_price(client, amount=1000)
    before = client.v1.subscriptions.retrieve(sub.id).to_dict()
    events = len(client.v1.events.list(params={"limit": 100}).data)
    _change(client, sub, cheaper.id)
    assert client.v1.subscriptions.retrieve(sub.id).to_dict() == before
    assert len(client.v1.events.list(params={"limit": 100}).data) == events


def test_bad_previews_get_stripes_errors(client):
    customer, price, sub = make_subscription(client)
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        client.v1.invoices.create_preview(params={"subscription": sub.id, "coupon": "X"})
    assert unknown.value.code == "parameter_unknown"
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.invoices.create_preview(params={"subscription": "sub_missing"})
    assert missing.value.http_status == 404 and missing.value.param == "subscription"
    other = client.v1.customers.create(params={"email": "other@example.com"})
    with pytest.raises(stripe.InvalidRequestError) as mismatch:
        client.v1.invoices.create_preview(params={"customer": other.id, "subscription": sub.id})
    assert mismatch.value.param == "customer"
    euro = make_price(client, amount=900, currency="eur")
    with pytest.raises(stripe.InvalidRequestError) as currency:
        _change(client, sub, euro.id)
    assert "currency" in str(currency.value.user_message)
