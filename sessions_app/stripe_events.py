"""How sessions react to Stripe: a subscription canceled outside MRRX ends its session."""

from __future__ import annotations

from billing.inbound import InboundEvent, on_stripe_event

from .services import sessions_end_for_canceled_subscription


@on_stripe_event("customer.subscription.deleted")
@on_stripe_event("customer.subscription.updated")
def subscription_changed(event: InboundEvent) -> None:
    subscription = event.subscription
    if subscription is None or subscription.status not in ("canceled", "incomplete_expired"):
        return
    sessions_end_for_canceled_subscription(
        tenant=event.tenant, livemode=event.livemode, subscription_id=subscription.id
    )
