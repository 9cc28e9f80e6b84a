"""What a plan change would bill, shown before the subscriber confirms it.

When the offers are decided, each shown downgrade gets Stripe's preview of the next
invoice with the change (``invoices.create_preview`` through the gateway), prorated by the
workspace's ``proration_behavior`` as of that moment. The preview and its
``proration_date`` travel with the offer into the chosen action, and the change is made
with the same date and behaviour, so that what Stripe bills is what the page said.
"""

from __future__ import annotations

import logging
from typing import Any

from django.utils import timezone

from billing.gateway import StripeGatewayError, gateway_for
from mrrx.formats import iso_timestamp

from .models import Action, Session

logger = logging.getLogger(__name__)


def offer_records_previewed(
    *, session: Session, records: list[dict[str, Any]], proration_behavior: str
) -> list[dict[str, Any]]:
    """``records`` (``offers_considered``) with ``params.next_invoice`` on each shown
    downgrade: the preview, or None when Stripe could not give one (the offer stays)."""
    downgrades = [r for r in records if r["action"] == Action.DOWNGRADE and r["shown"]]
    if not downgrades:
        return records
    proration_date = int(timezone.now().timestamp())
    gateway = gateway_for(tenant=session.tenant, livemode=session.livemode)
    for record in downgrades:
        try:
            preview = gateway.invoice_preview(
                session.subscription_id,
                new_price_id=record["params"]["price_id"],
                proration_behavior=proration_behavior,
                proration_date=proration_date,
            )
        except StripeGatewayError as exc:
            logger.warning("session %s: no invoice preview: %s", session.id, exc.message)
            preview = None
        record["params"]["next_invoice"] = (
            {
                "amount_due": preview.amount_due,
                "total": preview.total,
                "currency": preview.currency,
                "invoice_at": iso_timestamp(preview.invoice_at),
                "proration_amount": preview.proration_amount,
                "proration_behavior": proration_behavior,
                "proration_date": proration_date,
            }
            if preview is not None
            else None
        )
    return records
