"""Subscriptions and subscription items: create, update, cancel, list, and clock transitions.

The current API keeps `current_period_start/end` on each subscription item; a stored
subscription holds its items inline and `render.subscription` shapes them for output.
"""

from __future__ import annotations

import copy
import heapq
from typing import Any

from . import search
from .charges import discounts_at, invoice_period
from .core import (
    Call,
    clean_metadata,
    diff,
    merge_metadata,
    newest_first,
    paginate,
    search_records,
)
from .errors import StripeError, exclusive, invalid, missing, param_missing
from .params import (
    CLEAR,
    EXPAND,
    LIST_PARAMS,
    RETRIEVE,
    Arr,
    Bool,
    Enum,
    Int,
    Metadata,
    Obj,
    Str,
    Text,
    Timestamp,
    validate,
)
from .render import coupon_valid, expand, require_record, subscription_item
from .state import Namespace
from .util import add_interval, new_id, period_containing

FEEDBACK = (
    "customer_service",
    "low_quality",
    "missing_features",
    "other",
    "switched_service",
    "too_complex",
    "too_expensive",
    "unused",
)
STATUSES = (
    "active",
    "all",
    "canceled",
    "ended",
    "incomplete",
    "incomplete_expired",
    "past_due",
    "paused",
    "trialing",
    "unpaid",
)
PRORATION = Enum("always_invoice", "create_prorations", "none")
DISCOUNTS = Arr(Obj({"coupon": Str(), "discount": Str()}), clearable=True, max_items=20)
CANCELLATION_DETAILS = Obj(
    {"comment": Text(5000), "feedback": Enum(*FEEDBACK, clearable=True)}, clearable=True
)

CREATE = {
    "customer": Str(),
    "items": Arr(Obj({"price": Str(), "quantity": Int(0), "metadata": Metadata()}), max_items=20),
    "trial_end": Timestamp(allow_now=True),
    "trial_period_days": Int(0, 730),
    "backdate_start_date": Timestamp(),
    "metadata": Metadata(),
    "discounts": DISCOUNTS,
    "cancel_at_period_end": Bool(),
    "cancel_at": Timestamp(),
    "description": Text(500),
    "proration_behavior": PRORATION,
    "expand": EXPAND,
}
UPDATE = {
    "items": Arr(
        Obj(
            {
                "id": Str(),
                "price": Str(),
                "quantity": Int(0),
                "metadata": Metadata(),
                "deleted": Bool(),
                "clear_usage": Bool(),
            }
        ),
        max_items=20,
    ),
    "pause_collection": Obj(
        {
            "behavior": Enum("keep_as_draft", "mark_uncollectible", "void"),
            "resumes_at": Timestamp(),
        },
        clearable=True,
    ),
    "discounts": DISCOUNTS,
    "proration_behavior": PRORATION,
    "proration_date": Timestamp(),
    "trial_end": Timestamp(allow_now=True),
    "cancel_at_period_end": Bool(),
    "cancel_at": Timestamp(clearable=True),
    "cancellation_details": CANCELLATION_DETAILS,
    "metadata": Metadata(),
    "description": Text(500),
    "expand": EXPAND,
}
PAUSE = {
    "type": Enum("subscription"),
    "bill_for": Obj(
        {
            "outstanding_usage_through": Obj({"type": Enum("none", "now")}),
            "unused_time_from": Obj({"type": Enum("item_current_period_start", "none", "now")}),
        }
    ),
    "invoicing_behavior": Enum("invoice", "pending_invoice_item"),
    "expand": EXPAND,
}
RESUME = {
    "billing_cycle_anchor": Obj({"type": Enum("now", "unchanged")}),
    "payment_behavior": Enum("resume_on_payment_attempt", "resume_on_payment_success"),
    "proration_behavior": PRORATION,
    "proration_date": Timestamp(),
    "expand": EXPAND,
}
# The statuses Stripe's pause endpoint accepts a subscription in.
PAUSABLE = ("active", "past_due", "trialing")
CANCEL = {
    "cancellation_details": CANCELLATION_DETAILS,
    "prorate": Bool(),
    "invoice_now": Bool(),
    "expand": EXPAND,
}
LIST = {**LIST_PARAMS, "customer": Str(), "price": Str(), "status": Enum(*STATUSES)}
ITEM_LIST = {**LIST_PARAMS, "subscription": Str()}

# Stripe sends customer.subscription.trial_will_end three days before a trial ends.
TRIAL_WILL_END_NOTICE = 3 * 86400


def _future(value: int, now: int, param: str) -> int:
    if value <= now:
        raise invalid("Invalid timestamp: must be an integer Unix timestamp in the future.", param)
    return value


def _backdated(value: int, now: int) -> int:
    # Only the start date moves: the first period still starts now, and (unlike Stripe)
    # no proration for the backdated time is invoiced.
    if value >= now:
        raise invalid("The backdate_start_date must be in the past.", "backdate_start_date")
    return value


def _recurring_price(call: Call, price_id: str, param: str) -> dict[str, Any]:
    price = require_record(call.ns, "prices", price_id, param)
    if not price.get("recurring"):
        raise invalid(
            "The price specified is set to `type=one_time` but this field only accepts prices "
            "with `type=recurring`.",
            param,
        )
    if not price["active"]:
        raise invalid(
            "The price specified is inactive. This field only accepts active prices.", param
        )
    return price


def _interval(price: dict[str, Any]) -> tuple[str, int]:
    return price["recurring"]["interval"], price["recurring"]["interval_count"]


def _period_end(rec: dict[str, Any]) -> int:
    return max(item["current_period_end"] for item in rec["items"])


def _set_periods(call: Call, rec: dict[str, Any], start: int, trial_end: int | None) -> None:
    """Start a new period for every item at `start` (ending at the trial end if any)."""
    for item in rec["items"]:
        interval, count = _interval(call.ns.tables["prices"][item["price"]])
        item["current_period_start"] = start
        item["current_period_end"] = trial_end or add_interval(start, interval, count, 1)


def _resolve_discounts(
    call: Call, rec: dict[str, Any], entries: list[dict[str, Any]]
) -> list[tuple[str, dict[str, Any] | None]]:
    """Validate `discounts[n]` without side effects: (coupon id or discount id, existing)."""
    resolved: list[tuple[str, dict[str, Any] | None]] = []
    for i, entry in enumerate(entries):
        if "coupon" in entry and "discount" in entry:
            raise exclusive(f"discounts[{i}][coupon]", f"discounts[{i}][discount]")
        if "discount" in entry:
            # A discount of this subscription, or its customer's own (Stripe lets a
            # subscription reuse an ancestor's discount, e.g. to stack a coupon onto it).
            existing = call.ns.get("discounts", entry["discount"])
            if (
                existing is None
                or existing.get("subscription") not in (None, rec.get("id"))
                or existing.get("customer") != rec.get("customer")
            ):
                raise missing("discounts", entry["discount"], f"discounts[{i}][discount]")
            resolved.append((existing["coupon"], existing))
            continue
        if "coupon" not in entry:
            raise param_missing(f"discounts[{i}][coupon]")
        param = f"discounts[{i}][coupon]"
        coupon = require_record(call.ns, "coupons", entry["coupon"], param)
        if not coupon_valid(coupon):
            raise invalid(f"Coupon expired: {coupon['id']}", param)
        # Re-sending a coupon that is already applied keeps that discount (no re-redemption).
        current = next(
            (
                call.ns.tables["discounts"][d]
                for d in rec.get("discounts", [])
                if call.ns.tables["discounts"][d]["coupon"] == coupon["id"]
            ),
            None,
        )
        resolved.append((coupon["id"], current))
    return resolved


def _apply_discounts(
    call: Call, rec: dict[str, Any], resolved: list[tuple[str, dict[str, Any] | None]]
) -> None:
    ids = []
    for coupon_id, existing in resolved:
        if existing is not None:
            ids.append(existing["id"])
            continue
        coupon = call.ns.tables["coupons"][coupon_id]
        end = None
        if coupon["duration"] == "repeating":
            end = add_interval(call.now, "month", coupon["duration_in_months"], 1)
        disc = {
            "id": new_id("di"),
            "coupon": coupon_id,
            "customer": rec["customer"],
            "subscription": rec["id"],
            "start": call.now,
            "end": end,
        }
        coupon["times_redeemed"] = coupon.get("times_redeemed", 0) + 1
        call.ns.tables["discounts"][disc["id"]] = disc
        ids.append(disc["id"])
    rec["discounts"] = ids


def _schedule_cancel(call: Call, rec: dict[str, Any], p: dict[str, Any]) -> None:
    if p.get("cancel_at_period_end") and p.get("cancel_at") not in (None, CLEAR):
        raise exclusive("cancel_at", "cancel_at_period_end")
    details = rec["cancellation_details"]
    if p.get("cancel_at_period_end"):
        rec["cancel_at_period_end"] = True
        # Current API: cancel_at_period_end also sets cancel_at to the period end, and
        # canceled_at records when the cancellation was requested.
        rec["cancel_at"] = _period_end(rec)
        rec["canceled_at"] = call.now
        details["reason"] = "cancellation_requested"
    elif "cancel_at" in p and p["cancel_at"] is not CLEAR:
        rec["cancel_at"] = _future(p["cancel_at"], call.now, "cancel_at")
        rec["cancel_at_period_end"] = False
        rec["canceled_at"] = call.now
        details["reason"] = "cancellation_requested"
    elif p.get("cancel_at_period_end") is False or p.get("cancel_at") is CLEAR:
        rec["cancel_at_period_end"] = False
        rec["cancel_at"] = None
        rec["canceled_at"] = None
        details["reason"] = None


def _apply_details(rec: dict[str, Any], details: Any) -> None:
    current = rec["cancellation_details"]
    if details is CLEAR:
        current["comment"] = current["feedback"] = None
        return
    for key in ("comment", "feedback"):
        if key in details:
            current[key] = None if details[key] is CLEAR else details[key]


def create_subscription(call: Call) -> dict[str, Any]:
    p = validate(call.params, CREATE)
    if "customer" not in p:
        raise param_missing("customer")
    customer = require_record(call.ns, "customers", p["customer"], "customer")
    if not p.get("items"):
        raise param_missing("items")
    prices = []
    for i, item in enumerate(p["items"]):
        if "price" not in item:
            raise param_missing(f"items[{i}][price]")
        prices.append(_recurring_price(call, item["price"], f"items[{i}][price]"))
    currencies = {price["currency"] for price in prices}
    if len(currencies) > 1:
        raise invalid(
            "All prices on a subscription must have the same `currency`.", "items[1][price]"
        )
    if len({_interval(price) for price in prices}) > 1:
        raise invalid(
            "Currency and interval fields must match across all prices on a subscription.",
            "items",
        )
    if "trial_end" in p and "trial_period_days" in p:
        raise exclusive("trial_end", "trial_period_days")
    now = call.now
    trial_end = None
    if isinstance(p.get("trial_end"), int):
        trial_end = _future(p["trial_end"], now, "trial_end")
    elif p.get("trial_period_days"):
        trial_end = now + p["trial_period_days"] * 86400
    sub_id = new_id("sub")
    rec: dict[str, Any] = {
        "id": sub_id,
        "created": now,
        "start_date": _backdated(p["backdate_start_date"], now)
        if "backdate_start_date" in p
        else now,
        "customer": customer["id"],
        "currency": prices[0]["currency"],
        "status": "trialing" if trial_end else "active",
        "trial_start": now if trial_end else None,
        "trial_end": trial_end,
        "billing_cycle_anchor": trial_end or now,
        "description": None if p.get("description") in (None, CLEAR) else p["description"],
        "metadata": clean_metadata(p.get("metadata")),
        "discounts": [],
        "pause_collection": None,
        "cancel_at": None,
        "cancel_at_period_end": False,
        "canceled_at": None,
        "ended_at": None,
        "cancellation_details": {"comment": None, "feedback": None, "reason": None},
        "items": [
            {
                "id": new_id("si"),
                "created": now,
                "price": price["id"],
                "quantity": item.get("quantity", 1),
                "metadata": clean_metadata(item.get("metadata")),
            }
            for item, price in zip(p["items"], prices, strict=True)
        ],
    }
    if "proration_behavior" in p:
        rec["_proration_behavior"] = p["proration_behavior"]
    _set_periods(call, rec, now, trial_end)
    resolved = _resolve_discounts(call, rec, p["discounts"]) if p.get("discounts") else []
    _schedule_cancel(call, rec, p)
    _apply_discounts(call, rec, resolved)
    call.ns.tables["subscriptions"][sub_id] = rec
    for item in rec["items"]:
        call.ns.item_index[item["id"]] = sub_id
    call.emit("customer.subscription.created", call.render("subscriptions", rec))
    if rec["status"] == "active":
        invoice_period(call, rec, "subscription_create")
    return call.render("subscriptions", rec, p.get("expand", ()))


def retrieve_subscription(call: Call, obj_id: str) -> dict[str, Any]:
    p = validate(call.params, RETRIEVE)
    rec = require_record(call.ns, "subscriptions", obj_id)
    return call.render("subscriptions", rec, p.get("expand", ()))


def apply_items(call: Call, rec: dict[str, Any], entries: list[dict[str, Any]]) -> bool:
    """Validate every `items[n]` first, then apply; returns whether prices/quantities moved.

    Touches only `rec` (invoice previews apply it to a copy)."""
    by_id = {item["id"]: item for item in rec["items"]}
    plan: list[tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any] | None]] = []
    for i, entry in enumerate(entries):
        item = None
        if "id" in entry:
            item = by_id.get(entry["id"])
            if item is None:
                raise missing("subscription_items", entry["id"], f"items[{i}][id]")
        elif "price" not in entry:
            raise param_missing(f"items[{i}][price]")
        price = None
        if "price" in entry:
            price = _recurring_price(call, entry["price"], f"items[{i}][price]")
            if price["currency"] != rec["currency"]:
                raise invalid(
                    "All prices on a subscription must have the same `currency`.",
                    f"items[{i}][price]",
                )
        plan.append((entry, item, price))
    removed = {item["id"] for entry, item, _ in plan if item is not None and entry.get("deleted")}
    added = sum(1 for _, item, _ in plan if item is None)
    if len(rec["items"]) - len(removed) + added < 1:
        raise invalid("A subscription must have at least one active price.", "items")
    swaps = {item["id"]: price for _, item, price in plan if item is not None and price}
    intervals = {_interval(price) for _, item, price in plan if item is None and price}
    for item in rec["items"]:
        if item["id"] not in removed:
            intervals.add(
                _interval(swaps.get(item["id"]) or call.ns.tables["prices"][item["price"]])
            )
    if len(intervals) > 1:
        raise invalid(
            "Currency and interval fields must match across all prices on a subscription.",
            "items",
        )

    changed = False
    start, end = rec["items"][0]["current_period_start"], _period_end(rec)
    old_interval = _interval(call.ns.tables["prices"][rec["items"][0]["price"]])
    for entry, item, price in plan:
        if item is not None and entry.get("deleted"):
            rec["items"].remove(item)
            changed = True
            continue
        if item is None:
            item = {
                "id": new_id("si"),
                "created": call.now,
                "price": price["id"],  # type: ignore[index]
                "quantity": 1,
                "metadata": {},
                "current_period_start": start,
                "current_period_end": end,
            }
            rec["items"].append(item)
            changed = True
        elif price is not None and price["id"] != item["price"]:
            # A price swap keeps the item (and its id); only the price changes.
            item["price"] = price["id"]
            changed = True
        if "quantity" in entry and entry["quantity"] != item["quantity"]:
            item["quantity"] = entry["quantity"]
            changed = True
        if "metadata" in entry:
            item["metadata"] = merge_metadata(item.get("metadata", {}), entry["metadata"])
    new_interval = _interval(call.ns.tables["prices"][rec["items"][0]["price"]])
    if changed and new_interval != old_interval and rec["status"] == "active":
        # Changing the billing interval resets the billing cycle to now, as on Stripe.
        rec["billing_cycle_anchor"] = call.now
        _set_periods(call, rec, call.now, None)
    return changed


def _apply_trial_end(call: Call, rec: dict[str, Any], value: int | str) -> None:
    now = call.now
    if value == "now":
        if rec["status"] == "trialing":
            rec["status"] = "active"
            rec["trial_end"] = now
            rec["billing_cycle_anchor"] = now
            _set_periods(call, rec, now, None)
        return
    trial_end = _future(int(value), now, "trial_end")
    if rec["status"] != "trialing":
        rec["trial_start"] = now
        rec["status"] = "trialing"
        for item in rec["items"]:
            item["current_period_start"] = now
    rec["trial_end"] = trial_end
    rec["billing_cycle_anchor"] = trial_end
    rec.pop("_trial_will_end_sent", None)
    for item in rec["items"]:
        item["current_period_end"] = trial_end


def update_subscription(call: Call, obj_id: str) -> dict[str, Any]:
    rec = require_record(call.ns, "subscriptions", obj_id)
    p = validate(call.params, UPDATE)
    if rec["status"] == "canceled" and set(p) - {"metadata", "cancellation_details", "expand"}:
        raise StripeError(
            400,
            "A canceled subscription can only update its cancellation_details and metadata.",
            replayable=True,
        )
    # Validate references before touching anything, so a bad request changes nothing.
    resolved = None
    if "discounts" in p and p["discounts"] is not CLEAR:
        resolved = _resolve_discounts(call, rec, p["discounts"])
    if "pause_collection" in p and p["pause_collection"] is not CLEAR:
        pause = p["pause_collection"]
        if "behavior" not in pause:
            raise param_missing("pause_collection[behavior]")
        if "resumes_at" in pause:
            _future(pause["resumes_at"], call.now, "pause_collection[resumes_at]")
    if isinstance(p.get("trial_end"), int):
        _future(p["trial_end"], call.now, "trial_end")
    if isinstance(p.get("cancel_at"), int):
        _future(p["cancel_at"], call.now, "cancel_at")
    if p.get("cancel_at_period_end") and p.get("cancel_at") not in (None, CLEAR):
        raise exclusive("cancel_at", "cancel_at_period_end")

    work = copy.deepcopy(rec)
    before = call.render("subscriptions", rec)
    items_changed = False
    if p.get("items"):
        items_changed = apply_items(call, work, p["items"])
    if "trial_end" in p:
        _apply_trial_end(call, work, p["trial_end"])
    prorations: list[dict[str, Any]] = []
    if items_changed or "proration_behavior" in p:
        # The proration choice is also recorded for inspection through /_emulator/state.
        work["_proration_behavior"] = p.get("proration_behavior", "create_prorations")
        if "proration_date" in p:
            work["_proration_date"] = p["proration_date"]
        if items_changed and work["_proration_behavior"] != "none" and rec["status"] != "trialing":
            prorations = proration_lines(call, rec, work, p.get("proration_date", call.now))
            if work["_proration_behavior"] == "create_prorations":
                # Pending invoice items: the next invoice carries them.
                work["_pending_items"] = [*work.get("_pending_items", []), *prorations]
                prorations = []
    if "pause_collection" in p:
        pause = p["pause_collection"]
        work["pause_collection"] = (
            None
            if pause is CLEAR
            else {"behavior": pause["behavior"], "resumes_at": pause.get("resumes_at")}
        )
    _schedule_cancel(call, work, p)
    if work["cancel_at_period_end"]:
        # The period may have moved (trial change, interval change): follow its end.
        work["cancel_at"] = _period_end(work)
    if "cancellation_details" in p:
        _apply_details(work, p["cancellation_details"])
    if "metadata" in p:
        work["metadata"] = merge_metadata(work.get("metadata", {}), p["metadata"])
    if "description" in p:
        work["description"] = None if p["description"] is CLEAR else p["description"]
    if "discounts" in p:
        if p["discounts"] is CLEAR:
            work["discounts"] = []
        else:
            _apply_discounts(call, work, resolved or [])
    call.ns.tables["subscriptions"][obj_id] = work
    for item in rec["items"]:
        call.ns.item_index.pop(item["id"], None)
    for item in work["items"]:
        call.ns.item_index[item["id"]] = obj_id
    after = call.render("subscriptions", work)
    previous = diff(before, after)
    if previous:
        call.emit("customer.subscription.updated", after, previous)
    if prorations:
        invoice_lines_now(call, work, prorations, "subscription_update")
    return call.render("subscriptions", work, p.get("expand", ()))


def _product_name(call: Call, price_id: str) -> str:
    price = call.ns.tables["prices"][price_id]
    product = call.ns.tables["products"].get(price["product"]) or {}
    return product.get("name") or price_id


def proration_lines(
    call: Call, before: dict[str, Any], after: dict[str, Any], at: int
) -> list[dict[str, Any]]:
    """Credit for the old prices' unused time and charges for the new ones' remainder, as
    of `at` (a price change's `proration_date`)."""
    lines: list[dict[str, Any]] = []
    old_items = {item["id"]: item for item in before["items"]}
    new_items = {item["id"]: item for item in after["items"]}
    prices = call.ns.tables["prices"]
    for item_id in list(old_items) + [i for i in new_items if i not in old_items]:
        old, new = old_items.get(item_id), new_items.get(item_id)
        if old and new and (old["price"], old["quantity"]) == (new["price"], new["quantity"]):
            continue
        for item, sign in ((old, -1), (new, 1)):
            if item is None:
                continue
            start, end = item["current_period_start"], item["current_period_end"]
            if end <= start or not start <= at < end:
                continue
            unit = prices[item["price"]].get("unit_amount") or 0
            amount = sign * round(unit * item["quantity"] * (end - at) / (end - start))
            what = "Unused time on" if sign < 0 else "Remaining time on"
            lines.append(
                {
                    "id": new_id("il"),
                    "amount": amount,
                    "currency": after["currency"],
                    "description": f"{what} {_product_name(call, item['price'])}",
                    "period": {"start": at, "end": end},
                    "proration": True,
                    "quantity": item["quantity"],
                    "subscription": after["id"],
                    "subscription_item": item["id"],
                    "unit_amount": unit,
                }
            )
    return lines


def invoice_lines_now(
    call: Call, sub: dict[str, Any], lines: list[dict[str, Any]], billing_reason: str
) -> dict[str, Any]:
    """An invoice made at once for `lines` (`proration_behavior=always_invoice`), with the
    subscription's discounts, paid (a credit is left on the invoice as a negative total)."""
    subtotal = sum(line["amount"] for line in lines)
    discounts = discounts_at(call, sub, subtotal, call.now)
    total = subtotal - sum(amount for amount, _ in discounts)
    customer = call.ns.tables["customers"].get(sub["customer"]) or {}
    invoice = {
        "id": new_id("in"),
        "created": call.now,
        "currency": sub["currency"],
        "customer": sub["customer"],
        "customer_email": customer.get("email"),
        "customer_name": customer.get("name"),
        "discounts": [disc_id for _, disc_id in discounts],
        "discount_amounts": discounts,
        "lines": lines,
        "period_start": call.now,
        "period_end": call.now,
        "subscription": sub["id"],
        "subscription_metadata": dict(sub.get("metadata", {})),
        "subtotal": subtotal,
        "total": total,
        "billing_reason": billing_reason,
        "status": "paid",
        "attempt_count": 1 if total > 0 else 0,
        "amount_paid": max(total, 0),
        "paid_at": call.now,
    }
    call.ns.tables["invoices"][invoice["id"]] = invoice
    call.emit("invoice.paid", call.render("invoices", invoice))
    return invoice


def cancel_record(
    call: Call, rec: dict[str, Any], p: dict[str, Any], at: int | None = None
) -> None:
    """End `rec` now (or at `at` for clock-driven ends) and emit the deleted event."""
    when = call.now if at is None else at
    rec["status"] = "canceled"
    rec["ended_at"] = when
    if at is None or rec.get("canceled_at") is None:
        rec["canceled_at"] = when
    rec["cancellation_details"]["reason"] = "cancellation_requested"
    if "cancellation_details" in p:
        _apply_details(rec, p["cancellation_details"])
    options = {k: p[k] for k in ("prorate", "invoice_now") if k in p}
    if options:
        rec["_cancel_options"] = options
    call.emit("customer.subscription.deleted", call.render("subscriptions", rec))


def cancel_subscription(call: Call, obj_id: str) -> dict[str, Any]:
    p = validate(call.params, CANCEL)
    rec = require_record(call.ns, "subscriptions", obj_id)
    if rec["status"] == "canceled":
        # Stripe answers a cancel of an already-canceled subscription as not found.
        raise missing("subscriptions", obj_id)
    cancel_record(call, rec, p)
    return call.render("subscriptions", rec, p.get("expand", ()))


def pause_subscription(call: Call, obj_id: str) -> dict[str, Any]:
    """`POST /v1/subscriptions/{id}/pause`: status `paused` until resumed; no invoices and
    no new periods meanwhile (unlike `pause_collection`, which leaves the status alone)."""
    p = validate(call.params, PAUSE)
    rec = require_record(call.ns, "subscriptions", obj_id)
    if rec["status"] == "paused":
        raise invalid("This subscription is already paused.", None)
    if rec["status"] not in PAUSABLE:
        raise invalid(f"A subscription with status `{rec['status']}` cannot be paused.", None)
    before = call.render("subscriptions", rec)
    rec["status"] = "paused"
    rec["_status_details"] = {
        "paused": {
            "subscription": {"type": "pause_requested"},
            "transitioned_at": call.now,
            "type": "subscription",
        }
    }
    rec["_pause_settings"] = {k: p[k] for k in ("bill_for", "invoicing_behavior") if k in p}
    after = call.render("subscriptions", rec)
    call.emit("customer.subscription.paused", after)
    call.emit("customer.subscription.updated", after, diff(before, after))
    return call.render("subscriptions", rec, p.get("expand", ()))


def resume_subscription(call: Call, obj_id: str) -> dict[str, Any]:
    """`POST /v1/subscriptions/{id}/resume`: active again. The billing cycle restarts now
    (the default) or keeps its anchor (`billing_cycle_anchor[type]=unchanged`)."""
    p = validate(call.params, RESUME)
    rec = require_record(call.ns, "subscriptions", obj_id)
    if rec["status"] != "paused":
        raise invalid("This subscription is not paused, so it cannot be resumed.", None)
    before = call.render("subscriptions", rec)
    rec["status"] = "active"
    rec.pop("_status_details", None)
    rec.pop("_pause_settings", None)
    anchor = (p.get("billing_cycle_anchor") or {}).get("type", "now")
    if anchor == "now":
        rec["billing_cycle_anchor"] = call.now
        _set_periods(call, rec, call.now, None)
    else:
        for item in rec["items"]:
            interval, count = _interval(call.ns.tables["prices"][item["price"]])
            start, end = period_containing(rec["billing_cycle_anchor"], interval, count, call.now)
            item["current_period_start"], item["current_period_end"] = start, end
    after = call.render("subscriptions", rec)
    call.emit("customer.subscription.resumed", after)
    call.emit("customer.subscription.updated", after, diff(before, after))
    if anchor == "now":
        invoice_period(call, rec, "subscription_update")
    return call.render("subscriptions", rec, p.get("expand", ()))


def list_subscriptions(call: Call) -> dict[str, Any]:
    p = validate(call.params, LIST)
    records = newest_first(call.ns, "subscriptions")
    status = p.get("status")
    if status is None:
        # By default Stripe lists subscriptions that have not been canceled.
        records = [r for r in records if r["status"] not in ("canceled", "incomplete_expired")]
    elif status in ("canceled", "ended"):
        records = [r for r in records if r["status"] == "canceled"]
    elif status != "all":
        records = [r for r in records if r["status"] == status]
    if "customer" in p:
        records = [r for r in records if r["customer"] == p["customer"]]
    if "price" in p:
        records = [r for r in records if any(i["price"] == p["price"] for i in r["items"])]
    return paginate(call, "subscriptions", records, p, "/v1/subscriptions")


SUBSCRIPTION_SEARCH_FIELDS = {
    "status": search.field("status"),
    "created": search.field("created"),
    "canceled_at": search.field("canceled_at"),
    "metadata": search.metadata,
}


def search_subscriptions(call: Call) -> dict[str, Any]:
    return search_records(
        call, "subscriptions", SUBSCRIPTION_SEARCH_FIELDS, "/v1/subscriptions/search"
    )


# --- subscription items ----------------------------------------------------------------


def _item_view(call: Call, sub: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
    return subscription_item(call.ns, item, sub["id"])


def retrieve_subscription_item(call: Call, obj_id: str) -> dict[str, Any]:
    p = validate(call.params, RETRIEVE)
    sub_id = call.ns.item_index.get(obj_id)
    sub = call.ns.get("subscriptions", sub_id) if sub_id else None
    item = next((i for i in sub["items"] if i["id"] == obj_id), None) if sub else None
    if sub is None or item is None:
        raise missing("subscription_items", obj_id)
    obj = _item_view(call, sub, item)
    if p.get("expand"):
        expand(call.ns, obj, p["expand"])
    return obj


def list_subscription_items(call: Call) -> dict[str, Any]:
    p = validate(call.params, ITEM_LIST)
    if "subscription" not in p:
        raise param_missing("subscription")
    sub = require_record(call.ns, "subscriptions", p["subscription"], "subscription")
    records = list(sub["items"])
    result = {
        "object": "list",
        "data": [_item_view(call, sub, i) for i in records[: p.get("limit", 10)]],
        "has_more": len(records) > p.get("limit", 10),
        "url": "/v1/subscription_items",
    }
    if p.get("expand"):
        expand(call.ns, result, p["expand"])
    return result


# --- clock transitions -----------------------------------------------------------------


def _next_transition(ns: Namespace, rec: dict[str, Any], until: int) -> tuple[int, str] | None:
    """The earliest pending transition of `rec` at or before `until` (ties: cancel first)."""
    if rec["status"] == "canceled":
        return None
    candidates: list[tuple[int, int, str]] = []
    if rec.get("cancel_at") is not None:
        candidates.append((rec["cancel_at"], 0, "cancel"))
    if rec["status"] == "trialing" and rec.get("trial_end") is not None:
        if not rec.get("_trial_will_end_sent"):
            notice = rec["trial_end"] - TRIAL_WILL_END_NOTICE
            if notice > rec.get("trial_start", 0):
                candidates.append((notice, 3, "trial_will_end"))
        candidates.append((rec["trial_end"], 1, "trial_end"))
    elif rec["status"] in ("active", "past_due"):
        candidates.append((_period_end(rec), 2, "renew"))
    pause = rec.get("pause_collection")
    if pause and pause.get("resumes_at") is not None:
        candidates.append((pause["resumes_at"], 4, "resume"))
    for disc_id in rec.get("discounts", []):
        disc_end = ns.tables["discounts"][disc_id].get("end")
        if disc_end is not None:
            candidates.append((disc_end, 5, "discount_end"))
    due = [c for c in candidates if c[0] <= until]
    if not due:
        return None
    at, _, kind = min(due)
    return at, kind


def advance(call: Call, until: int, limit: int = 100_000) -> int:
    """Apply every transition due by `until` in `call.ns`, in time order across all
    subscriptions (so events are recorded and delivered chronologically)."""
    ns: Namespace = call.ns
    heap: list[tuple[int, int, str]] = []
    for sub_id, rec in ns.tables["subscriptions"].items():
        step = _next_transition(ns, rec, until)
        if step is not None:
            heap.append((step[0], _order(rec), sub_id))
    heapq.heapify(heap)
    count = 0
    # The limit guards against runaway loops (e.g. a daily price advanced by decades).
    while heap and count < limit:
        _, _, sub_id = heapq.heappop(heap)
        rec = ns.tables["subscriptions"][sub_id]
        step = _next_transition(ns, rec, until)
        if step is None:
            continue
        _transition(call, rec, *step)
        count += 1
        step = _next_transition(ns, rec, until)
        if step is not None:
            heapq.heappush(heap, (step[0], _order(rec), sub_id))
    return count


def _order(rec: dict[str, Any]) -> int:
    # Ties between subscriptions resolve by creation time, oldest first.
    return int(rec["created"])


def _transition(call: Call, rec: dict[str, Any], at: int, kind: str) -> None:
    call.now = at
    if kind == "cancel":
        cancel_record(call, rec, {}, at=at)
        return
    if kind == "trial_will_end":
        rec["_trial_will_end_sent"] = True
        call.emit("customer.subscription.trial_will_end", call.render("subscriptions", rec))
        return
    before = call.render("subscriptions", rec)
    if kind == "trial_end":
        rec["status"] = "active"
        rec["billing_cycle_anchor"] = at
        _set_periods(call, rec, at, None)
    elif kind == "renew":
        for item in rec["items"]:
            interval, count = _interval(call.ns.tables["prices"][item["price"]])
            start, end = period_containing(rec["billing_cycle_anchor"], interval, count, at)
            item["current_period_start"], item["current_period_end"] = start, end
    elif kind == "resume":
        rec["pause_collection"] = None
    elif kind == "discount_end":
        rec["discounts"] = [
            d
            for d in rec["discounts"]
            if (call.ns.tables["discounts"][d].get("end") or at + 1) > at
        ]
    if kind in ("trial_end", "renew"):
        # The status a payment leaves travels in the period's own update event.
        invoice_period(call, rec, "subscription_cycle", announce=False)
    after = call.render("subscriptions", rec)
    call.emit("customer.subscription.updated", after, diff(before, after))
