"""A subscription's timeline from inbound Stripe events: changes of state and invoices.

Each event becomes one row keyed by its Stripe id, at the event's ``created`` time, so a
duplicate is a no-op and events that arrive out of order still sit in Stripe's order.
Only subscriptions MRRX has seen in a session or a save are kept: the rest of a
merchant's account is none of its business.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from billing.inbound import InboundEvent
from sessions_app.models import Session

from ..models import InvoicePayment, InvoicePaymentStatus, Save, SubscriptionChange
from ..rules import monthly_amount
from .saves import saves_revenue_refresh


def _watched(*, tenant_id: Any, livemode: bool, subscription_id: str) -> bool:
    if not subscription_id:
        return False
    scope = {"tenant_id": tenant_id, "livemode": livemode, "subscription_id": subscription_id}
    return Save.objects.filter(**scope).exists() or Session.objects.filter(**scope).exists()


def _at(event: InboundEvent) -> datetime:
    return datetime.fromtimestamp(event.created, UTC)


def _subscription_mrr(obj: dict[str, Any]) -> int | None:
    items = (obj.get("items") or {}).get("data") or []
    total = None
    for item in items:
        price = item.get("price") or {}
        recurring = price.get("recurring") or {}
        monthly = monthly_amount(
            price.get("unit_amount"),
            recurring.get("interval") or "",
            recurring.get("interval_count") or 1,
        )
        if monthly is not None:
            total = (total or 0) + monthly * (item.get("quantity") or 1)
    return total


def subscription_change_record(*, event: InboundEvent) -> SubscriptionChange | None:
    """Keep the subscription's state as this event tells it (once per event)."""
    sub, obj = event.subscription, event.object
    if sub is None or not _watched(
        tenant_id=event.tenant.pk, livemode=event.livemode, subscription_id=sub.id
    ):
        return None
    change, _ = SubscriptionChange.objects.get_or_create(
        tenant=event.tenant,
        livemode=event.livemode,
        event_id=event.id,
        defaults={
            "subscription_id": sub.id,
            "event_type": event.type,
            "occurred_at": _at(event),
            "status": sub.status,
            # Stripe's newer API may schedule the end with cancel_at instead of the flag.
            "cancel_at_period_end": sub.cancel_at_period_end or bool(obj.get("cancel_at")),
            "paused": sub.paused or sub.status == "paused",
            "resumes_at": sub.pause_resumes_at,
            "mrr_amount": _subscription_mrr(obj),
        },
    )
    return change


def _invoice_subscription(obj: dict[str, Any]) -> str:
    parent = (obj.get("parent") or {}).get("subscription_details") or {}
    value = parent.get("subscription") or obj.get("subscription") or ""
    return value.get("id", "") if isinstance(value, dict) else value


def invoice_payment_record(*, event: InboundEvent) -> InvoicePayment | None:
    """Keep an invoice paid (or a payment failed) and refresh the revenue of the saves of
    its subscription."""
    obj = event.object
    subscription_id = _invoice_subscription(obj)
    scope = {"tenant_id": event.tenant.pk, "livemode": event.livemode}
    if not obj.get("id") or not _watched(**scope, subscription_id=subscription_id):
        return None
    paid = event.type == "invoice.paid"
    customer = obj.get("customer")
    payment, created = InvoicePayment.objects.get_or_create(
        **scope,
        invoice_id=obj["id"],
        status=InvoicePaymentStatus.PAID if paid else InvoicePaymentStatus.FAILED,
        defaults={
            "subscription_id": subscription_id,
            "customer_id": (customer.get("id") if isinstance(customer, dict) else customer) or "",
            "amount": (obj.get("amount_paid") if paid else obj.get("amount_due")) or 0,
            "currency": (obj.get("currency") or "").lower(),
            "occurred_at": _at(event),
            "event_id": event.id,
        },
    )
    if created and paid:
        saves_revenue_refresh(**scope, subscription_id=subscription_id)
    return payment
