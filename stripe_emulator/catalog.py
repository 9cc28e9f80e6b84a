"""Customers, products, prices and coupons."""

from __future__ import annotations

from typing import Any

from . import render, search
from .core import (
    Call,
    clean_metadata,
    diff,
    merge_metadata,
    newest_first,
    paginate,
    search_records,
)
from .errors import StripeError, invalid, missing, param_missing
from .params import (
    CLEAR,
    EXPAND,
    LIST_PARAMS,
    RETRIEVE,
    Arr,
    Bool,
    Decimal,
    Enum,
    Int,
    Metadata,
    Obj,
    Str,
    Text,
    Timestamp,
    require,
    validate,
)
from .render import coupon_valid, require_record
from .state import Namespace
from .subscriptions import cancel_record
from .util import add_interval, new_id, token

# --- customers -------------------------------------------------------------------------

ADDRESS = Obj(
    {key: Text(200) for key in ("city", "country", "line1", "line2", "postal_code", "state")},
    clearable=True,
)
CUSTOMER_FIELDS = {
    "address": ADDRESS,
    "email": Str(clearable=True, max_length=512),
    "name": Text(256),
    "description": Text(),
    "phone": Text(20),
    "metadata": Metadata(),
    "expand": EXPAND,
}
CUSTOMER_LIST = {**LIST_PARAMS, "email": Str(max_length=512)}


def _customer_fields(rec: dict[str, Any], p: dict[str, Any]) -> None:
    for key in ("email", "name", "description", "phone"):
        if key in p:
            rec[key] = None if p[key] is CLEAR else p[key]
    if "address" in p:
        # Stripe keeps every key of an address, the ones not sent as null.
        rec["address"] = (
            None
            if p["address"] is CLEAR
            else {key: p["address"].get(key) or None for key in ADDRESS.fields}
        )


def create_customer(call: Call) -> dict[str, Any]:
    p = validate(call.params, CUSTOMER_FIELDS)
    rec: dict[str, Any] = {
        "id": new_id("cus"),
        "created": call.now,
        "invoice_prefix": token(8).upper(),
        "metadata": clean_metadata(p.get("metadata")),
    }
    _customer_fields(rec, p)
    call.ns.tables["customers"][rec["id"]] = rec
    call.emit("customer.created", call.render("customers", rec))
    return call.render("customers", rec, p.get("expand", ()))


def retrieve_customer(call: Call, obj_id: str) -> dict[str, Any]:
    p = validate(call.params, RETRIEVE)
    rec = call.ns.tables["customers"].get(obj_id)
    if rec is None:
        raise missing("customers", obj_id)
    # A deleted customer still answers, as `{"id", "object", "deleted": true}`.
    return call.render("customers", rec, () if rec.get("_deleted") else p.get("expand", ()))


def update_customer(call: Call, obj_id: str) -> dict[str, Any]:
    rec = require_record(call.ns, "customers", obj_id)
    p = validate(call.params, CUSTOMER_FIELDS)
    before = call.render("customers", rec)
    _customer_fields(rec, p)
    if "metadata" in p:
        rec["metadata"] = merge_metadata(rec.get("metadata", {}), p["metadata"])
    after = call.render("customers", rec)
    previous = diff(before, after)
    if previous:
        call.emit("customer.updated", after, previous)
    return call.render("customers", rec, p.get("expand", ()))


def delete_customer(call: Call, obj_id: str) -> dict[str, Any]:
    rec = require_record(call.ns, "customers", obj_id)
    validate(call.params, {})
    # Stripe cancels a deleted customer's subscriptions immediately.
    for sub in call.ns.tables["subscriptions"].values():
        if sub["customer"] == obj_id and sub["status"] != "canceled":
            cancel_record(call, sub, {})
    snapshot = call.render("customers", rec)
    rec["_deleted"] = True
    call.emit("customer.deleted", snapshot)
    return {"id": obj_id, "object": "customer", "deleted": True}


def customer_discount_set(
    ns: Namespace, customer_id: str, coupon_id: str, now: int
) -> dict[str, Any]:
    """Put `coupon_id` on the customer as its discount (replacing any), as the Dashboard
    does; the API of this version has no parameter for it."""
    customer = ns.get("customers", customer_id)
    coupon = ns.get("coupons", coupon_id)
    if customer is None or coupon is None or not coupon_valid(coupon):
        raise ValueError(f"no such customer {customer_id} or valid coupon {coupon_id}")
    end = None
    if coupon["duration"] == "repeating":
        end = add_interval(now, "month", coupon["duration_in_months"], 1)
    disc = {
        "id": new_id("di"),
        "coupon": coupon_id,
        "customer": customer_id,
        "subscription": None,
        "start": now,
        "end": end,
    }
    coupon["times_redeemed"] = coupon.get("times_redeemed", 0) + 1
    ns.tables["discounts"][disc["id"]] = disc
    customer["discount"] = disc["id"]
    return render.discount(ns, disc)


def delete_customer_discount(call: Call, obj_id: str) -> dict[str, Any]:
    """`DELETE /v1/customers/{id}/discount`."""
    rec = require_record(call.ns, "customers", obj_id)
    validate(call.params, {})
    disc_id = rec.get("discount")
    if not disc_id:
        raise missing("discount", obj_id)
    before = call.render("customers", rec)
    rec["discount"] = None
    after = call.render("customers", rec)
    call.emit("customer.updated", after, diff(before, after))
    return {"id": disc_id, "object": "discount", "deleted": True}


def list_customers(call: Call) -> dict[str, Any]:
    p = validate(call.params, CUSTOMER_LIST)
    records = newest_first(call.ns, "customers")
    if "email" in p:
        # Stripe's list filter on email is exact and case-sensitive.
        records = [r for r in records if r.get("email") == p["email"]]
    return paginate(call, "customers", records, p, "/v1/customers")


CUSTOMER_SEARCH_FIELDS = {
    "email": search.field("email"),
    "name": search.field("name"),
    "phone": search.field("phone"),
    "description": search.field("description"),
    "created": search.field("created"),
    "metadata": search.metadata,
}


def search_customers(call: Call) -> dict[str, Any]:
    return search_records(call, "customers", CUSTOMER_SEARCH_FIELDS, "/v1/customers/search")


# --- products --------------------------------------------------------------------------

PRODUCT_FIELDS = {
    "name": Str(),
    "active": Bool(),
    "description": Text(40000),
    "metadata": Metadata(),
    "expand": EXPAND,
}
PRODUCT_LIST = {**LIST_PARAMS, "active": Bool(), "ids": Arr(Str())}


def create_product(call: Call) -> dict[str, Any]:
    p = validate(call.params, {**PRODUCT_FIELDS, "id": Str()})
    require(p, "name")
    return call.render("products", new_product(call, p), p.get("expand", ()))


def new_product(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    obj_id = p.get("id") or new_id("prod")
    if obj_id in call.ns.tables["products"] and not call.ns.tables["products"][obj_id].get(
        "_deleted"
    ):
        raise StripeError(
            400, "Product already exists.", code="resource_already_exists", param="id"
        )
    rec = {
        "id": obj_id,
        "created": call.now,
        "updated": call.now,
        "name": p["name"],
        "active": p.get("active", True),
        "description": None if p.get("description") is CLEAR else p.get("description"),
        "metadata": clean_metadata(p.get("metadata")),
        "default_price": None,
    }
    call.ns.tables["products"][obj_id] = rec
    call.emit("product.created", call.render("products", rec))
    return rec


def retrieve_product(call: Call, obj_id: str) -> dict[str, Any]:
    p = validate(call.params, RETRIEVE)
    return call.render("products", require_record(call.ns, "products", obj_id), p.get("expand", ()))


def update_product(call: Call, obj_id: str) -> dict[str, Any]:
    rec = require_record(call.ns, "products", obj_id)
    p = validate(call.params, PRODUCT_FIELDS)
    before = call.render("products", rec)
    for key in ("name", "active"):
        if key in p:
            rec[key] = p[key]
    if "description" in p:
        rec["description"] = None if p["description"] is CLEAR else p["description"]
    if "metadata" in p:
        rec["metadata"] = merge_metadata(rec.get("metadata", {}), p["metadata"])
    rec["updated"] = call.now
    after = call.render("products", rec)
    call.emit("product.updated", after, diff(before, after))
    return call.render("products", rec, p.get("expand", ()))


def delete_product(call: Call, obj_id: str) -> dict[str, Any]:
    rec = require_record(call.ns, "products", obj_id)
    validate(call.params, {})
    if any(pr["product"] == obj_id for pr in call.ns.tables["prices"].values()):
        raise StripeError(
            400,
            "This product cannot be deleted because it has one or more user-created prices.",
            replayable=True,
        )
    snapshot = call.render("products", rec)
    rec["_deleted"] = True
    call.emit("product.deleted", snapshot)
    return {"id": obj_id, "object": "product", "deleted": True}


def list_products(call: Call) -> dict[str, Any]:
    p = validate(call.params, PRODUCT_LIST)
    records = newest_first(call.ns, "products")
    if "active" in p:
        records = [r for r in records if r["active"] == p["active"]]
    if p.get("ids"):
        records = [r for r in records if r["id"] in p["ids"]]
    return paginate(call, "products", records, p, "/v1/products")


# --- prices ----------------------------------------------------------------------------

INTERVALS = ("day", "week", "month", "year")
MAX_INTERVAL = {"day": 1095, "week": 156, "month": 36, "year": 3}

PRICE_CREATE = {
    "currency": Str(),
    "unit_amount": Int(0),
    "product": Str(),
    "product_data": Obj({"name": Str(), "metadata": Metadata(), "active": Bool()}),
    "recurring": Obj(
        {
            "interval": Enum(*INTERVALS),
            "interval_count": Int(1),
            "trial_period_days": Int(0, 730),
        }
    ),
    "lookup_key": Str(max_length=200),
    "transfer_lookup_key": Bool(),
    "nickname": Text(),
    "active": Bool(),
    "metadata": Metadata(),
    "expand": EXPAND,
}
PRICE_UPDATE = {
    "active": Bool(),
    "lookup_key": Str(clearable=True, max_length=200),
    "transfer_lookup_key": Bool(),
    "nickname": Text(),
    "metadata": Metadata(),
    "expand": EXPAND,
}
PRICE_LIST = {
    **LIST_PARAMS,
    "product": Str(),
    "active": Bool(),
    "currency": Str(),
    "type": Enum("one_time", "recurring"),
    "lookup_keys": Arr(Str(), max_items=10),
}


def _claim_lookup_key(call: Call, price_id: str, key: str, transfer: bool) -> None:
    for other in call.ns.tables["prices"].values():
        if other["id"] != price_id and other.get("lookup_key") == key:
            if not transfer:
                raise invalid(
                    f"A price (`{other['id']}`) already uses that lookup key.", "lookup_key"
                )
            other["lookup_key"] = None


def create_price(call: Call) -> dict[str, Any]:
    p = validate(call.params, PRICE_CREATE)
    require(p, "currency")
    if "unit_amount" not in p:
        raise param_missing("unit_amount")
    if "product" in p and "product_data" in p:
        raise invalid(
            "You may only specify one of these parameters: product, product_data.", "product"
        )
    recurring = p.get("recurring")
    if recurring is not None:
        if "interval" not in recurring:
            raise param_missing("recurring[interval]")
        recurring.setdefault("interval_count", 1)
        if recurring["interval_count"] > MAX_INTERVAL[recurring["interval"]]:
            raise invalid(
                "The maximum billing interval is three years.", "recurring[interval_count]"
            )
    if p.get("lookup_key") and not p.get("transfer_lookup_key"):
        # Check before creating anything (product_data makes a product).
        _claim_lookup_key(call, "", p["lookup_key"], False)
    price_id = new_id("price")
    if "product" in p:
        product_id = require_record(call.ns, "products", p["product"], "product")["id"]
    elif "product_data" in p:
        data = p["product_data"]
        if "name" not in data:
            raise param_missing("product_data[name]")
        product_id = new_product(call, data)["id"]
    else:
        raise param_missing("product")
    if p.get("lookup_key"):
        _claim_lookup_key(call, price_id, p["lookup_key"], p.get("transfer_lookup_key", False))
    rec = {
        "id": price_id,
        "created": call.now,
        "active": p.get("active", True),
        "currency": p["currency"].lower(),
        "unit_amount": p["unit_amount"],
        "product": product_id,
        "recurring": recurring,
        "lookup_key": p.get("lookup_key"),
        "nickname": None if p.get("nickname") is CLEAR else p.get("nickname"),
        "metadata": clean_metadata(p.get("metadata")),
    }
    call.ns.tables["prices"][price_id] = rec
    call.emit("price.created", call.render("prices", rec))
    return call.render("prices", rec, p.get("expand", ()))


def retrieve_price(call: Call, obj_id: str) -> dict[str, Any]:
    p = validate(call.params, RETRIEVE)
    return call.render("prices", require_record(call.ns, "prices", obj_id), p.get("expand", ()))


def update_price(call: Call, obj_id: str) -> dict[str, Any]:
    rec = require_record(call.ns, "prices", obj_id)
    p = validate(call.params, PRICE_UPDATE)
    before = call.render("prices", rec)
    if "active" in p:
        rec["active"] = p["active"]
    if "nickname" in p:
        rec["nickname"] = None if p["nickname"] is CLEAR else p["nickname"]
    if "lookup_key" in p:
        if p["lookup_key"] is CLEAR:
            rec["lookup_key"] = None
        else:
            _claim_lookup_key(call, obj_id, p["lookup_key"], p.get("transfer_lookup_key", False))
            rec["lookup_key"] = p["lookup_key"]
    if "metadata" in p:
        rec["metadata"] = merge_metadata(rec.get("metadata", {}), p["metadata"])
    after = call.render("prices", rec)
    call.emit("price.updated", after, diff(before, after))
    return call.render("prices", rec, p.get("expand", ()))


def list_prices(call: Call) -> dict[str, Any]:
    p = validate(call.params, PRICE_LIST)
    records = newest_first(call.ns, "prices")
    if "product" in p:
        records = [r for r in records if r["product"] == p["product"]]
    if "active" in p:
        records = [r for r in records if r["active"] == p["active"]]
    if "currency" in p:
        records = [r for r in records if r["currency"] == p["currency"].lower()]
    if "type" in p:
        want_recurring = p["type"] == "recurring"
        records = [r for r in records if bool(r.get("recurring")) == want_recurring]
    if p.get("lookup_keys"):
        records = [r for r in records if r.get("lookup_key") in p["lookup_keys"]]
    return paginate(call, "prices", records, p, "/v1/prices")


# --- coupons ---------------------------------------------------------------------------

COUPON_CREATE = {
    "id": Str(),
    "percent_off": Decimal(0, 100),
    "amount_off": Int(0),
    "currency": Str(),
    "duration": Enum("forever", "once", "repeating"),
    "duration_in_months": Int(1),
    "name": Text(40),
    "metadata": Metadata(),
    "max_redemptions": Int(1),
    "redeem_by": Timestamp(),
    "expand": EXPAND,
}
COUPON_UPDATE = {"name": Text(40), "metadata": Metadata(), "expand": EXPAND}


def create_coupon(call: Call) -> dict[str, Any]:
    p = validate(call.params, COUPON_CREATE)
    if ("percent_off" in p) == ("amount_off" in p):
        raise invalid(
            "You must pass exactly one of percent_off or amount_off.",
            "percent_off" if "percent_off" in p else "amount_off",
        )
    if "percent_off" in p and p["percent_off"] <= 0:
        raise invalid("Invalid percent_off: must be greater than 0", "percent_off")
    if "amount_off" in p and "currency" not in p:
        raise param_missing("currency")
    duration = p.get("duration", "once")
    if duration == "repeating" and "duration_in_months" not in p:
        raise param_missing("duration_in_months")
    if duration != "repeating" and "duration_in_months" in p:
        raise invalid(
            "You can only pass duration_in_months when duration is set to repeating.",
            "duration_in_months",
        )
    if "redeem_by" in p and p["redeem_by"] <= call.now:
        raise invalid("The redeem_by date must be in the future.", "redeem_by")
    obj_id = p.get("id") or token(8)
    existing = call.ns.tables["coupons"].get(obj_id)
    if existing is not None and not existing.get("_deleted"):
        raise StripeError(400, "Coupon already exists.", code="resource_already_exists", param="id")
    percent = p.get("percent_off")
    rec = {
        "id": obj_id,
        "created": call.now,
        # Stripe answers percent_off as a number with a fractional part (e.g. 50.0).
        "percent_off": float(percent) if percent is not None else None,
        "amount_off": p.get("amount_off"),
        "currency": p["currency"].lower() if "currency" in p else None,
        "duration": duration,
        "duration_in_months": p.get("duration_in_months"),
        "name": None if p.get("name") is CLEAR else p.get("name"),
        "metadata": clean_metadata(p.get("metadata")),
        "max_redemptions": p.get("max_redemptions"),
        "redeem_by": p.get("redeem_by"),
        "times_redeemed": 0,
    }
    call.ns.tables["coupons"][obj_id] = rec
    call.emit("coupon.created", call.render("coupons", rec))
    return call.render("coupons", rec, p.get("expand", ()))


def retrieve_coupon(call: Call, obj_id: str) -> dict[str, Any]:
    p = validate(call.params, RETRIEVE)
    return call.render("coupons", require_record(call.ns, "coupons", obj_id), p.get("expand", ()))


def update_coupon(call: Call, obj_id: str) -> dict[str, Any]:
    rec = require_record(call.ns, "coupons", obj_id)
    p = validate(call.params, COUPON_UPDATE)
    before = call.render("coupons", rec)
    if "name" in p:
        rec["name"] = None if p["name"] is CLEAR else p["name"]
    if "metadata" in p:
        rec["metadata"] = merge_metadata(rec.get("metadata", {}), p["metadata"])
    after = call.render("coupons", rec)
    call.emit("coupon.updated", after, diff(before, after))
    return call.render("coupons", rec, p.get("expand", ()))


def delete_coupon(call: Call, obj_id: str) -> dict[str, Any]:
    rec = require_record(call.ns, "coupons", obj_id)
    validate(call.params, {})
    snapshot = call.render("coupons", rec)
    # Keep a tombstone: discounts that already use the coupon still expand to it.
    rec["_deleted"] = True
    call.emit("coupon.deleted", snapshot)
    return {"id": obj_id, "object": "coupon", "deleted": True}


def list_coupons(call: Call) -> dict[str, Any]:
    p = validate(call.params, LIST_PARAMS)
    return paginate(call, "coupons", newest_first(call.ns, "coupons"), p, "/v1/coupons")
