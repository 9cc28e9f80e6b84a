"""Which offers a subscriber sees for a reason, and why each other one is held back.

Eligibility is decided here and nowhere else (SPEC section 5). The answer covers every
offer considered, so the session can record why an offer was not shown.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tenants.selectors import return_url_allowed

from .models import Flow, FlowConfig, Offer, OfferAction, Reason

# Why an offer was not shown.
NOT_TRIALING = "not_trialing"
ALREADY_PAUSED = "already_paused"
DISCOUNT_ACTIVE = "discount_active"
DISCOUNT_RECENTLY_ACCEPTED = "discount_recently_accepted"
CURRENCY_MISMATCH = "currency_mismatch"  # an amount-off discount in another currency
NO_CHEAPER_TARGET = "no_cheaper_target"
# A redirect whose URL has left the workspace's return URL allowlist since it was set.
URL_NOT_ALLOWED = "url_not_allowed"
DISABLED = "disabled"
# A pause skips monthly payments. A subscription invoiced for longer than a month at a time
# (yearly, quarterly) has no payment in most months to skip, and a pause over its renewal
# would void a whole period's invoice, far more than the months the offer names.
BILLING_PERIOD_TOO_LONG = "billing_period_too_long"

DEFAULT_TRIAL_EXTENSION_ID = "extend_trial:default"

# What the flow needs of a downgrade target; the rest is configuration bookkeeping.
_TARGET_SHOWN_KEYS = (
    "price_id",
    "amount",
    "currency",
    "interval",
    "interval_count",
    "product_name",
)


@dataclass(frozen=True)
class OfferDecision:
    offer_id: str  # stable: "<action>:<offer pk>" or "extend_trial:default"
    action: str
    params: dict = field(hash=False)  # what the flow shows and executes
    shown: bool
    reason: str | None  # why not shown

    def as_record(self) -> dict[str, Any]:
        """A JSON-able copy, as stored on the session's ``offers_considered``."""
        return {
            "offer_id": self.offer_id,
            "action": self.action,
            "params": _json_copy(self.params),
            "shown": self.shown,
            "reason": self.reason,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> OfferDecision:
        return cls(
            offer_id=record["offer_id"],
            action=record["action"],
            params=_json_copy(record.get("params") or {}),
            shown=bool(record["shown"]),
            reason=record.get("reason"),
        )


def _json_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_copy(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_copy(v) for v in value]
    return value


@dataclass(frozen=True)
class ArmOffer:
    """An experiment arm's offer for a reason, shown in place of the configured ones.

    ``key`` is unique and stable ("<arm id>:<reason>:<n>"); the decision's id is
    "<action>:<key>", as a configured offer's is "<action>:<offer pk>".
    """

    key: str
    action: str
    params: dict = field(hash=False)


def offers_evaluate(
    *,
    config: FlowConfig,
    reason: str,
    subscription: dict[str, Any],
    recent_discount_accepted: bool,
    arm_offers: Sequence[ArmOffer] | None = None,
    flow: Flow | None = None,
) -> list[OfferDecision]:
    """Every offer considered for ``reason``, in order, each shown or not and why.

    ``subscription`` is the session's snapshot: ``status``, ``price_id``, ``amount``,
    ``currency``, ``interval`` (and optionally ``interval_count``), ``trial_end``,
    ``discount_coupon_ids`` (and ``customer_discount``), ``paused``,
    ``cancel_at_period_end``.

    With ``trial_extension_first``, a trial extension leads the list: the reason's own
    first enabled ``extend_trial`` offer if it has one, else one of
    ``trial_extension_days``. Raises ``ValueError`` for a reason code that does not exist.

    ``arm_offers``, from the session's experiment arm, replace the reason's configured
    offers (checked for eligibility just the same); None keeps the configured ones.

    ``flow`` is the session's segment flow (``offers.segments``): its own offers are
    considered; None means the default flow, the configuration's offers without a flow.
    """
    if reason not in Reason.values:
        raise ValueError(f"Unknown reason {reason!r}")
    if arm_offers is not None:
        offers = [
            Offer(id=o.key, config=config, reason=reason, position=n, action=o.action,
                  params=dict(o.params), enabled=True)
            for n, o in enumerate(arm_offers)
        ]  # fmt: skip
    else:
        offers = list(config.offers.filter(reason=reason, flow=flow).order_by("position", "id"))
    decisions: list[OfferDecision] = []
    if config.trial_extension_first:
        own = next((o for o in offers if o.action == OfferAction.EXTEND_TRIAL and o.enabled), None)
        if own is not None:
            offers.remove(own)
            decisions.append(_decide(own, subscription, recent_discount_accepted))
        else:
            decisions.append(
                _trial_extension(
                    DEFAULT_TRIAL_EXTENSION_ID, {"days": config.trial_extension_days}, subscription
                )
            )
    decisions.extend(_decide(offer, subscription, recent_discount_accepted) for offer in offers)
    return decisions


def _decide(offer: Offer, subscription: dict[str, Any], recent_discount: bool) -> OfferDecision:
    offer_id = f"{offer.action}:{offer.pk}"
    params = dict(offer.params or {})
    if offer.action == OfferAction.DOWNGRADE:
        return _downgrade(offer_id, params, subscription, enabled=offer.enabled)
    if not offer.enabled:
        return _hidden(offer_id, offer.action, params, DISABLED)
    if offer.action == OfferAction.EXTEND_TRIAL:
        return _trial_extension(offer_id, params, subscription)
    if offer.action == OfferAction.PAUSE:
        if subscription.get("paused"):
            return _hidden(offer_id, offer.action, params, ALREADY_PAUSED)
        if billing_period_months(subscription) > 1:
            return _hidden(offer_id, offer.action, params, BILLING_PERIOD_TOO_LONG)
        return _shown(offer_id, offer.action, params)
    if offer.action == OfferAction.DISCOUNT:
        # "skip_if_discounted" (the default) holds the offer back while a discount is in
        # force, the subscription's own or its customer's; "replace" and "stack" say
        # what to do with it instead, so the offer is shown.
        policy = params.get("policy", "skip_if_discounted")
        if policy == "skip_if_discounted" and discount_in_force(subscription):
            return _hidden(offer_id, offer.action, params, DISCOUNT_ACTIVE)
        if recent_discount:
            return _hidden(offer_id, offer.action, params, DISCOUNT_RECENTLY_ACCEPTED)
        # Stripe refuses an amount-off coupon in another currency than the subscription's.
        currency = params.get("currency")
        if "amount_off" in params and currency != subscription.get("currency"):
            return _hidden(offer_id, offer.action, params, CURRENCY_MISMATCH)
        return _shown(offer_id, offer.action, _discount_per_year(params, subscription))
    if offer.action == OfferAction.CONTACT:
        # Talking to the merchant suits every subscriber: nothing on Stripe to check.
        return _shown(offer_id, offer.action, params)
    if offer.action == OfferAction.REDIRECT:
        config = offer.config
        allowed, _why = return_url_allowed(
            tenant=config.tenant, url=str(params.get("url") or ""), livemode=config.livemode
        )
        if not allowed:
            return _hidden(offer_id, offer.action, params, URL_NOT_ALLOWED)
        return _shown(offer_id, offer.action, params)
    raise ValueError(f"Unknown offer action {offer.action!r}")


def billing_period_months(subscription: dict[str, Any]) -> float:
    """How many months one invoice of the subscription pays for (a week: about 0.23)."""
    count = subscription.get("interval_count") or 1
    per_interval = {"day": 12 / 365, "week": 12 / 52, "month": 1, "year": 12}
    return per_interval.get(subscription.get("interval") or "month", 1) * count


def _discount_per_year(params: dict, subscription: dict[str, Any]) -> dict:
    """A discount of some months on a yearly price, as whole years.

    Stripe applies a repeating coupon to the invoices made while it lasts, and a yearly
    subscription is invoiced once a year: "3 months off" applied mid-year would end before
    the next invoice and save nothing. So the months round up to whole billing years
    ("20% off your next year"), which always take in the next renewal.
    """
    months = params.get("duration_months")
    if subscription.get("interval") != "year" or not isinstance(months, int) or months < 1:
        return params
    years_per_invoice = subscription.get("interval_count") or 1
    years = math.ceil(months / (12 * years_per_invoice)) * years_per_invoice
    return {**params, "duration_months": 12 * years, "duration_years": years}


def discount_in_force(subscription: dict[str, Any]) -> bool:
    """Whether the session's snapshot shows a discount on the subscription or its customer."""
    return bool(subscription.get("discount_coupon_ids") or subscription.get("customer_discount"))


def _trial_extension(offer_id: str, params: dict, subscription: dict[str, Any]) -> OfferDecision:
    if subscription.get("status") != "trialing":
        return _hidden(offer_id, OfferAction.EXTEND_TRIAL, params, NOT_TRIALING)
    return _shown(offer_id, OfferAction.EXTEND_TRIAL, params)


def _downgrade(
    offer_id: str, params: dict, subscription: dict[str, Any], *, enabled: bool
) -> OfferDecision:
    """Show the one target configured for the subscription's current price, if it is a
    real downgrade: cheaper, same currency, same billing interval."""
    target = (params.get("targets") or {}).get(subscription.get("price_id") or "")
    shown_params = (
        {key: target[key] for key in _TARGET_SHOWN_KEYS if key in target}
        if isinstance(target, dict)
        else {}
    )
    if not enabled:
        return _hidden(offer_id, OfferAction.DOWNGRADE, shown_params, DISABLED)
    if not shown_params or not _is_cheaper_same_terms(shown_params, subscription):
        return _hidden(offer_id, OfferAction.DOWNGRADE, shown_params, NO_CHEAPER_TARGET)
    return _shown(offer_id, OfferAction.DOWNGRADE, shown_params)


def _is_cheaper_same_terms(target: dict[str, Any], subscription: dict[str, Any]) -> bool:
    amount, target_amount = subscription.get("amount"), target.get("amount")
    if not isinstance(amount, int) or not isinstance(target_amount, int):
        return False
    return (
        target.get("price_id") != subscription.get("price_id")
        and target_amount < amount
        and target.get("currency") == subscription.get("currency")
        and target.get("interval") == subscription.get("interval")
        and target.get("interval_count", 1) == (subscription.get("interval_count") or 1)
    )


def _shown(offer_id: str, action: str, params: dict) -> OfferDecision:
    return OfferDecision(
        offer_id=offer_id, action=str(action), params=params, shown=True, reason=None
    )


def _hidden(offer_id: str, action: str, params: dict, reason: str) -> OfferDecision:
    return OfferDecision(
        offer_id=offer_id, action=str(action), params=params, shown=False, reason=reason
    )
