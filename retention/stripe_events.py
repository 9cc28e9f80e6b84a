"""How saves hear from Stripe: subscription changes and invoices join the timeline."""

from __future__ import annotations

from billing.inbound import InboundEvent, on_stripe_event

from .services import invoice_payment_record, subscription_change_record

# The Stripe events save verification reads: subscribe the endpoint to these.
SUBSCRIPTION_EVENTS = (
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "customer.subscription.paused",
    "customer.subscription.resumed",
)
INVOICE_EVENTS = ("invoice.paid", "invoice.payment_failed")


@on_stripe_event(*SUBSCRIPTION_EVENTS)
def subscription_changed(event: InboundEvent) -> None:
    subscription_change_record(event=event)


@on_stripe_event(*INVOICE_EVENTS)
def invoice_settled(event: InboundEvent) -> None:
    invoice_payment_record(event=event)
