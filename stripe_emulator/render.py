"""Stripe object shapes built from stored records, plus `expand[]` handling.

Every key emitted here exists on the same resource in Stripe's fixtures3.json and in the
stripe-python 16.1.0 class annotations (the shape tests check both). Fields the emulator
does not model are emitted with the neutral value a fresh Stripe test-mode object has.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .errors import StripeError, missing
from .state import Namespace

Record = dict[str, Any]


def customer(ns: Namespace, rec: Record) -> dict[str, Any]:
    if rec.get("_deleted"):
        return {"id": rec["id"], "object": "customer", "deleted": True}
    return {
        "id": rec["id"],
        "object": "customer",
        "address": dict(rec["address"]) if rec.get("address") else None,
        "balance": 0,
        "created": rec["created"],
        "currency": None,
        "default_source": None,
        "delinquent": False,
        "description": rec.get("description"),
        # A customer-level discount (set in the Dashboard; the control API stands in).
        "discount": discount(ns, ns.tables["discounts"][rec["discount"]])
        if rec.get("discount") in ns.tables["discounts"]
        else None,
        "email": rec.get("email"),
        "invoice_prefix": rec["invoice_prefix"],
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": None,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": ns.livemode,
        "metadata": dict(rec.get("metadata", {})),
        "name": rec.get("name"),
        "next_invoice_sequence": 1,
        "phone": rec.get("phone"),
        "preferred_locales": [],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
    }


def product(ns: Namespace, rec: Record) -> dict[str, Any]:
    if rec.get("_deleted"):
        return {"id": rec["id"], "object": "product", "deleted": True}
    return {
        "id": rec["id"],
        "object": "product",
        "active": rec["active"],
        "created": rec["created"],
        "default_price": rec.get("default_price"),
        "description": rec.get("description"),
        "images": [],
        "livemode": ns.livemode,
        "marketing_features": [],
        "metadata": dict(rec.get("metadata", {})),
        "name": rec["name"],
        "package_dimensions": None,
        "shippable": None,
        "statement_descriptor": None,
        "tax_code": None,
        "type": "service",
        "unit_label": None,
        "updated": rec.get("updated", rec["created"]),
        "url": None,
    }


def price(ns: Namespace, rec: Record) -> dict[str, Any]:
    recurring = rec.get("recurring")
    return {
        "id": rec["id"],
        "object": "price",
        "active": rec["active"],
        "billing_scheme": "per_unit",
        "created": rec["created"],
        "currency": rec["currency"],
        "custom_unit_amount": None,
        "livemode": ns.livemode,
        "lookup_key": rec.get("lookup_key"),
        "metadata": dict(rec.get("metadata", {})),
        "nickname": rec.get("nickname"),
        "product": rec["product"],
        "recurring": (
            {
                "interval": recurring["interval"],
                "interval_count": recurring["interval_count"],
                "meter": None,
                "usage_type": "licensed",
                "trial_period_days": recurring.get("trial_period_days"),
            }
            if recurring
            else None
        ),
        "tax_behavior": "unspecified",
        "tiers_mode": None,
        "transform_quantity": None,
        "type": "recurring" if recurring else "one_time",
        "unit_amount": rec.get("unit_amount"),
        "unit_amount_decimal": (
            str(rec["unit_amount"]) if rec.get("unit_amount") is not None else None
        ),
    }


def plan(ns: Namespace, rec: Record) -> dict[str, Any]:
    """The legacy `plan` view of a recurring price that Stripe still puts on items."""
    recurring = rec.get("recurring") or {"interval": "month", "interval_count": 1}
    amount = rec.get("unit_amount")
    return {
        "id": rec["id"],
        "object": "plan",
        "active": rec["active"],
        "amount": amount,
        "amount_decimal": str(amount) if amount is not None else None,
        "billing_scheme": "per_unit",
        "created": rec["created"],
        "currency": rec["currency"],
        "interval": recurring["interval"],
        "interval_count": recurring["interval_count"],
        "livemode": ns.livemode,
        "metadata": dict(rec.get("metadata", {})),
        "meter": None,
        "nickname": rec.get("nickname"),
        "product": rec["product"],
        "tiers_mode": None,
        "transform_usage": None,
        "trial_period_days": recurring.get("trial_period_days"),
        "usage_type": "licensed",
    }


def coupon(ns: Namespace, rec: Record) -> dict[str, Any]:
    if rec.get("_deleted"):
        return {"id": rec["id"], "object": "coupon", "deleted": True}
    return {
        "id": rec["id"],
        "object": "coupon",
        "amount_off": rec.get("amount_off"),
        "created": rec["created"],
        "currency": rec.get("currency"),
        "duration": rec["duration"],
        "duration_in_months": rec.get("duration_in_months"),
        "livemode": ns.livemode,
        "max_redemptions": rec.get("max_redemptions"),
        "metadata": dict(rec.get("metadata", {})),
        "name": rec.get("name"),
        "percent_off": rec.get("percent_off"),
        "redeem_by": rec.get("redeem_by"),
        "times_redeemed": rec.get("times_redeemed", 0),
        "valid": coupon_valid(rec),
    }


def coupon_valid(rec: Record) -> bool:
    if rec.get("_deleted"):
        return False
    if (
        rec.get("max_redemptions") is not None
        and rec.get("times_redeemed", 0) >= rec["max_redemptions"]
    ):
        return False
    return not rec.get("_expired", False)


def discount(ns: Namespace, rec: Record) -> dict[str, Any]:
    # Current API: the coupon sits under `source.coupon` (an expandable id).
    return {
        "id": rec["id"],
        "object": "discount",
        "checkout_session": None,
        "customer": rec.get("customer"),
        "customer_account": None,
        "end": rec.get("end"),
        "invoice": None,
        "invoice_item": None,
        "promotion_code": None,
        "source": {"coupon": rec["coupon"], "type": "coupon"},
        "start": rec["start"],
        "subscription": rec.get("subscription"),
        "subscription_item": None,
    }


def subscription_item(ns: Namespace, rec: Record, sub_id: str) -> dict[str, Any]:
    price_rec = ns.tables["prices"][rec["price"]]
    return {
        "id": rec["id"],
        "object": "subscription_item",
        "billing_thresholds": None,
        "created": rec["created"],
        "current_period_end": rec["current_period_end"],
        "current_period_start": rec["current_period_start"],
        "discounts": [],
        "metadata": dict(rec.get("metadata", {})),
        "plan": plan(ns, price_rec),
        "price": price(ns, price_rec),
        "quantity": rec["quantity"],
        "subscription": sub_id,
        "tax_rates": [],
    }


def subscription(ns: Namespace, rec: Record) -> dict[str, Any]:
    sub_id = rec["id"]
    return {
        "id": sub_id,
        "object": "subscription",
        "application": None,
        "application_fee_percent": None,
        "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
        "billing_cycle_anchor": rec["billing_cycle_anchor"],
        "billing_cycle_anchor_config": None,
        "billing_mode": {"flexible": {"proration_discounts": "included"}, "type": "flexible"},
        "billing_thresholds": None,
        "cancel_at": rec.get("cancel_at"),
        "cancel_at_period_end": rec.get("cancel_at_period_end", False),
        "canceled_at": rec.get("canceled_at"),
        "cancellation_details": dict(rec["cancellation_details"]),
        "collection_method": "charge_automatically",
        "created": rec["created"],
        "currency": rec["currency"],
        "customer": rec["customer"],
        "customer_account": None,
        "days_until_due": None,
        "default_payment_method": None,
        "default_source": None,
        "default_tax_rates": [],
        "description": rec.get("description"),
        "discounts": list(rec.get("discounts", [])),
        "ended_at": rec.get("ended_at"),
        "invoice_settings": {"account_tax_ids": None, "issuer": {"type": "self"}},
        "items": {
            "object": "list",
            "data": [subscription_item(ns, item, sub_id) for item in rec["items"]],
            "has_more": False,
            "url": f"/v1/subscription_items?subscription={sub_id}",
        },
        "latest_invoice": None,
        "livemode": ns.livemode,
        "metadata": dict(rec.get("metadata", {})),
        "next_pending_invoice_item_invoice": None,
        "on_behalf_of": None,
        "pause_collection": (
            dict(rec["pause_collection"]) if rec.get("pause_collection") else None
        ),
        "payment_settings": {
            "payment_method_options": None,
            "payment_method_types": None,
            "save_default_payment_method": "off",
        },
        "pending_invoice_item_interval": None,
        "pending_setup_intent": None,
        "pending_update": None,
        "schedule": None,
        "start_date": rec["start_date"],
        "status": rec["status"],
        # Set while paused by the pause endpoint: when and why (`pause_requested`).
        "status_details": rec.get("_status_details"),
        "test_clock": None,
        "transfer_data": None,
        "trial_end": rec.get("trial_end"),
        "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}},
        "trial_start": rec.get("trial_start"),
    }


def invoice_line(ns: Namespace, invoice_id: str, line: Record) -> dict[str, Any]:
    return {
        "id": line["id"],
        "object": "line_item",
        "amount": line["amount"],
        "currency": line["currency"],
        "description": line["description"],
        "discount_amounts": [],
        "discountable": True,
        "discounts": [],
        "invoice": invoice_id,
        "livemode": ns.livemode,
        "metadata": {},
        "parent": {
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": None,
                "proration": line["proration"],
                "proration_details": {"credited_items": None},
                "subscription": line["subscription"],
                "subscription_item": line["subscription_item"],
            },
            "type": "subscription_item_details",
        },
        "period": dict(line["period"]),
        "pretax_credit_amounts": [],
        "pricing": {"type": "price_details", "unit_amount_decimal": str(line["unit_amount"])},
        "quantity": line["quantity"],
        "subscription": line["subscription"],
        "subtotal": line["amount"],
        "taxes": [],
    }


def invoice(ns: Namespace, rec: Record) -> dict[str, Any]:
    """An invoice: a preview (`invoices.create_preview`), a draft never stored, or one the
    clock made (`charges`), with its status and payment."""
    lines = [invoice_line(ns, rec["id"], line) for line in rec["lines"]]
    total = rec["total"]
    paid = rec.get("amount_paid", 0)
    return {
        "id": rec["id"],
        "object": "invoice",
        "account_country": "US",
        "account_name": None,
        "account_tax_ids": None,
        "amount_due": max(total, 0),
        "amount_overpaid": 0,
        "amount_paid": paid,
        "amount_remaining": max(total - paid, 0),
        "amount_shipping": 0,
        "application": None,
        "attempt_count": rec.get("attempt_count", 0),
        "attempted": bool(rec.get("attempt_count")),
        "auto_advance": False,
        "automatic_tax": {
            "disabled_reason": None,
            "enabled": False,
            "liability": None,
            "provider": None,
            "status": None,
        },
        "automatically_finalizes_at": None,
        "billing_reason": rec.get("billing_reason", "upcoming"),
        "collection_method": "charge_automatically",
        "created": rec["created"],
        "currency": rec["currency"],
        "custom_fields": None,
        "customer": rec["customer"],
        "customer_account": None,
        "customer_address": None,
        "customer_email": rec.get("customer_email"),
        "customer_name": rec.get("customer_name"),
        "customer_phone": None,
        "customer_shipping": None,
        "customer_tax_exempt": "none",
        "customer_tax_ids": [],
        "default_payment_method": None,
        "default_source": None,
        "default_tax_rates": [],
        "description": None,
        "discounts": list(rec["discounts"]),
        "due_date": None,
        "effective_at": None,
        "ending_balance": None,
        "footer": None,
        "from_invoice": None,
        "hosted_invoice_url": None,
        "invoice_pdf": None,
        "issuer": {"type": "self"},
        "last_finalization_error": None,
        "latest_revision": None,
        "lines": {
            "object": "list",
            "data": lines,
            "has_more": False,
            "url": f"/v1/invoices/{rec['id']}/lines",
        },
        "livemode": ns.livemode,
        "metadata": {},
        "next_payment_attempt": None if rec.get("status") == "paid" else rec["created"],
        "number": None,
        "on_behalf_of": None,
        "parent": {
            "quote_details": None,
            "subscription_details": {
                "metadata": rec["subscription_metadata"],
                "subscription": rec["subscription"],
            },
            "type": "subscription_details",
        },
        "payment_settings": {
            "default_mandate": None,
            "payment_method_options": None,
            "payment_method_types": None,
        },
        "period_end": rec["period_end"],
        "period_start": rec["period_start"],
        "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0,
        "receipt_number": None,
        "rendering": None,
        "shipping_cost": None,
        "shipping_details": None,
        "starting_balance": 0,
        "statement_descriptor": None,
        "status": rec.get("status", "draft"),
        "status_transitions": {
            "finalized_at": rec["created"] if rec.get("status") else None,
            "marked_uncollectible_at": None,
            "paid_at": rec.get("paid_at"),
            "voided_at": None,
        },
        "subtotal": rec["subtotal"],
        "subtotal_excluding_tax": rec["subtotal"],
        "test_clock": None,
        "total": total,
        "total_discount_amounts": [
            {"amount": amount, "discount": discount_id}
            for amount, discount_id in rec["discount_amounts"]
        ],
        "total_excluding_tax": total,
        "total_pretax_credit_amounts": [],
        "total_taxes": [],
        "webhooks_delivered_at": None,
    }


def webhook_endpoint(ns: Namespace, rec: Record, with_secret: bool = False) -> dict[str, Any]:
    if rec.get("_deleted"):
        return {"id": rec["id"], "object": "webhook_endpoint", "deleted": True}
    out = {
        "id": rec["id"],
        "object": "webhook_endpoint",
        "api_version": rec.get("api_version"),
        "application": None,
        "created": rec["created"],
        "description": rec.get("description"),
        "enabled_events": list(rec["enabled_events"]),
        "livemode": ns.livemode,
        "metadata": dict(rec.get("metadata", {})),
        "status": "disabled" if rec.get("disabled") else "enabled",
        "url": rec["url"],
    }
    if with_secret:
        # Stripe only reveals the signing secret in the create response.
        out["secret"] = rec["secret"]
    return out


def account(rec: Record, livemode: bool = False) -> dict[str, Any]:
    return {
        "id": rec["id"],
        "object": "account",
        "business_profile": {
            "mcc": None,
            "name": rec.get("business_name"),
            "product_description": None,
            "support_address": None,
            "support_email": rec.get("email"),
            "support_phone": None,
            "support_url": None,
            "url": None,
        },
        "business_type": None,
        "capabilities": {"card_payments": "active", "transfers": "active"},
        "charges_enabled": True,
        "controller": {"type": "account"},
        "country": rec.get("country", "US"),
        "created": rec["created"],
        "default_currency": "usd",
        "details_submitted": True,
        "email": rec.get("email"),
        "metadata": {},
        "payouts_enabled": True,
        "settings": {
            "dashboard": {"display_name": rec.get("business_name"), "timezone": "Etc/UTC"},
        },
        "type": "standard",
    }


RENDERERS: dict[str, Callable[[Namespace, Record], dict[str, Any]]] = {
    "customers": customer,
    "products": product,
    "prices": price,
    "coupons": coupon,
    "subscriptions": subscription,
    "discounts": discount,
    # Not a table: previews are rendered from the record the handler computes.
    "invoices": invoice,
}

# Field name -> the table an id in that field points to. `None` marks fields Stripe lets
# you expand that the emulator never fills (they stay null), e.g. `latest_invoice`.
EXPANDABLE: dict[str, str | None] = {
    "customer": "customers",
    "product": "products",
    "price": "prices",
    "default_price": "prices",
    "discounts": "discounts",
    # Not an id but an object or null: listed so that a path may pass through a null one.
    "discount": None,
    "coupon": "coupons",
    "subscription": "subscriptions",
    "latest_invoice": None,
    "default_payment_method": None,
    "default_source": None,
    "pending_setup_intent": None,
    "schedule": None,
    "on_behalf_of": None,
    "application": None,
    "test_clock": None,
    "promotion_code": None,
    "invoice": None,
    "invoice_item": None,
    "checkout_session": None,
}


def _resolve(ns: Namespace, table: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    rec = ns.tables[table].get(value)
    if rec is None:
        return value
    return RENDERERS[table](ns, rec)


def expand(ns: Namespace, obj: dict[str, Any], paths: list[str], prefix: str = "") -> None:
    """Replace ids with objects along each dotted `expand[]` path, in place."""
    for path in paths:
        parts = path.split(".")
        if len(parts) > 4:
            raise StripeError(
                400,
                f"You cannot expand more than 4 levels of a property. Property: {path}",
                param="expand",
            )
        _expand(ns, obj, parts, path, prefix)


def _expand(ns: Namespace, node: Any, parts: list[str], full: str, prefix: str) -> None:
    if isinstance(node, list):
        for element in node:
            _expand(ns, element, parts, full, prefix)
        return
    if not isinstance(node, dict):
        return
    key, rest = parts[0], parts[1:]
    if key not in node:
        hint = ""
        if node.get("object") == "list" or prefix:
            hint = f" You may want to try expanding 'data.{full}' instead."
        raise StripeError(400, f"This property cannot be expanded ({key}).{hint}", param="expand")
    value = node[key]
    if isinstance(value, str | list) and key in EXPANDABLE:
        table = EXPANDABLE[key]
        if table is not None:
            value = (
                [_resolve(ns, table, v) for v in value]
                if isinstance(value, list)
                else _resolve(ns, table, value)
            )
            node[key] = value
    elif key not in EXPANDABLE and not isinstance(value, dict | list):
        # Scalars (and nulls) that are not references cannot be expanded.
        raise StripeError(400, f"This property cannot be expanded ({key}).", param="expand")
    if rest and value is not None:
        _expand(ns, value, rest, full, prefix)


def require_record(ns: Namespace, table: str, obj_id: str, param: str | None = "id") -> Record:
    rec = ns.get(table, obj_id)
    if rec is None:
        raise missing(table, obj_id, param)
    return rec
