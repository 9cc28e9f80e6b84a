"""The hosted flow's steps as conditional state transitions.

Every step is one ``UPDATE ... WHERE status IN (...)`` that must touch exactly one row, so
a refresh, the back button, a double submit or a second tab can never move a session
twice or run two actions.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from mrrx.api.errors import ApiError
from offers.eligibility import offers_evaluate
from offers.selectors import (
    cancel_at_period_end,
    flow_config_get,
    reasons_for,
)

from .jobs import session_execute_enqueue_on_commit
from .models import Action, Session, SessionStatus
from .selectors import recent_discount_accepted

REASON_OTHER_MAX = 500
FEEDBACK_MAX = 5000


def _advance(session: Session, *, from_statuses: tuple[str, ...], to: str, **fields: Any) -> bool:
    moved = Session.objects.filter(id=session.id, status__in=from_statuses).update(
        status=to, **fields
    )
    if moved:
        session.status = to
        for name, value in fields.items():
            setattr(session, name, value)
    return moved == 1


def session_mark_viewed(*, session: Session) -> bool:
    return _advance(
        session,
        from_statuses=(SessionStatus.CREATED,),
        to=SessionStatus.VIEWED,
        viewed_at=timezone.now(),
    )


def session_choose_reason(*, session: Session, reason: str, reason_other: str = "") -> bool:
    """Record why the subscriber is leaving and decide which offers they see.

    The reason may be changed while the offers are on screen (the back button), but not
    once an action has been chosen.
    """
    config = flow_config_get(tenant=session.tenant, livemode=session.livemode)
    allowed = {code for code, _ in reasons_for(config=config)}
    errors = {}
    if reason not in allowed:
        errors["reason"] = _("Choose one of the listed reasons.")
    if reason == "other" and not reason_other.strip():
        errors["reason_other"] = _("Tell us a little about your reason.")
    if len(reason_other) > REASON_OTHER_MAX:
        errors["reason_other"] = _("At most %(n)s characters.") % {"n": REASON_OTHER_MAX}
    if errors:
        raise ApiError("validation_error", _("Please check your answer."), details=errors)
    decisions = offers_evaluate(
        config=config,
        reason=reason,
        subscription=session.subscription_snapshot,
        recent_discount_accepted=recent_discount_accepted(
            tenant=session.tenant,
            livemode=session.livemode,
            customer_id=session.customer_id,
            months=config.discount_cooldown_months,
        ),
    )
    return _advance(
        session,
        from_statuses=(SessionStatus.VIEWED, SessionStatus.OFFER_SHOWN),
        to=SessionStatus.OFFER_SHOWN,
        survey_reason=reason,
        survey_reason_other=reason_other.strip() if reason == "other" else "",
        offers_considered=[d.as_record() for d in decisions],
        offer_shown_at=timezone.now(),
    )


def shown_offers(session: Session) -> list[dict[str, Any]]:
    return [offer for offer in session.offers_considered if offer.get("shown")]


def _action_params(session: Session, action: str, pause_months: int | None) -> dict[str, Any]:
    config = flow_config_get(tenant=session.tenant, livemode=session.livemode)
    if action == Action.CANCEL:
        return {"at_period_end": cancel_at_period_end(config=config)}
    offer = next((o for o in shown_offers(session) if o["action"] == action), None)
    if offer is None:
        raise ApiError(
            "action_not_available",
            _("That offer is not available for this session."),
            details={"action": action},
        )
    params = dict(offer["params"])
    if action == Action.PAUSE:
        options = params.get("months_options") or [1]
        months = pause_months if pause_months is not None else options[0]
        if months not in options:
            raise ApiError(
                "validation_error",
                _("Choose one of the pause lengths offered."),
                details={"pause_months": f"one of {options}"},
            )
        return {"months": months, "days": months * 30}
    if action == Action.DOWNGRADE:
        params["proration_behavior"] = config.proration_behavior
    return params


def session_select_action(
    *, session: Session, action: str, pause_months: int | None = None
) -> bool:
    """The subscriber takes an offer or confirms they want to cancel."""
    if action not in Action.values:
        raise ApiError("action_not_available", _("Unknown action."), details={"action": action})
    params = _action_params(session, action, pause_months)
    config = flow_config_get(tenant=session.tenant, livemode=session.livemode)
    now = timezone.now()
    fields: dict[str, Any] = {
        "selected_action": action,
        "action_params": params,
        "action_selected_at": now,
    }
    if config.ask_feedback:
        return _advance(
            session,
            from_statuses=(SessionStatus.OFFER_SHOWN,),
            to=SessionStatus.ACTION_SELECTED,
            **fields,
        )
    # No feedback step: the survey is complete as soon as the action is chosen.
    return _advance(
        session,
        from_statuses=(SessionStatus.OFFER_SHOWN,),
        to=SessionStatus.SURVEY_COMPLETED,
        survey_completed_at=now,
        **fields,
    )


def session_give_feedback(*, session: Session, feedback: str) -> bool:
    if len(feedback) > FEEDBACK_MAX:
        raise ApiError(
            "validation_error",
            _("Your feedback is too long."),
            details={"feedback": _("At most %(n)s characters.") % {"n": FEEDBACK_MAX}},
        )
    return _advance(
        session,
        from_statuses=(SessionStatus.ACTION_SELECTED,),
        to=SessionStatus.SURVEY_COMPLETED,
        survey_feedback=feedback.strip(),
        survey_completed_at=timezone.now(),
    )


def session_confirm(*, session: Session) -> bool:
    """Hand the chosen action to a worker. Only the first confirmation moves the session."""
    with transaction.atomic():
        moved = _advance(
            session,
            from_statuses=(SessionStatus.SURVEY_COMPLETED,),
            to=SessionStatus.EXECUTING,
            executing_at=timezone.now(),
            execution_attempts=1,
        )
        if moved:
            session_execute_enqueue_on_commit(session.id)
    return moved
