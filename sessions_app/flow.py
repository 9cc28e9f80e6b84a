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

from audit.context import Actor
from audit.services import audit_record
from experiments.models import Arm, ArmKind
from experiments.selectors import arm_offers_for, session_arm
from mrrx.api.errors import ApiError
from offers.eligibility import offers_evaluate
from offers.selectors import (
    cancel_at_period_end,
    flow_config_get,
    reasons_for,
)

from .deflections import DEFLECTIONS, session_deflect
from .jobs import session_execute_enqueue_on_commit
from .models import Action, Session, SessionStatus, offers_key_of
from .previews import offer_records_previewed
from .selectors import recent_discount_accepted, session_flow

REASON_OTHER_MAX = 500
FEEDBACK_MAX = 5000


@transaction.atomic  # the step and its audit entry: both or neither
def _advance(
    session: Session,
    *,
    from_statuses: tuple[str, ...],
    to: str,
    where: dict[str, Any] | None = None,
    **fields: Any,
) -> bool:
    moved = Session.objects.filter(id=session.id, status__in=from_statuses, **(where or {})).update(
        status=to, **fields
    )
    if moved:
        session.status = to
        for name, value in fields.items():
            setattr(session, name, value)
        audit_record(
            action=f"session.{to}",
            target=session,
            actor=Actor.subscriber(customer_id=session.customer_id),
            # What the subscriber chose; the entry's own time stands for the step's, and
            # the offers' analytics key is derived from the offers.
            changes={
                name: value
                for name, value in fields.items()
                if not name.endswith("_at") and name != "offers_key"
            },
        )
    return moved == 1


def session_mark_viewed(*, session: Session) -> bool:
    return _advance(
        session,
        from_statuses=(SessionStatus.CREATED,),
        to=SessionStatus.VIEWED,
        viewed_at=timezone.now(),
    )


def _experiment_arm(session: Session) -> Arm | None:
    return session_arm(
        tenant_id=session.tenant_id,
        livemode=session.livemode,
        experiment_id=session.experiment_id,
        arm_key=session.experiment_arm,
    )


def session_in_holdout(session: Session) -> bool:
    """Whether the session is in an experiment's holdout: the survey, then the cancel
    confirmation, and no offer."""
    arm = _experiment_arm(session)
    return arm is not None and arm.kind == ArmKind.HOLDOUT


def reason_required(session: Session) -> bool:
    """Whether the subscriber must say why before they may cancel.

    A strict click-to-cancel workspace never makes them: in live mode, and in test mode
    too, so that what a merchant tries out in test mode is what their subscribers get.
    """
    return not session.tenant.strict_click_to_cancel


def session_choose_reason(*, session: Session, reason: str, reason_other: str = "") -> bool:
    """Record why the subscriber is leaving and decide which offers they see.

    The reason may be changed while the offers are on screen (the back button), but not
    once an action has been chosen.
    """
    config, segment = session_flow(session)
    allowed = {code for code, _ in reasons_for(config=config, flow=segment)}
    errors = {}
    if reason not in allowed:
        errors["reason"] = _("Choose one of the listed reasons.")
    if reason == "other" and not reason_other.strip():
        errors["reason_other"] = _("Tell us a little about your reason.")
    if len(reason_other) > REASON_OTHER_MAX:
        errors["reason_other"] = _("At most %(n)s characters.") % {"n": REASON_OTHER_MAX}
    if errors:
        raise ApiError("validation_error", _("Please check your answer."), details=errors)
    arm = _experiment_arm(session)
    if arm is not None and arm.kind == ArmKind.HOLDOUT:
        # The holdout is what happens without MRRX: no offer, not even a trial extension.
        decisions = []
    else:
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
            arm_offers=arm_offers_for(arm=arm, reason=reason) if arm is not None else None,
            flow=segment,
        )
    offers_considered = offer_records_previewed(
        session=session,
        records=[d.as_record() for d in decisions],
        proration_behavior=config.proration_behavior,
    )
    return _advance(
        session,
        from_statuses=(SessionStatus.VIEWED, SessionStatus.OFFER_SHOWN),
        to=SessionStatus.OFFER_SHOWN,
        survey_reason=reason,
        survey_reason_other=reason_other.strip() if reason == "other" else "",
        offers_considered=offers_considered,
        offers_key=offers_key_of(offers_considered),
        offer_shown_at=timezone.now(),
    )


def session_give_reason(*, session: Session, reason: str, reason_other: str = "") -> bool:
    """The hosted page's reason step. A holdout session then goes straight on to the
    cancel confirmation: its offers page would hold nothing but "No thanks, cancel"."""
    with transaction.atomic():
        moved = session_choose_reason(session=session, reason=reason, reason_other=reason_other)
        if moved and session_in_holdout(session):
            session_choose_cancel(session=session)
    return moved


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
        how = {key: params[key] for key in ("method", "behavior") if key in params}
        return {"months": months, "days": months * 30, **how}
    if action == Action.DOWNGRADE:
        # As previewed (``previews``): the same behaviour, and the preview's date below.
        preview = params.get("next_invoice") or {}
        params["proration_behavior"] = (
            preview.get("proration_behavior") or config.proration_behavior
        )
    return params


def session_select_action(
    *, session: Session, action: str, pause_months: int | None = None
) -> bool:
    """The subscriber takes an offer or confirms they want to cancel.

    A contact or redirect offer completes the session there and then (``deflections``):
    there is nothing to confirm, since nothing changes on the subscription.
    """
    if action not in Action.values:
        raise ApiError("action_not_available", _("Unknown action."), details={"action": action})
    params = _action_params(session, action, pause_months)
    if action in DEFLECTIONS:
        return session_deflect(session=session, action=action, params=params)
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


def session_choose_cancel(*, session: Session) -> bool:
    """The subscriber goes straight to cancelling, from whichever step they are on.

    Before the survey (allowed only when the reason is optional) nothing of a survey is
    recorded: no reason, no offers, no feedback. With the offers on screen it is "No
    thanks, cancel". On the confirmation of an offer it replaces that offer; feedback still
    owed stays optional on the confirm page.
    """
    now = timezone.now()
    config = flow_config_get(tenant=session.tenant, livemode=session.livemode)
    choice = {
        "selected_action": Action.CANCEL,
        "action_params": {"at_period_end": cancel_at_period_end(config=config)},
        "action_selected_at": now,
    }
    status = session.status
    if status == SessionStatus.VIEWED:
        if reason_required(session):
            message = _("Choose one of the listed reasons.")
            raise ApiError("validation_error", message, details={"reason": message})
        return _advance(
            session,
            from_statuses=(SessionStatus.VIEWED,),
            to=SessionStatus.SURVEY_COMPLETED,
            survey_completed_at=now,
            **choice,
        )
    if status == SessionStatus.OFFER_SHOWN:
        return session_select_action(session=session, action=Action.CANCEL)
    if status in (SessionStatus.ACTION_SELECTED, SessionStatus.SURVEY_COMPLETED):
        # The status stays: whether feedback is still owed does not depend on the action.
        return _advance(session, from_statuses=(status,), to=status, **choice)
    return False


def session_confirm(*, session: Session, action: str | None = None) -> bool:
    """Hand the chosen action to a worker. Only the first confirmation moves the session.

    ``action``, when the confirm page names it, must still be the chosen one: a button
    that said "Pause" never confirms a cancellation chosen meanwhile in another tab.
    """
    with transaction.atomic():
        moved = _advance(
            session,
            from_statuses=(SessionStatus.SURVEY_COMPLETED,),
            to=SessionStatus.EXECUTING,
            where={"selected_action": action} if action else None,
            executing_at=timezone.now(),
            execution_attempts=1,
        )
        if moved:
            session_execute_enqueue_on_commit(session.id)
    return moved


def session_confirm_choice(*, session: Session, action: str | None, feedback: str = "") -> bool:
    """The confirm page: its optional feedback (when still owed) and the confirmation,
    both or neither."""
    with transaction.atomic():
        if session.status == SessionStatus.ACTION_SELECTED:
            session_give_feedback(session=session, feedback=feedback)
        moved = session_confirm(session=session, action=action)
        if not moved:
            current = Session.objects.filter(pk=session.pk).values_list("status", flat=True)
            if current.first() in (SessionStatus.ACTION_SELECTED, SessionStatus.SURVEY_COMPLETED):
                # Not confirmed yet, so the choice changed in another tab: the error undoes
                # the feedback too, and the page shows the choice as it now is.
                raise ApiError(
                    "validation_error",
                    _("Your choice changed in another window. Please check it and confirm."),
                    details={"action": action},
                )
    return moved


# The flow API (``flow_apis``) drives the same steps: a survey answer, then the whole
# choice in one call. Where a step no longer applies, the session's status says why.

SURVEY_STATUSES = (SessionStatus.CREATED, SessionStatus.VIEWED, SessionStatus.OFFER_SHOWN)


def session_status_error(session: Session) -> ApiError:
    """Why a session at its current status takes no survey answer or choice."""
    status = session.status
    details = {"status": status}
    if status in (SessionStatus.EXPIRED, SessionStatus.ABANDONED):
        return ApiError("session_expired", _("This session has expired."), details=details)
    if status == SessionStatus.EXECUTING:
        return ApiError(
            "session_already_completed",
            _("This session's action is already under way."),
            details=details,
        )
    if status in (SessionStatus.COMPLETED, SessionStatus.FAILED):
        return ApiError(
            "session_already_completed", _("This session is already finished."), details=details
        )
    if status in (SessionStatus.ACTION_SELECTED, SessionStatus.SURVEY_COMPLETED):
        return ApiError(
            "session_already_completed",
            _("An action has already been chosen for this session."),
            details=details,
        )
    return ApiError(
        "validation_error",
        _("Answer the survey before choosing an action."),
        details={**details, "reason": _("no reason given yet: answer the survey first")},
    )


def session_answer_survey(*, session: Session, reason: str, reason_other: str = "") -> None:
    """Record the reason and decide the offers, from ``created`` (marked viewed first, as
    opening the hosted page does), ``viewed`` or ``offer_shown``."""
    if session.status not in SURVEY_STATUSES:
        raise session_status_error(session)
    # One transaction, so that a refused answer leaves a new session as it was.
    with transaction.atomic():
        if session.status == SessionStatus.CREATED:
            session_mark_viewed(session=session)
        if not session_choose_reason(session=session, reason=reason, reason_other=reason_other):
            session.refresh_from_db()
            raise session_status_error(session)


def session_choose_and_confirm(
    *,
    session: Session,
    action: str,
    offer_id: str | None = None,
    pause_duration_days: int | None = None,
    feedback: str = "",
) -> Session:
    """Take an offer (or cancel) and confirm it in one go: the hosted page's offer, feedback
    (when the workspace asks for it) and confirm steps, all of them or none.

    ``offer_id``, when given, must be the shown offer for ``action``; ``pause_duration_days``
    one of the pause lengths offered (months x 30). Where the reason is optional, ``cancel``
    may also come before any survey answer, as the hosted page's "Skip to cancel": then no
    survey is recorded, ``feedback`` included. Returns the session, now ``executing``;
    ``completed`` for a contact or redirect offer, which needs no action on Stripe.
    """
    with transaction.atomic():
        # Locked: a reason changed meanwhile in another tab cannot swap the offers between
        # the checks below and the step that records the choice.
        locked = (
            Session.objects.select_for_update(of=("self",))
            .select_related("tenant")
            .get(pk=session.pk)
        )
        skipping_survey = (
            action == Action.CANCEL
            and locked.status in (SessionStatus.CREATED, SessionStatus.VIEWED)
            and not reason_required(locked)
        )
        if locked.status != SessionStatus.OFFER_SHOWN and not skipping_survey:
            raise session_status_error(locked)
        offer = next((o for o in shown_offers(locked) if o["action"] == action), None)
        if (action != Action.CANCEL and offer is None) or (
            offer_id is not None and (offer is None or offer["offer_id"] != offer_id)
        ):
            raise ApiError(
                "action_not_available",
                _("That offer is not available for this session."),
                details={"action": action, **({"offer_id": offer_id} if offer_id else {})},
            )
        pause_months = None
        if pause_duration_days is not None:
            if action != Action.PAUSE or offer is None:
                raise ApiError(
                    "validation_error",
                    _("A pause length goes with the pause action only."),
                    details={"pause_duration_days": _("only for the pause action")},
                )
            offered = [m * 30 for m in offer["params"].get("months_options") or [1]]
            if pause_duration_days not in offered:
                raise ApiError(
                    "validation_error",
                    _("Choose one of the pause lengths offered."),
                    details={"pause_duration_days": f"one of {offered}"},
                )
            pause_months = pause_duration_days // 30
        if action in DEFLECTIONS:
            config = flow_config_get(tenant=locked.tenant, livemode=locked.livemode)
            if not session_deflect(
                session=locked,
                action=action,
                params=_action_params(locked, action, None),
                feedback=feedback if config.ask_feedback else "",
            ):
                raise session_status_error(locked)
            return locked
        if skipping_survey:
            if locked.status == SessionStatus.CREATED:
                session_mark_viewed(session=locked)
            moved = session_choose_cancel(session=locked)
        else:
            moved = session_select_action(session=locked, action=action, pause_months=pause_months)
        if moved and locked.status == SessionStatus.ACTION_SELECTED:
            moved = session_give_feedback(session=locked, feedback=feedback)
        if not (moved and session_confirm(session=locked)):
            locked.refresh_from_db()
            raise session_status_error(locked)
    return locked
