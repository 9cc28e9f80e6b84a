"""Deflections: the contact and redirect offers, which answer the subscriber and leave the
subscription as it was.

Taking one completes the session at once, in one conditional update from ``offer_shown``:
nothing is done on Stripe, so no worker is involved. ``session.completed`` is written in
the same transaction (its outcome says which deflection and what the subscriber was
shown). No receipt is written: nothing changed on the subscription that one would
confirm, and the subscriber saw the message or went to the merchant's page themselves.

Whether a deflection kept the customer is known only later: analytics count it as
deflected, not saved, until the 30-day check finds the subscription still alive.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from audit.context import Actor
from audit.models import AuditAction
from audit.services import audit_record
from mrrx.metrics import record_session_completed
from offers.params import redirect_url_with_session
from webhooks.services import event_emit

from .models import Action, Session, SessionStatus
from .outcomes import outcome_recorded
from .serializers import session_event_data

DEFLECTIONS: tuple[str, ...] = (Action.CONTACT, Action.REDIRECT)


def deflection_details(*, session_id: str, action: str, params: dict[str, Any]) -> dict[str, Any]:
    """The outcome details of a deflection: what the subscriber was shown or sent to."""
    if action == Action.CONTACT:
        return {
            "message": params.get("message") or "",
            "link": params.get("link") or None,
            "scheduling_url": params.get("scheduling_url") or None,
            "label": params.get("label") or None,
        }
    return {
        "url": redirect_url_with_session(params["url"], session_id),
        "label": params.get("label") or None,
        "message": params.get("message") or None,
    }


def redirect_target(session: Session) -> str | None:
    """Where a session completed by a redirect offer sends the subscriber, else None."""
    if session.status != SessionStatus.COMPLETED or session.outcome_action != Action.REDIRECT:
        return None
    return (session.outcome_details or {}).get("url") or None


def session_deflect(
    *, session: Session, action: str, params: dict[str, Any], feedback: str = ""
) -> bool:
    """Complete a session whose offers are on screen with the contact or redirect offer
    taken (``params``: the shown offer's). Only the first of several submits moves it;
    ``session`` is reloaded either way, so that the caller sees where it now stands."""
    if action not in DEFLECTIONS:
        raise ValueError(f"{action!r} is not a deflection")
    now = timezone.now()
    fields: dict[str, Any] = {
        "selected_action": action,
        "action_params": params,
        "outcome_action": action,
        "outcome_details": deflection_details(session_id=session.id, action=action, params=params),
    }
    if feedback.strip():
        fields["survey_feedback"] = feedback.strip()
    with transaction.atomic():
        moved = Session.objects.filter(id=session.id, status=SessionStatus.OFFER_SHOWN).update(
            status=SessionStatus.COMPLETED,
            action_selected_at=now,
            survey_completed_at=now,
            executed_at=now,
            completed_at=now,
            **fields,
        )
        session.refresh_from_db()
        if not moved:
            return False
        event_emit(
            tenant=session.tenant,
            livemode=session.livemode,
            type="session.completed",
            data=session_event_data(session),
        )
        audit_record(
            action=AuditAction.SESSION_COMPLETED,
            target=session,
            actor=Actor.subscriber(customer_id=session.customer_id),
            changes=fields,
        )
        outcome_recorded(kind="session", record_id=session.id)
        source, livemode = session.source, session.livemode
        transaction.on_commit(
            lambda: record_session_completed(outcome=action, source=source, livemode=livemode)
        )
    return True
