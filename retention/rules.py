"""What counts as a save, and what a subscription's state means at a checkpoint."""

from __future__ import annotations

from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any

from django.utils.dateparse import parse_datetime

from sessions_app.models import Action

from .models import CheckpointStatus

# Outcomes that kept the subscription. Contact and redirect deflections did nothing on
# Stripe: they count as retained only if the subscription is alive at the checks.
KEPT_ACTIONS: tuple[str, ...] = (
    Action.PAUSE,
    Action.DISCOUNT,
    Action.DOWNGRADE,
    Action.EXTEND_TRIAL,
    Action.CONTACT,
    Action.REDIRECT,
)
ALIVE_STATUSES = ("active", "trialing")
# Being paused still counts as the accepted pause for a day past its agreed end: Stripe
# resumes a pause at ``resumes_at``, and the clocks of a check and a resume may differ.
PAUSE_SLACK = timedelta(days=1)

# A price's monthly equivalent: amount * factor / interval_count.
MONTHLY_FACTOR = {
    "day": Fraction(365, 12),
    "week": Fraction(52, 12),
    "month": Fraction(1),
    "year": Fraction(1, 12),
}


def monthly_amount(amount: int | None, interval: str, interval_count: int = 1) -> int | None:
    """The monthly equivalent of a recurring price, rounded to the minor unit."""
    factor = MONTHLY_FACTOR.get(interval)
    if amount is None or factor is None:
        return None
    return round(Fraction(amount) * factor / max(interval_count or 1, 1))


def pause_end(details: dict[str, Any] | None) -> datetime | None:
    """Until when a pause outcome agreed to be paused (its ``resume_date``/``resumes_at``)."""
    for key in ("resume_date", "resumes_at"):
        value = (details or {}).get(key)
        if isinstance(value, str) and (parsed := parse_datetime(value)) is not None:
            return parsed
    return None


def checkpoint_status(
    *,
    status: str,
    canceling: bool,
    paused: bool,
    due_at: datetime,
    paused_until: datetime | None,
) -> str:
    """Retained or churned, for a subscription in this state at a checkpoint due at
    ``due_at``. Retained: active or trialing and not canceling, or paused only as the
    accepted pause. Everything else churned: canceled, canceling at period end, and also
    not paying (past_due, unpaid, incomplete) or paused beyond what was accepted."""
    if canceling or status not in (*ALIVE_STATUSES, "paused"):
        return CheckpointStatus.CHURNED
    if paused or status == "paused":
        accepted = paused_until is not None and due_at <= paused_until + PAUSE_SLACK
        return CheckpointStatus.RETAINED if accepted else CheckpointStatus.CHURNED
    return CheckpointStatus.RETAINED


def shown_offers(offers: Any) -> dict[str, str]:
    """The offers a session showed (its ``offers_considered``), offer id -> action, each
    once."""
    if not isinstance(offers, list):
        return {}
    return {
        str(o["offer_id"]): str(o.get("action", ""))
        for o in offers
        if isinstance(o, dict) and o.get("shown") and o.get("offer_id")
    }


def accepted_offer_id(offers: Any, outcome_action: str) -> str:
    """The shown offer whose action the outcome took; "" when none was."""
    for offer_id, action in shown_offers(offers).items():
        if action == outcome_action:
            return offer_id
    return ""
