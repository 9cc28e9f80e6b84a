"""Reads of hub sessions (always from the workspace and mode of the caller) and of what a
hub page shows: the customer's subscriptions as Stripe has them, with what MRRX knows."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Q, QuerySet

from billing.gateway import (
    InvoicePreview,
    Price,
    StripeGatewayError,
    Subscription,
    SubscriptionOverview,
    gateway_for,
)
from sessions_app.models import ACTIVE_STATUSES, Session
from tenants.models import Tenant

from .models import HubAction, HubActionKind, HubActionStatus, HubSession, PlanChange
from .services import actions_available


def hub_session_get(*, tenant: Tenant, livemode: bool, hub_session_id: str) -> HubSession | None:
    return HubSession.objects.filter(tenant=tenant, livemode=livemode, id=hub_session_id).first()


def hub_actions(*, hub: HubSession) -> list[HubAction]:
    """What the customer did in the visit, in order."""
    return list(HubAction.objects.filter(hub_session=hub).order_by("created_at", "id"))


def hub_cancellation_sessions(*, hub: HubSession) -> QuerySet[Session]:
    """The cancellation sessions the visit opened or continued, oldest first."""
    continued = HubAction.objects.filter(hub_session=hub, kind=HubActionKind.CANCEL).values(
        "cancellation_session_id"
    )
    return Session.objects.filter(
        Q(hub_session_id=hub.id) | Q(id__in=continued),
        tenant_id=hub.tenant_id,
        livemode=hub.livemode,
    ).order_by("created_at", "id")


def plan_changes_from(*, tenant: Tenant | str, livemode: bool, price_ids: Iterable[str]) -> dict:
    """The allowed plan changes from each of ``price_ids``, in the merchant's order."""
    tenant_id = getattr(tenant, "pk", tenant)
    found: dict[str, list[PlanChange]] = {}
    for change in PlanChange.objects.filter(
        tenant_id=tenant_id, livemode=livemode, from_price_id__in=list(price_ids)
    ):
        found.setdefault(change.from_price_id, []).append(change)
    return found


@dataclass(frozen=True)
class HubSubscription:
    """One subscription as the hub page shows it."""

    overview: SubscriptionOverview
    # What Stripe would invoice next; None when nothing will be (set to cancel) or while
    # collection is paused.
    next_invoice: InvoicePreview | None
    # The visit's latest resume, reactivate or plan change of it, if any.
    latest_action: HubAction | None
    # Its active cancellation session (to continue rather than start another), if any.
    active_session: Session | None
    available: frozenset[str]
    # Resume and reactivate are done once per visit: those already asked for here.
    taken: frozenset[str] = frozenset()

    @property
    def id(self) -> str:
        return self.overview.subscription.id

    @property
    def busy(self) -> bool:
        return self.latest_action is not None and self.latest_action.status in (
            HubActionStatus.REQUESTED,
            HubActionStatus.EXECUTING,
        )


def hub_subscriptions(*, hub: HubSession) -> list[HubSubscription]:
    """The customer's live subscriptions, newest first, read from Stripe now (raises
    ``StripeGatewayError``)."""
    # The visit's actions are read before Stripe is: an action seen finished is then always
    # shown beside Stripe's state after it, never beside a read taken while the worker was
    # still at it (a finished resume next to "Paused until").
    actions = list(
        HubAction.objects.filter(hub_session=hub)
        .exclude(kind=HubActionKind.CANCEL)
        .order_by("created_at", "id")
    )
    gateway = gateway_for(tenant=hub.tenant, livemode=hub.livemode)
    overviews = gateway.subscription_overviews_for_customer(hub.customer_id)
    ids = [o.subscription.id for o in overviews]
    changes = plan_changes_from(
        tenant=hub.tenant_id,
        livemode=hub.livemode,
        price_ids={o.subscription.price_id for o in overviews},
    )
    latest: dict[str, HubAction] = {}
    taken: dict[str, set[str]] = {}
    for action in actions:
        if action.subscription_id not in ids:
            continue
        latest[action.subscription_id] = action  # oldest first: the last one wins
        if action.kind != HubActionKind.CHANGE_PLAN:
            taken.setdefault(action.subscription_id, set()).add(action.kind)
    sessions = {
        s.subscription_id: s
        for s in Session.objects.filter(
            tenant_id=hub.tenant_id,
            livemode=hub.livemode,
            subscription_id__in=ids,
            status__in=ACTIVE_STATUSES,
        )
    }
    result = []
    for overview in overviews:
        subscription = overview.subscription
        next_invoice = None
        if not subscription.paused and not subscription.cancel_at_period_end:
            next_invoice = _next_invoice(gateway, subscription.id)
        result.append(
            HubSubscription(
                overview=overview,
                next_invoice=next_invoice,
                latest_action=latest.get(subscription.id),
                active_session=sessions.get(subscription.id),
                available=actions_available(
                    subscription=subscription,
                    can_change_plan=bool(changes.get(subscription.price_id)),
                ),
                taken=frozenset(taken.get(subscription.id, ())),
            )
        )
    return result


def _next_invoice(gateway, subscription_id: str) -> InvoicePreview | None:  # type: ignore[no-untyped-def]
    try:
        return gateway.invoice_preview(subscription_id)
    except StripeGatewayError as exc:
        if exc.transient:
            raise
        # A preview Stripe will not make (an unusual subscription) leaves the line out.
        return None


@dataclass(frozen=True)
class PlanOption:
    change: PlanChange
    price: Price


def plan_options(*, hub: HubSession, price_id: str) -> list[PlanOption]:
    """The plans a subscription on ``price_id`` may move to, with their prices from Stripe
    (raises ``StripeGatewayError``); prices Stripe no longer sells are left out."""
    changes = plan_changes_from(tenant=hub.tenant_id, livemode=hub.livemode, price_ids=[price_id])
    gateway = gateway_for(tenant=hub.tenant, livemode=hub.livemode)
    options = []
    for change in changes.get(price_id, []):
        try:
            price = gateway.price_get(change.to_price_id)
        except StripeGatewayError as exc:
            if exc.transient:
                raise
            continue
        if price.active:
            options.append(PlanOption(change=change, price=price))
    return options


def plan_change_preview(
    *, hub: HubSession, subscription: Subscription, change: PlanChange, proration_date: int
) -> InvoicePreview | None:
    """What Stripe would invoice if the subscription moved as ``change`` says, prorated as
    of ``proration_date`` (the change, when confirmed, is prorated as of the same moment)."""
    gateway = gateway_for(tenant=hub.tenant, livemode=hub.livemode)
    return gateway.invoice_preview(
        subscription.id,
        new_price_id=change.to_price_id,
        proration_behavior=change.proration_behavior,
        proration_date=proration_date,
    )
