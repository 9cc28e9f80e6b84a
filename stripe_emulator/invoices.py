"""Invoice previews (`POST /v1/invoices/create_preview`) of an existing subscription.

No invoices are stored: a preview is computed from the subscription, optionally with the
changes of `subscription_details` applied to a copy of it, and thrown away. What it shows:

- no change, or `proration_behavior=none`: the next renewal invoice, at the period's end;
- `create_prorations` (the default): the same renewal invoice, carrying the proration
  lines (credit for the unused time on the old price, charge for the rest of the period on
  the new one), computed as of `proration_date` (default now);
- `always_invoice`: the invoice made at once, holding only the proration lines.

A trialing subscription is not prorated (its trial costs nothing); its next invoice is at
the trial's end. Coupons in force when the invoice is made apply to its subtotal. A
subscription that is canceled or set to cancel has no upcoming invoice
(`invoice_upcoming_none`, as Stripe answers).
"""

from __future__ import annotations

import copy
from typing import Any

from .charges import discounts_at
from .core import Call
from .errors import StripeError, invalid, param_missing
from .params import EXPAND, Arr, Bool, Int, Obj, Str, Timestamp, validate
from .render import require_record
from .subscriptions import PRORATION, apply_items, proration_lines
from .util import add_interval, new_id

PREVIEW = {
    "customer": Str(),
    "subscription": Str(),
    "subscription_details": Obj(
        {
            "items": Arr(
                Obj({"id": Str(), "price": Str(), "quantity": Int(0), "deleted": Bool()}),
                max_items=20,
            ),
            "proration_behavior": PRORATION,
            "proration_date": Timestamp(),
            "cancel_at_period_end": Bool(),
        }
    ),
    "expand": EXPAND,
}


def _no_upcoming(customer: str) -> StripeError:
    return StripeError(
        404, f"No upcoming invoices for customer: {customer}", code="invoice_upcoming_none"
    )


def _line(
    call: Call,
    sub: dict[str, Any],
    item: dict[str, Any],
    *,
    amount: int,
    start: int,
    end: int,
    proration: bool,
    description: str,
) -> dict[str, Any]:
    return {
        "id": new_id("il_tmp"),
        "amount": amount,
        "currency": sub["currency"],
        "description": description,
        "period": {"start": start, "end": end},
        "proration": proration,
        "quantity": item["quantity"],
        "subscription": sub["id"],
        "subscription_item": item["id"],
        "unit_amount": call.ns.tables["prices"][item["price"]].get("unit_amount") or 0,
    }


def _product_name(call: Call, price_id: str) -> str:
    price = call.ns.tables["prices"][price_id]
    product = call.ns.tables["products"].get(price["product"]) or {}
    return product.get("name") or price_id


def _renewal(call: Call, sub: dict[str, Any]) -> tuple[int, list[dict[str, Any]]]:
    """When the next regular invoice is made, and its lines (one period of every item)."""
    at = sub["trial_end"] if sub["status"] == "trialing" else None
    at = at or max(item["current_period_end"] for item in sub["items"])
    lines = []
    for item in sub["items"]:
        interval = call.ns.tables["prices"][item["price"]]["recurring"]
        end = add_interval(at, interval["interval"], interval["interval_count"], 1)
        full = (call.ns.tables["prices"][item["price"]].get("unit_amount") or 0) * item["quantity"]
        description = f"{item['quantity']} x {_product_name(call, item['price'])}"
        line = _line(
            call,
            sub,
            item,
            amount=full,
            start=at,
            end=end,
            proration=False,
            description=description,
        )
        lines.append(line)
    return at, lines


def create_preview(call: Call) -> dict[str, Any]:
    p = validate(call.params, PREVIEW)
    if "subscription" not in p:
        if "customer" not in p:
            raise param_missing("subscription")
        raise invalid(
            "The emulator previews the invoices of an existing subscription: pass `subscription`.",
            "subscription",
        )
    sub = require_record(call.ns, "subscriptions", p["subscription"], "subscription")
    if "customer" in p and p["customer"] != sub["customer"]:
        raise invalid(
            f"The subscription {sub['id']} does not belong to the customer {p['customer']}.",
            "customer",
        )
    details = p.get("subscription_details", {})
    after = copy.deepcopy(sub)
    changed = bool(details.get("items")) and apply_items(call, after, details["items"])
    if "cancel_at_period_end" in details:
        after["cancel_at_period_end"] = details["cancel_at_period_end"]
    if after["status"] == "canceled" or after["cancel_at_period_end"] or after.get("cancel_at"):
        raise _no_upcoming(sub["customer"])

    behavior = details.get("proration_behavior", "create_prorations")
    at = details.get("proration_date", call.now)
    prorations: list[dict[str, Any]] = []
    if changed and behavior != "none" and sub["status"] != "trialing":
        prorations = proration_lines(call, sub, after, at)
    if behavior == "always_invoice" and changed:
        created, lines = call.now, prorations
        period_start = period_end = call.now
    else:
        created, renewal = _renewal(call, after)
        # Prorations already pending (an earlier change's) come first, as on the invoice.
        lines = [*after.get("_pending_items", []), *prorations, *renewal]
        period_start = min(item["current_period_start"] for item in after["items"])
        period_end = created
    subtotal = sum(line["amount"] for line in lines)
    discounts = discounts_at(call, after, subtotal, created)
    total = subtotal - sum(amount for amount, _ in discounts)
    customer = call.ns.tables["customers"].get(sub["customer"]) or {}
    invoice = {
        "id": new_id("upcoming_in"),
        "created": created,
        "currency": sub["currency"],
        "customer": sub["customer"],
        "customer_email": customer.get("email"),
        "customer_name": customer.get("name"),
        "discounts": [disc_id for _, disc_id in discounts],
        "discount_amounts": discounts,
        "lines": lines,
        "period_start": period_start,
        "period_end": period_end,
        "subscription": sub["id"],
        "subscription_metadata": dict(after.get("metadata", {})),
        "subtotal": subtotal,
        "total": total,
    }
    return call.render("invoices", invoice, p.get("expand", ()))
