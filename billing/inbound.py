"""Reacting to Stripe events: other apps register handlers here.

    from billing.inbound import InboundEvent, on_stripe_event

    @on_stripe_event("customer.subscription.deleted", "customer.subscription.updated")
    def end_active_session(event: InboundEvent) -> None:
        ...

Register from a module your app imports at start-up (``AppConfig.ready``). Each stored,
verified event runs its handlers once, inside one transaction: if a handler raises, all
of that event's handler work is rolled back, the event is marked failed with the error,
and an admin can reprocess it. Handlers must therefore be safe to run again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tenants.models import Tenant

from .gateway import Subscription, subscription_from_stripe


@dataclass(frozen=True)
class InboundEvent:
    """A verified Stripe event, mapped to the workspace whose account it came from."""

    id: str  # Stripe's event id (evt_...)
    type: str
    tenant: Tenant
    livemode: bool
    account_id: str | None  # the connected account (Connect), None for key-connected
    # Built from the event's object when it is a subscription. Events carry ids only, so
    # product_name is "", customer_email None, and discount_coupon_ids may be empty.
    subscription: Subscription | None
    created: int = 0
    object: dict[str, Any] = field(default_factory=dict)  # data.object as Stripe sent it
    previous_attributes: dict[str, Any] = field(default_factory=dict)


Handler = Callable[[InboundEvent], None]
_handlers: dict[str, list[Handler]] = {}


def on_stripe_event(*event_types: str) -> Callable[[Handler], Handler]:
    """Register ``handler(event: InboundEvent)`` for one or more Stripe event types."""
    if not event_types:
        raise TypeError("Name at least one Stripe event type.")

    def register(handler: Handler) -> Handler:
        for event_type in event_types:
            bucket = _handlers.setdefault(event_type, [])
            if handler not in bucket:
                bucket.append(handler)
        return handler

    return register


def handlers_for(event_type: str) -> list[Handler]:
    return list(_handlers.get(event_type, ()))


def inbound_event_build(*, event: dict[str, Any], tenant: Tenant, livemode: bool) -> InboundEvent:
    """The handler's view of a verified Stripe event (as a plain dict)."""
    data = event.get("data") or {}
    obj = data.get("object") or {}
    subscription = None
    if isinstance(obj, dict) and obj.get("object") == "subscription" and obj.get("id"):
        subscription = subscription_from_stripe(obj)
    return InboundEvent(
        id=event.get("id") or "",
        type=event.get("type") or "",
        tenant=tenant,
        livemode=livemode,
        account_id=event.get("account") or None,
        subscription=subscription,
        created=int(event.get("created") or 0),
        object=obj if isinstance(obj, dict) else {},
        previous_attributes=data.get("previous_attributes") or {},
    )
