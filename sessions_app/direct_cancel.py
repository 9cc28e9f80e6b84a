"""Direct cancel: the merchant's backend cancels a subscription outright, with a reason.

No subscriber walks a flow. The cancellation is recorded as a session of source ``api``
that is written straight into ``executing`` and then carried out by the worker's own code
(``session_execute``: one Stripe write keyed ``<session id>:cancel``, the outcome read back,
``session.completed`` and ``subscription.canceled`` emitted). Because the row is committed
before Stripe is called, a request that dies mid-way leaves a session that the stuck-session
sweep finishes with the same idempotency key, never a cancellation nobody recorded.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from billing.gateway import StripeGatewayError, Subscription, gateway_for
from mrrx.api.errors import ApiError
from mrrx.metrics import record_session_created
from offers.selectors import (
    cancel_at_period_end,
    flow_config_get,
    flow_for,
    reasons_any_flow,
    reasons_for,
)
from tenants.models import Tenant

from .execution import session_execute, session_fail
from .models import ACTIVE_STATUSES, Action, EndReason, Reason, Session, SessionStatus, Source
from .services import (
    ENDED_SUBSCRIPTION_STATUSES,
    flow_fields,
    sessions_end_for_canceled_subscription,
    stripe_error_to_api,
)


def _survey_check(
    *, tenant: Tenant, livemode: bool, reason: str, reason_other: str, feedback: str
) -> None:
    """The survey answers the hosted flow would accept, for the workspace's reasons."""
    config = flow_config_get(tenant=tenant, livemode=livemode)
    # Which flow the subscription gets is known once Stripe has described it
    # (``_survey_check_for_flow``); a reason no flow asks about is refused before that.
    allowed = [code for code, _ in reasons_for(config=config)]
    allowed += sorted(reasons_any_flow(config=config) - set(allowed))
    errors: dict[str, str] = {}
    if reason and reason not in allowed:
        errors["reason"] = f"one of the workspace's reasons: {', '.join(allowed)}"
    if reason == Reason.OTHER and not reason_other:
        errors["reason_other"] = 'required when reason is "other"'
    if reason_other and reason != Reason.OTHER:
        errors["reason_other"] = 'only with reason "other"'
    # A survey answer is keyed by its reason (the session's survey_response, analytics):
    # feedback on its own would be sent to Stripe but shown nowhere.
    if feedback and not reason:
        errors["reason"] = "required when feedback is given"
    if errors:
        raise ApiError("validation_error", "The cancellation reason is not valid.", details=errors)


def _survey_check_for_flow(*, tenant: Tenant, livemode: bool, reason: str, flow_id: str) -> None:
    """The reason is one the subscription's own flow asks about (its segment flow's, else
    the default flow's), as the hosted flow would have offered it."""
    if not reason:
        return
    config = flow_config_get(tenant=tenant, livemode=livemode)
    segment = flow_for(config, flow_id)
    allowed = [code for code, _ in reasons_for(config=config, flow=segment)]
    if reason not in allowed:
        flow_name = f"flow {segment.name!r}" if segment is not None else "default flow"
        raise ApiError(
            "validation_error",
            "The cancellation reason is not valid.",
            details={
                "reason": f"one of the reasons of the subscription's {flow_name}: "
                + ", ".join(allowed)
            },
        )


def _subscription_for_cancel(
    *,
    tenant: Tenant,
    livemode: bool,
    subscription_id: str,
    customer_id: str | None,
    at_period_end: bool,
) -> Subscription:
    """The subscription, checked in the order session creation checks it."""
    try:
        subscription = gateway_for(tenant=tenant, livemode=livemode).subscription_get(
            subscription_id
        )
    except StripeGatewayError as exc:
        raise stripe_error_to_api(exc) from exc
    if customer_id is not None and subscription.customer_id != customer_id:
        raise ApiError(
            "invalid_customer",
            "The subscription does not belong to that customer.",
            details={"customer_id": customer_id, "subscription_id": subscription.id},
        )
    if subscription.status in ENDED_SUBSCRIPTION_STATUSES:
        raise ApiError(
            "subscription_already_canceled",
            "The subscription is already canceled.",
            details={"subscription_id": subscription.id},
        )
    # Asking again for what is already scheduled would change nothing; asking to cancel
    # now a subscription that ends at its period's end does (it ends today instead).
    if at_period_end and subscription.cancel_at_period_end:
        raise ApiError(
            "subscription_already_canceled",
            "The subscription is already set to cancel at the end of its period.",
            details={"subscription_id": subscription.id, "cancel_at_period_end": True},
        )
    return subscription


def _session_begin(*, session: Session) -> None:
    """End the subscription's open session and write ``session`` (``executing``) in one
    transaction.

    A session executing its own action is left alone by the ending, so the
    one-active-session constraint refuses ours: that action is under way. So is a session
    created or confirmed meanwhile; either way everything here rolls back.
    """
    common = {
        "tenant": session.tenant,
        "livemode": session.livemode,
        "subscription_id": session.subscription_id,
    }
    try:
        with transaction.atomic():
            sessions_end_for_canceled_subscription(**common, end_reason=EndReason.CANCELED_DIRECTLY)
            session.save(force_insert=True)
    except IntegrityError as exc:
        existing = (
            Session.objects.filter(**common, status__in=ACTIVE_STATUSES)
            .values_list("id", "status")
            .first()
        )
        if existing is None:
            raise
        existing_id, status = existing
        raise ApiError(
            "session_already_exists",
            "An action on this subscription is under way in another session."
            if status == SessionStatus.EXECUTING
            else "A session for this subscription was started meanwhile; try again.",
            details={"session_id": existing_id, "subscription_id": session.subscription_id},
        ) from exc


def _failure_error(session: Session) -> ApiError:
    """The API's answer for a session whose Stripe write failed (its recorded failure)."""
    failure: dict[str, Any] = session.failure or {}
    error = stripe_error_to_api(
        StripeGatewayError(
            failure.get("code") or "stripe_error",
            failure.get("message") or "Stripe did not record the cancellation.",
            transient=bool(failure.get("transient")),
            stripe_code=failure.get("stripe_code"),
        )
    )
    error.details = {**error.details, "session_id": session.id}
    return error


def subscription_cancel(
    *,
    tenant: Tenant,
    livemode: bool,
    subscription_id: str,
    reason: str = "",
    reason_other: str = "",
    feedback: str = "",
    at_period_end: bool | None = None,
    customer_id: str | None = None,
) -> Session:
    """Cancel a subscription on Stripe now or at its period's end, and record it as a
    completed session of source ``api``.

    Checks, in order: the survey answers, the subscription exists in the connected Stripe
    account, belongs to ``customer_id`` (when given), is not canceled (nor already set to
    cancel at the period's end when that is what is asked), and has no session executing
    an action. Any other open session of the subscription ends (``canceled_directly``).
    ``at_period_end`` defaults to the workspace's flow setting. Stripe gets
    ``cancellation_details`` from the reason and feedback. When Stripe fails, the session is
    recorded as ``failed`` and ``stripe_error`` raised; nothing is completed.
    """
    reason_other, feedback = reason_other.strip(), feedback.strip()
    _survey_check(
        tenant=tenant,
        livemode=livemode,
        reason=reason,
        reason_other=reason_other,
        feedback=feedback,
    )
    if at_period_end is None:
        at_period_end = cancel_at_period_end(
            config=flow_config_get(tenant=tenant, livemode=livemode)
        )
    subscription = _subscription_for_cancel(
        tenant=tenant,
        livemode=livemode,
        subscription_id=subscription_id,
        customer_id=customer_id,
        at_period_end=at_period_end,
    )
    now = timezone.now()
    fields = flow_fields(tenant=tenant, livemode=livemode, subscription=subscription, now=now)
    _survey_check_for_flow(
        tenant=tenant, livemode=livemode, reason=reason, flow_id=fields["flow_id"]
    )
    session = Session(
        tenant=tenant,
        livemode=livemode,
        source=Source.API,
        status=SessionStatus.EXECUTING,
        **fields,
        survey_reason=reason,
        survey_reason_other=reason_other,
        survey_feedback=feedback,
        selected_action=Action.CANCEL,
        action_params={"at_period_end": at_period_end},
        created_at=now,
        action_selected_at=now,
        survey_completed_at=now if reason else None,
        executing_at=now,
        execution_attempts=1,
        # No token is issued and no page can be opened: the session has no window to
        # expire in.
        expires_at=now,
    )
    _session_begin(session=session)
    try:
        # The constraint serializes claims, not reads: a cancellation that finished
        # between the read above and our claim shows only in a read made now.
        _subscription_for_cancel(
            tenant=tenant,
            livemode=livemode,
            subscription_id=subscription_id,
            customer_id=customer_id,
            at_period_end=at_period_end,
        )
    except ApiError:
        # Never acted on and never announced: the claim goes as if it had not been made.
        Session.objects.filter(id=session.id, status=SessionStatus.EXECUTING).delete()
        raise
    record_session_created(source=session.source, livemode=livemode)
    try:
        session_execute(session_id=session.id)
    except StripeGatewayError as exc:
        # Transient trouble, which the worker would retry later: the caller is waiting
        # for an answer now, and may retry itself (a new attempt, a new session).
        session_fail(session=session, error=exc)
    session.refresh_from_db()
    if session.status != SessionStatus.COMPLETED:
        raise _failure_error(session)
    return session
