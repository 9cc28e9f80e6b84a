"""Preview of a flow configuration: the hosted pages, for a made-up subscriber.

The real templates and ``sessions_app.presentation`` render an unsaved ``Session``;
each step's form posts back here and is answered with a redirect to the next step, the
state carried in the query string. Nothing is written and Stripe is never called.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from offers.eligibility import offers_evaluate
from offers.models import FlowConfig, OfferAction
from offers.selectors import cancel_at_period_end, flow_for, reasons_for
from sessions_app import presentation
from sessions_app.deflections import DEFLECTIONS, deflection_details
from sessions_app.flow import reason_required
from sessions_app.models import Action, Session, SessionStatus
from tenants.roles import page_allows
from tenants.workspace import current_role

STEPS = ("reason", "offers", "confirm", "result")
DEFAULT_PRICE = {
    "price_id": "price_preview",
    "amount": 2900,
    "currency": "usd",
    "interval": "month",
    "interval_count": 1,
    "product_name": "Pro",
}


def _subscriber_price(config: FlowConfig) -> dict[str, Any]:
    """A price some downgrade offer has a target for, so the preview can show it."""
    for offer in config.offers.filter(action=OfferAction.DOWNGRADE, enabled=True):
        for price_id, target in (offer.params.get("targets") or {}).items():
            if isinstance(target, dict) and "from_amount" in target:
                return {
                    "price_id": price_id,
                    "amount": target["from_amount"],
                    "currency": target.get("from_currency") or target.get("currency", "usd"),
                    "interval": target.get("from_interval") or target.get("interval", "month"),
                    "interval_count": target.get("from_interval_count", 1),
                    "product_name": "Your current plan",
                }
    return dict(DEFAULT_PRICE)


def synthetic_session(config: FlowConfig, *, trialing: bool = False) -> Session:
    """An unsaved session for a subscriber on a typical plan."""
    price = _subscriber_price(config)
    now = timezone.now()
    period_end = now + timedelta(days=18)
    snapshot = {
        "status": "trialing" if trialing else "active",
        "price_id": price["price_id"],
        "amount": price["amount"],
        "currency": price["currency"],
        "interval": price["interval"],
        "interval_count": price["interval_count"],
        "current_period_end": period_end.isoformat(),
        "trial_end": period_end.isoformat() if trialing else None,
        "discount_coupon_ids": [],
        "paused": False,
        "cancel_at_period_end": False,
    }
    return Session(
        id="ses_preview",
        tenant=config.tenant,
        livemode=config.livemode,
        status=SessionStatus.VIEWED,
        customer_id="cus_preview",
        subscription_id="sub_preview",
        product_name=price["product_name"],
        price_id=price["price_id"],
        price_amount=price["amount"],
        price_currency=price["currency"],
        price_interval=price["interval"],
        price_interval_count=price["interval_count"],
        subscription_snapshot=snapshot,
        created_at=now,
        expires_at=now + timedelta(hours=24),
    )


def _choose(session: Session, config: FlowConfig, action: str, months: str) -> None:
    """What the flow would record for the choice, for display only."""
    session.selected_action = action
    if action == Action.CANCEL:
        session.action_params = {"at_period_end": cancel_at_period_end(config=config)}
        return
    offer = next(
        (o for o in session.offers_considered if o["shown"] and o["action"] == action), None
    )
    params = dict(offer["params"]) if offer else {}
    if action == Action.PAUSE:
        options = params.get("months_options") or [1]
        chosen = int(months) if months.isdigit() and int(months) in options else options[0]
        params = {"months": chosen, "days": chosen * 30}
    session.action_params = params


def _outcome(session: Session) -> dict[str, Any]:
    now, params = timezone.now(), session.action_params
    snapshot = session.subscription_snapshot
    match session.selected_action:
        case Action.PAUSE:
            return {"resume_date": (now + timedelta(days=params.get("days", 30))).isoformat()}
        case Action.DOWNGRADE:
            return {"new_amount": params.get("amount")}
        case Action.EXTEND_TRIAL:
            return {"new_trial_end": (now + timedelta(days=params.get("days", 14))).isoformat()}
        case Action.CANCEL:
            return {
                "cancel_at_period_end": params.get("at_period_end", True),
                "canceled_at": snapshot.get("current_period_end"),
            }
        case Action.CONTACT | Action.REDIRECT if params:
            return deflection_details(
                session_id=session.id, action=session.selected_action, params=params
            )
    return {}


def _next_step(data: Any) -> str:
    """Where a step's form leads, as the query string of the next preview page."""
    state = {
        key: data.get(key, "") for key in ("reason", "action", "pause_months", "trialing", "flow")
    }
    step = data.get("step", "")
    if step == "reason":
        state["step"] = "offers"
        state["reason"] = data.get("reason", "")
    elif step == "offer":
        # A contact or redirect offer has nothing to confirm: the flow completes it at once.
        state["step"] = "result" if data.get("action") in DEFLECTIONS else "confirm"
    elif step == "cancel":
        # "Skip to cancel" / "Cancel my subscription instead": straight to confirming.
        state.update(step="confirm", action=Action.CANCEL)
    elif step == "confirm":
        state["step"] = "result"
    else:
        state["step"] = "reason"
    return urlencode({key: value for key, value in state.items() if value})


@never_cache
@csrf_exempt  # its POST changes nothing: it only redirects to the next step's GET
def flow_preview_view(request: HttpRequest, config_id: str) -> HttpResponse:
    flow_admin = admin.site._registry[FlowConfig]
    if not (request.user.is_superuser or page_allows(current_role(request), "flow_preview")):
        raise PermissionDenied
    # The admin's queryset: another workspace's configuration is a 404.
    config = get_object_or_404(flow_admin.get_queryset(request), pk=config_id)
    if request.method == "POST":
        carried = {**request.GET.dict(), **request.POST.dict()}
        return HttpResponseRedirect(f"{request.path}?{_next_step(carried)}")

    params = request.GET
    step = params.get("step") if params.get("step") in STEPS else "reason"
    session = synthetic_session(config, trialing=params.get("trialing") == "1")
    # ?flow=<id>: one of the configuration's segment flows (another's: the default).
    segment = flow_for(config, params.get("flow", ""))
    reasons = reasons_for(config=config, flow=segment)
    reason = params.get("reason") or (reasons[0][0] if reasons else "other")
    brand = presentation.brand(config.tenant)
    of_flow = f" of {segment.name}" if segment is not None else ""
    brand["name"] = f"{brand['name']} · Preview{of_flow} ({config.mode} mode)"
    context: dict[str, Any] = {
        "session": session,
        "brand": brand,
        "plan": presentation.plan(session),
        "reasons": reasons,
        "reason_optional": not reason_required(session),
    }
    template = "flow/reason.html"
    if step != "reason":
        session.survey_reason = reason
        session.status = SessionStatus.OFFER_SHOWN
        session.offers_considered = [
            decision.as_record()
            for decision in offers_evaluate(
                config=config,
                reason=reason,
                subscription=session.subscription_snapshot,
                recent_discount_accepted=False,
                flow=segment,
            )
        ]
        template = "flow/offers.html"
        context["offers"] = presentation.offer_cards(session)
        context["cancel"] = presentation.cancel_card(session, config)
    if step in ("confirm", "result"):
        _choose(
            session, config, params.get("action") or Action.CANCEL, params.get("pause_months", "")
        )
        context["choice"] = presentation.choice(session)
        # As in the flow: feedback is an optional box on the confirm page.
        context["ask_feedback"] = config.ask_feedback
        template = "flow/confirm.html"
    if step == "result":
        session.status = SessionStatus.COMPLETED
        session.outcome_action = session.selected_action
        session.outcome_details = _outcome(session)
        context["result"] = presentation.result(session)
        context["links"] = presentation.result_links(session)
        context["stay"] = session.outcome_action in DEFLECTIONS
        template = "flow/result.html"
    response = render(request, template, context)
    response["X-Robots-Tag"] = "noindex"
    return response
