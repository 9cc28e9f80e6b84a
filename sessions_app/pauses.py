"""Ending, on their date, the pauses made with Stripe's pause endpoint.

A ``pause_collection`` pause carries its own ``resumes_at`` and Stripe resumes it. Stripe's
pause endpoint (``subscription_pause``) has no resume date: the subscription stays
``paused`` until resumed. The date the subscriber chose is in the session's outcome
(``resume_date``), and a periodic task resumes each such subscription once it has come,
unless something else has been done to it since (``StripeGateway.pause_end``).
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db.models import Q
from django.utils import timezone

from billing.gateway import SUBSCRIPTION_PAUSE, StripeGatewayError, gateway_for
from mrrx.formats import iso_timestamp

from .models import Action, Session, SessionStatus

logger = logging.getLogger(__name__)
BATCH = 200


def pauses_end_due(*, now: datetime | None = None) -> dict[str, int]:
    """Resume the subscriptions whose native pause has reached its date; each session's
    outcome then records ``resumed_at`` (or ``resume_skipped_at`` when the subscription
    was no longer in that pause). Transient Stripe errors leave it for the next run."""
    now = now or timezone.now()
    due = (
        Session.objects.filter(
            status=SessionStatus.COMPLETED,
            outcome_action=Action.PAUSE,
            outcome_details__pause_method=SUBSCRIPTION_PAUSE,
            outcome_details__resume_date__lte=iso_timestamp(now),
        )
        .exclude(Q(outcome_details__has_key="resumed_at"))
        .exclude(Q(outcome_details__has_key="resume_skipped_at"))
        .select_related("tenant")
        .order_by("executed_at")[:BATCH]
    )
    counts = {"resumed": 0, "skipped": 0, "failed": 0}
    for session in due:
        try:
            gateway = gateway_for(tenant=session.tenant, livemode=session.livemode)
            resumed = gateway.pause_end(session.subscription_id, pause_key=f"{session.id}:pause")
        except StripeGatewayError as exc:
            counts["failed"] += 1
            logger.warning("session %s: pause not ended yet: %s", session.id, exc.message)
            if exc.transient:
                continue
            resumed = False
        mark = "resumed_at" if resumed else "resume_skipped_at"
        details = {**session.outcome_details, mark: iso_timestamp(now)}
        # Conditional: a run overlapping this one records the end once.
        Session.objects.filter(id=session.id, outcome_details=session.outcome_details).update(
            outcome_details=details
        )
        counts["resumed" if resumed else "skipped"] += 1
    return counts
