"""Everything that writes hub sessions, their actions and the allowed plan changes."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.context import Actor
from audit.models import AuditAction
from audit.services import audit_record
from billing.gateway import StripeGatewayError, Subscription, gateway_for
from mrrx.api.errors import ApiError
from mrrx.formats import iso_timestamp
from offers.models import ProrationBehavior
from sessions_app.models import Session
from sessions_app.services import locale_clean, session_create, stripe_error_to_api
from sessions_app.tokens import session_token
from tenants.models import Tenant
from tenants.selectors import return_url_allowed

from .jobs import hub_action_execute_enqueue_on_commit
from .models import HubAction, HubActionKind, HubActionStatus, HubSession, PlanChange
from .tokens import hub_token, hub_url

# A hub link opens a customer's every subscription: it lives long enough for one visit
# (a cancellation flow started from it included), not for days.
HUB_LIFETIME = timedelta(hours=1)
# Stripe statuses from which nothing is left to do.
ENDED_SUBSCRIPTION_STATUSES = ("canceled", "incomplete_expired")
# Plan changes are for subscriptions that are billed normally.
PLAN_CHANGE_STATUSES = ("active", "trialing")
# How old a plan change preview may be when it is confirmed: it is prorated as of then.
PREVIEW_MAX_AGE = timedelta(hours=1)


def hub_session_create(
    *,
    tenant: Tenant,
    livemode: bool,
    customer_id: str | None = None,
    customer_email: str | None = None,
    return_url: str | None = None,
    metadata: dict[str, str] | None = None,
    locale: str = "",
) -> tuple[HubSession, str]:
    """Open a hub for one Stripe customer; returns it with its page's token.

    The customer is named by id or by email (both: they must agree). A customer Stripe
    does not know in the workspace's account is ``not_found``; an email shared by several
    customers is a ``validation_error`` asking for the id. A customer without a live
    subscription still gets a hub, which says so. ``locale`` is checked as
    ``session_create`` checks it, and passed on to the cancellation sessions it opens.
    """
    language = locale_clean(locale)
    if return_url:
        allowed, why = return_url_allowed(tenant=tenant, url=return_url, livemode=livemode)
        if not allowed:
            raise ApiError("validation_error", f"return_url {why}.", details={"return_url": why})
    customer_id = _resolve_customer(
        tenant=tenant, livemode=livemode, customer_id=customer_id, customer_email=customer_email
    )
    now = timezone.now()
    hub = HubSession.objects.create(
        tenant=tenant,
        livemode=livemode,
        customer_id=customer_id,
        customer_email=customer_email or "",
        return_url=return_url or tenant.default_return_url,
        metadata=metadata or {},
        locale=language,
        created_at=now,
        expires_at=now + HUB_LIFETIME,
    )
    return hub, hub_token(hub)


def _resolve_customer(
    *, tenant: Tenant, livemode: bool, customer_id: str | None, customer_email: str | None
) -> str:
    try:
        gateway = gateway_for(tenant=tenant, livemode=livemode)
        if customer_id and not gateway.customer_exists(customer_id):
            raise ApiError(
                "not_found",
                "No customer with that id in the connected Stripe account.",
                details={"customer_id": customer_id},
            )
        if not customer_email:
            assert customer_id
            return customer_id
        matches = gateway.customers_with_email(customer_email)
    except StripeGatewayError as exc:
        raise stripe_error_to_api(exc) from exc
    if customer_id:
        if customer_id not in matches:
            raise ApiError(
                "validation_error",
                "customer_email is not the email of that customer.",
                details={"customer_email": f"is not the email of {customer_id} in Stripe"},
            )
        return customer_id
    if not matches:
        raise ApiError(
            "not_found",
            "No customer with that email in the connected Stripe account.",
            details={"customer_email": customer_email},
        )
    if len(matches) > 1:
        raise ApiError(
            "validation_error",
            "Several customers have that email; send customer_id instead.",
            details={
                "customer_id": "required: several customers have this email: " + ", ".join(matches)
            },
        )
    return matches[0]


def hub_session_mark_viewed(*, hub: HubSession) -> None:
    """Count one view of the hub page (the first one is the visit)."""
    now = timezone.now()
    HubSession.objects.filter(id=hub.id).update(
        views=F("views") + 1, last_viewed_at=now, viewed_at=Coalesce(F("viewed_at"), now)
    )


def actions_available(*, subscription: Subscription, can_change_plan: bool) -> frozenset[str]:
    """What a customer may do with a subscription in the hub, as it stands in Stripe.

    ``can_change_plan``: the workspace allows a change from the subscription's price.
    """
    if subscription.status in ENDED_SUBSCRIPTION_STATUSES:
        return frozenset()
    kinds = set()
    if subscription.paused:
        kinds.add(HubActionKind.RESUME)
    if subscription.cancel_at_period_end:
        # Ending already: the one thing to offer is not to.
        kinds.add(HubActionKind.REACTIVATE)
    else:
        kinds.add(HubActionKind.CANCEL)
        if can_change_plan and subscription.status in PLAN_CHANGE_STATUSES:
            kinds.add(HubActionKind.CHANGE_PLAN)
    return frozenset(kinds)


def idempotency_key_for(*, hub_id: str, kind: str, subscription_id: str, price_id: str = "") -> str:
    """``<hub id>:<action>:<subscription id>[:<price>]``: every try of one action on Stripe
    carries the same key, so Stripe acts once."""
    key = f"{hub_id}:{kind}:{subscription_id}"
    return f"{key}:{price_id}" if price_id else key


def _not_available(message: str, **details: str) -> ApiError:
    return ApiError("action_not_available", message, details=details)


def hub_subscription_fetch(*, hub: HubSession, subscription_id: str) -> Subscription:
    """One of the hub customer's subscriptions, as Stripe has it now."""
    try:
        subscription = gateway_for(tenant=hub.tenant, livemode=hub.livemode).subscription_get(
            subscription_id
        )
    except StripeGatewayError as exc:
        raise stripe_error_to_api(exc) from exc
    if subscription.customer_id != hub.customer_id:
        # Another customer's subscription does not exist as far as this visit knows.
        raise ApiError(
            "subscription_not_found",
            _("No such subscription."),
            details={"subscription_id": subscription_id},
        )
    return subscription


def _plan_change_params(
    *, hub: HubSession, subscription: Subscription, price_id: str, proration_date: int | None
) -> dict[str, Any]:
    change = PlanChange.objects.filter(
        tenant_id=hub.tenant_id,
        livemode=hub.livemode,
        from_price_id=subscription.price_id,
        to_price_id=price_id,
    ).first()
    if change is None:
        raise _not_available(
            _("That plan is not available for this subscription."), price_id=price_id
        )
    params: dict[str, Any] = {
        "from_price_id": subscription.price_id,
        "proration_behavior": change.proration_behavior,
        "proration_date": None,
    }
    if change.proration_behavior != ProrationBehavior.NONE:
        now = timezone.now()
        if proration_date is None or not (
            now - PREVIEW_MAX_AGE <= datetime.fromtimestamp(proration_date, tz=now.tzinfo) <= now
        ):
            raise ApiError(
                "validation_error",
                _("The price shown is out of date. Please review the change again."),
                details={"proration_date": "must be the time of a preview in the last hour"},
            )
        params["proration_date"] = proration_date
    return params


def hub_action_request(
    *,
    hub: HubSession,
    kind: str,
    subscription_id: str,
    price_id: str = "",
    proration_date: int | None = None,
) -> HubAction:
    """The customer asks to resume, reactivate or change the plan of a subscription.

    One row per visit, action, subscription (and price): asking again returns that row,
    whatever it became. A new one is checked against the subscription as Stripe has it now,
    written, and claimed for the worker by a conditional update, all while the visit is
    locked, so two tabs never run two changes of one subscription at once.
    """
    if kind not in (HubActionKind.RESUME, HubActionKind.REACTIVATE, HubActionKind.CHANGE_PLAN):
        raise _not_available(_("Unknown action."), action=kind)
    if kind != HubActionKind.CHANGE_PLAN:
        price_id = ""
    elif not price_id:
        raise ApiError("validation_error", _("Choose a plan."), details={"price_id": "required"})
    unique = {"hub_session": hub, "kind": kind, "subscription_id": subscription_id}
    existing = HubAction.objects.filter(**unique, price_id=price_id).first()
    if existing is not None and existing.status != HubActionStatus.REQUESTED:
        return existing

    subscription = hub_subscription_fetch(hub=hub, subscription_id=subscription_id)
    can_change = kind == HubActionKind.CHANGE_PLAN
    if kind not in actions_available(subscription=subscription, can_change_plan=can_change):
        raise _not_available(
            {
                HubActionKind.RESUME: _("This subscription is not paused."),
                HubActionKind.REACTIVATE: _("This subscription is not set to cancel."),
                HubActionKind.CHANGE_PLAN: _("This subscription's plan cannot be changed now."),
            }[kind],
            action=kind,
            subscription_id=subscription_id,
        )
    params: dict[str, Any] = {}
    if kind == HubActionKind.RESUME:
        params["pause_resumes_at"] = iso_timestamp(subscription.pause_resumes_at)
    elif kind == HubActionKind.CHANGE_PLAN:
        if price_id == subscription.price_id:
            raise _not_available(_("You are already on that plan."), price_id=price_id)
        params = _plan_change_params(
            hub=hub, subscription=subscription, price_id=price_id, proration_date=proration_date
        )

    now = timezone.now()
    with transaction.atomic():
        # One change of a visit's subscriptions at a time: concurrent requests queue here.
        HubSession.objects.select_for_update().filter(id=hub.id).first()
        busy = HubAction.objects.filter(
            hub_session=hub, subscription_id=subscription_id, status=HubActionStatus.EXECUTING
        )
        if busy.exclude(kind=kind, price_id=price_id).exists():
            raise _not_available(
                _("Another change to this subscription is under way."),
                subscription_id=subscription_id,
            )
        HubAction.objects.bulk_create(
            [
                HubAction(
                    **unique,
                    price_id=price_id,
                    tenant_id=hub.tenant_id,
                    livemode=hub.livemode,
                    params=params,
                    idempotency_key=idempotency_key_for(
                        hub_id=hub.id, kind=kind, subscription_id=subscription_id, price_id=price_id
                    ),
                    created_at=now,
                )
            ],
            ignore_conflicts=True,
        )
        action = HubAction.objects.get(**unique, price_id=price_id)
        claimed = HubAction.objects.filter(id=action.id, status=HubActionStatus.REQUESTED).update(
            status=HubActionStatus.EXECUTING, executing_at=now, attempts=F("attempts") + 1
        )
        if claimed:
            audit_record(
                action=AuditAction.HUB_ACTION_REQUESTED,
                target=action,
                actor=Actor.subscriber(customer_id=hub.customer_id),
                changes={
                    "kind": kind,
                    "subscription_id": subscription_id,
                    "price_id": price_id,
                    "hub_session_id": hub.id,
                },
            )
            hub_action_execute_enqueue_on_commit(action.id)
        action.refresh_from_db()
    return action


def hub_cancel_start(*, hub: HubSession, subscription_id: str) -> tuple[Session, str]:
    """Open a cancellation session for one of the customer's subscriptions, or continue the
    one already active for it; returns it with its hosted-flow token.

    The session belongs to this visit (``hub_session_id``), carries its metadata, and
    sends the subscriber back to the hub when the flow is over.
    """
    try:
        session, token = session_create(
            tenant=hub.tenant,
            livemode=hub.livemode,
            customer_id=hub.customer_id,
            subscription_id=subscription_id,
            return_url=hub_url(hub),
            metadata=hub.metadata,
            hub_session_id=hub.id,
            return_url_is_ours=True,
            locale=hub.locale,
        )
    except ApiError as exc:
        if exc.code == "invalid_customer":
            raise ApiError(
                "subscription_not_found",
                _("No such subscription."),
                details={"subscription_id": subscription_id},
            ) from exc
        if exc.code != "session_already_exists":
            raise
        session = Session.objects.select_related("tenant").get(
            id=exc.details["session_id"], tenant_id=hub.tenant_id, livemode=hub.livemode
        )
        token = session_token(
            session_id=session.id,
            tenant_id=session.tenant_id,
            livemode=session.livemode,
            expires_at=session.expires_at,
        )
    HubAction.objects.bulk_create(
        [
            HubAction(
                hub_session=hub,
                tenant_id=hub.tenant_id,
                livemode=hub.livemode,
                kind=HubActionKind.CANCEL,
                subscription_id=subscription_id,
                status=HubActionStatus.OPENED,
                cancellation_session_id=session.id,
            )
        ],
        ignore_conflicts=True,
    )
    return session, token


# Allowed plan changes (admin) ---------------------------------------------------------------


def plan_change_validate(
    *, tenant: Tenant, livemode: bool, from_price_id: str, to_price_id: str
) -> None:
    """Both prices exist in the workspace's Stripe account in that mode, are recurring and
    active, and share a currency (Stripe cannot move a subscription across currencies)."""
    if from_price_id == to_price_id:
        raise ValidationError({"to_price_id": "Choose a price other than the one moved from."})
    try:
        gateway = gateway_for(tenant=tenant, livemode=livemode)
        prices = {}
        for field, price_id in (("from_price_id", from_price_id), ("to_price_id", to_price_id)):
            try:
                prices[field] = gateway.price_get(price_id)
            except StripeGatewayError as exc:
                if exc.http_status != 404:
                    raise
                raise ValidationError(
                    {field: f"No price {price_id} in the connected Stripe account."}
                ) from exc
    except StripeGatewayError as exc:
        raise ValidationError(f"Stripe could not check the prices: {exc.message}") from exc
    for field, price in prices.items():
        if not price.interval:
            raise ValidationError({field: "Must be a recurring price."})
    if not prices["to_price_id"].active:
        raise ValidationError({"to_price_id": "This price is archived in Stripe."})
    if prices["from_price_id"].currency != prices["to_price_id"].currency:
        raise ValidationError({"to_price_id": "Must be in the same currency as the other price."})
