"""The pause endpoint and resume, customer-level discounts, discounts stacked onto them,
and prorations: pending on the next invoice, or invoiced at once."""

from __future__ import annotations

import pytest
import stripe

from .helpers import make_price, make_subscription


def _record(emu, table: str, obj_id: str) -> dict:
    return emu.state()["namespaces"]["platform:test"]["tables"][table][obj_id]


def _events(client, type_: str) -> list:
    return client.v1.events.list(params={"type": type_, "limit": 10}).data


def test_pause_endpoint_sets_paused_status_and_stops_renewals(client, emu):
    _customer, _price, sub = make_subscription(client)
    period_end = sub["items"].data[0].current_period_end

    paused = client.v1.subscriptions.pause(sub.id, params={"type": "subscription"})

    assert paused.status == "paused"
    assert paused.pause_collection is None
    assert paused.status_details.paused.type == "subscription"
    assert paused.status_details.paused.subscription.type == "pause_requested"
    assert paused.status_details.paused.transitioned_at == emu.now()
    assert _events(client, "customer.subscription.paused")[0].data.object.id == sub.id
    invoices_before = len(emu.state()["namespaces"]["platform:test"]["tables"]["invoices"])

    emu.advance(period_end - emu.now() + 86400)  # past the period's end: no renewal

    again = client.v1.subscriptions.retrieve(sub.id)
    assert again.status == "paused"
    assert again["items"].data[0].current_period_end == period_end
    assert len(emu.state()["namespaces"]["platform:test"]["tables"]["invoices"]) == invoices_before


def test_resume_restarts_the_cycle_now_and_invoices(client, emu):
    _customer, _price, sub = make_subscription(client)
    client.v1.subscriptions.pause(sub.id, params={"type": "subscription"})
    emu.advance(10 * 86400)

    resumed = client.v1.subscriptions.resume(sub.id)

    now = emu.now()
    assert resumed.status == "active"
    assert resumed.status_details is None
    assert resumed.billing_cycle_anchor == now
    assert resumed["items"].data[0].current_period_start == now
    assert _events(client, "customer.subscription.resumed")[0].data.object.id == sub.id
    invoices = emu.state()["namespaces"]["platform:test"]["tables"]["invoices"].values()
    assert [i["billing_reason"] for i in invoices if i["subscription"] == sub.id][-1] == (
        "subscription_update"
    )


def test_pause_and_resume_refuse_the_wrong_status(client):
    _customer, _price, sub = make_subscription(client)
    with pytest.raises(stripe.InvalidRequestError, match="not paused"):
        client.v1.subscriptions.resume(sub.id)
    client.v1.subscriptions.pause(sub.id, params={"type": "subscription"})
    with pytest.raises(stripe.InvalidRequestError, match="already paused"):
        client.v1.subscriptions.pause(sub.id, params={"type": "subscription"})
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        client.v1.subscriptions.pause(sub.id, params={"type": "forever"})
    assert excinfo.value.param == "type"


def test_customer_discount_applies_until_the_subscription_has_its_own(client, emu):
    customer, price, sub = make_subscription(client)  # 2000 a month
    client.v1.coupons.create(params={"id": "cust10", "percent_off": 10, "duration": "forever"})
    client.v1.coupons.create(params={"id": "mrrx25", "percent_off": 25, "duration": "forever"})
    emu.customer_discount(customer.id, "cust10")

    shown = client.v1.customers.retrieve(customer.id, params={"expand": ["discount.source.coupon"]})
    assert shown.discount.source.coupon.id == "cust10"
    assert shown.discount.subscription is None
    preview = client.v1.invoices.create_preview(params={"subscription": sub.id})
    assert preview.total == 1800

    # Stacking: the subscription reuses the customer's discount and adds its own.
    stacked = client.v1.subscriptions.update(
        sub.id,
        params={"discounts": [{"discount": shown.discount.id}, {"coupon": "mrrx25"}]},
    )
    assert stacked.discounts[0] == shown.discount.id
    assert client.v1.invoices.create_preview(params={"subscription": sub.id}).total == 1350

    # Replacing: the subscription's own coupon alone; the customer keeps theirs.
    client.v1.subscriptions.update(sub.id, params={"discounts": [{"coupon": "mrrx25"}]})
    assert client.v1.invoices.create_preview(params={"subscription": sub.id}).total == 1500
    assert client.v1.customers.retrieve(customer.id).discount.id == shown.discount.id

    # Another customer's subscription cannot reuse it.
    other, _, _ = make_subscription(client)
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        client.v1.subscriptions.create(
            params={
                "customer": other.id,
                "items": [{"price": price.id}],
                "discounts": [{"discount": shown.discount.id}],
            }
        )
    assert excinfo.value.code == "resource_missing"

    deleted = client.v1.customers.delete_discount(customer.id)
    assert deleted.deleted is True
    assert client.v1.customers.retrieve(customer.id).discount is None


@pytest.mark.parametrize("behavior", ["create_prorations", "always_invoice", "none"])
def test_a_price_change_bills_what_its_preview_showed(client, emu, behavior):
    customer, price, sub = make_subscription(client)  # 2000 a month
    cheaper = make_price(client, amount=1200)
    emu.advance(10 * 86400)
    item = sub["items"].data[0].id
    at = emu.now()
    preview = client.v1.invoices.create_preview(
        params={
            "subscription": sub.id,
            "subscription_details": {
                "items": [{"id": item, "price": cheaper.id}],
                "proration_behavior": behavior,
                "proration_date": at,
            },
        }
    )

    client.v1.subscriptions.update(
        sub.id,
        params={
            "items": [{"id": item, "price": cheaper.id}],
            "proration_behavior": behavior,
            **({"proration_date": at} if behavior != "none" else {}),
        },
    )

    if behavior == "always_invoice":
        invoices = emu.state()["namespaces"]["platform:test"]["tables"]["invoices"].values()
        made = [i for i in invoices if i["billing_reason"] == "subscription_update"]
        assert [i["total"] for i in made] == [preview.total]
        assert preview.total < 0  # a credit: the cheaper price for the rest of the period
    else:
        after = client.v1.invoices.create_preview(params={"subscription": sub.id})
        assert after.total == preview.total
        assert (behavior == "none") == (preview.total == 1200)
