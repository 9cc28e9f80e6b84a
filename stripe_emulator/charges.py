"""Invoices the clock makes: one at the start of every paid period, paid or failed.

A subscription is invoiced when it is created without a trial, when its trial ends and at
each renewal: one period of every item, less the discounts in force then. The invoice is
paid at once (`invoice.paid`) unless the customer was told to fail its next payments
(`POST /_emulator/payment_failures`): then it stays open (`invoice.payment_failed`) and the
subscription turns `past_due` until a later invoice is paid. While collection is paused
(`pause_collection`) no invoice is made, whatever the pause's behavior. Invoices are
stored in the `invoices` table and sent in their events; there is no invoice API beyond
the preview.
"""

from __future__ import annotations

from typing import Any

from .core import Call, diff
from .state import Namespace
from .util import add_interval, new_id


def discounts_at(call: Call, sub: dict[str, Any], subtotal: int, at: int) -> list[tuple[int, str]]:
    """(amount, discount id) of every discount in force at `at`, applied in order."""
    applied = []
    remaining = max(subtotal, 0)
    ids = sub.get("discounts") or []
    if not ids:
        # A subscription without discounts of its own takes its customer's, as on Stripe.
        customer = call.ns.tables["customers"].get(sub["customer"]) or {}
        ids = [customer["discount"]] if customer.get("discount") else []
    for disc_id in ids:
        disc = call.ns.tables["discounts"][disc_id]
        if disc.get("end") is not None and disc["end"] <= at:
            continue
        coupon = call.ns.tables["coupons"].get(disc["coupon"]) or {}
        if coupon.get("percent_off") is not None:
            amount = round(remaining * coupon["percent_off"] / 100)
        elif coupon.get("amount_off") is not None and coupon.get("currency") == sub["currency"]:
            amount = min(coupon["amount_off"], remaining)
        else:
            continue
        remaining -= amount
        applied.append((amount, disc_id))
    return applied


def _period_lines(call: Call, sub: dict[str, Any], at: int) -> tuple[int, list[dict[str, Any]]]:
    prices, products = call.ns.tables["prices"], call.ns.tables["products"]
    lines, period_end = [], at
    for item in sub["items"]:
        price = prices[item["price"]]
        recurring = price["recurring"]
        end = add_interval(at, recurring["interval"], recurring["interval_count"], 1)
        period_end = max(period_end, end)
        unit = price.get("unit_amount") or 0
        name = (products.get(price["product"]) or {}).get("name") or price["id"]
        lines.append(
            {
                "id": new_id("il"),
                "amount": unit * item["quantity"],
                "currency": sub["currency"],
                "description": f"{item['quantity']} x {name}",
                "period": {"start": at, "end": end},
                "proration": False,
                "quantity": item["quantity"],
                "subscription": sub["id"],
                "subscription_item": item["id"],
                "unit_amount": unit,
            }
        )
    return period_end, lines


def invoice_period(
    call: Call, sub: dict[str, Any], billing_reason: str, *, announce: bool = True
) -> dict[str, Any] | None:
    """Invoice the period starting now (`call.now`) and collect it; None while paused.

    A payment that fails turns the subscription `past_due`, one paid makes it `active`
    again; with `announce` that change gets its own `customer.subscription.updated`,
    without it the caller sends it in the event it is about to emit anyway.
    """
    if sub.get("pause_collection"):
        return None
    at = call.now
    period_end, lines = _period_lines(call, sub, at)
    # Prorations left pending by a price change (`create_prorations`) ride on this invoice.
    lines = [*sub.pop("_pending_items", []), *lines]
    subtotal = sum(line["amount"] for line in lines)
    discounts = discounts_at(call, sub, subtotal, at)
    total = subtotal - sum(amount for amount, _ in discounts)
    customer = call.ns.tables["customers"].get(sub["customer"]) or {}
    failing = int(customer.get("_failing_payments") or 0)
    paid = failing <= 0 or total <= 0
    if not paid:
        customer["_failing_payments"] = failing - 1
    invoice = {
        "id": new_id("in"),
        "created": at,
        "currency": sub["currency"],
        "customer": sub["customer"],
        "customer_email": customer.get("email"),
        "customer_name": customer.get("name"),
        "discounts": [disc_id for _, disc_id in discounts],
        "discount_amounts": discounts,
        "lines": lines,
        "period_start": at,
        "period_end": period_end,
        "subscription": sub["id"],
        "subscription_metadata": dict(sub.get("metadata", {})),
        "subtotal": subtotal,
        "total": total,
        "billing_reason": billing_reason,
        "status": "paid" if paid else "open",
        "attempt_count": 1,
        "amount_paid": max(total, 0) if paid else 0,
        "paid_at": at if paid else None,
    }
    call.ns.tables["invoices"][invoice["id"]] = invoice
    event = "invoice.paid" if paid else "invoice.payment_failed"
    call.emit(event, call.render("invoices", invoice))
    status = "active" if paid else "past_due"
    if sub["status"] in ("active", "past_due") and sub["status"] != status:
        before = call.render("subscriptions", sub) if announce else None
        sub["status"] = status
        if before is not None:
            after = call.render("subscriptions", sub)
            call.emit("customer.subscription.updated", after, diff(before, after))
    return invoice


def payments_fail(ns: Namespace, customer_id: str, count: int) -> dict[str, Any]:
    """Make the customer's next `count` payments fail (0 lets them succeed again)."""
    customer = ns.tables["customers"].get(customer_id)
    if customer is None or customer.get("_deleted"):
        raise ValueError(f"no such customer {customer_id} in this account and mode")
    customer["_failing_payments"] = max(int(count), 0)
    return {"customer": customer_id, "failing_payments": customer["_failing_payments"]}
