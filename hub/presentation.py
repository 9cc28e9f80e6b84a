"""What the hub page says about each subscription, in the customer's terms."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from billing.gateway import Discount, InvoicePreview, Price, Subscription
from sessions_app.presentation import day, money, per_interval

from .models import HubAction, HubActionKind, HubActionStatus
from .selectors import HubSubscription

PROGRESS = {
    HubActionKind.RESUME: gettext_lazy("Resuming your subscription…"),
    HubActionKind.REACTIVATE: gettext_lazy("Undoing your cancellation…"),
    HubActionKind.CHANGE_PLAN: gettext_lazy("Changing your plan…"),
}


def price_text(amount: int, currency: str, interval: str, interval_count: int = 1) -> str:
    return _("%(price)s / %(per)s") % {
        "price": money(amount, currency),
        "per": per_interval(interval, interval_count),
    }


def _status(sub: Subscription) -> tuple[str, str]:
    """A short key (for styling and tests) and the status in words."""
    if sub.cancel_at_period_end:
        return "canceling", _("Cancels on %(date)s") % {"date": day(sub.current_period_end)}
    if sub.paused:
        if sub.pause_resumes_at:
            return "paused", _("Paused until %(date)s") % {"date": day(sub.pause_resumes_at)}
        return "paused", _("Paused")
    if sub.status == "trialing":
        return "trialing", _("Free trial until %(date)s") % {"date": day(sub.trial_end)}
    words = {
        "active": _("Active"),
        "past_due": _("Payment past due"),
        "unpaid": _("Unpaid"),
        "incomplete": _("Waiting for the first payment"),
        "paused": _("Paused"),
    }
    return sub.status, words.get(sub.status, sub.status)


def _billing(sub: Subscription, preview: InvoicePreview | None) -> str:
    if sub.cancel_at_period_end:
        return _("You keep access until %(date)s and won't be charged again.") % {
            "date": day(sub.current_period_end)
        }
    if sub.paused:
        if sub.pause_resumes_at:
            return _("No payments while paused. Billing picks up again on %(date)s.") % {
                "date": day(sub.pause_resumes_at)
            }
        return _("No payments while paused.")
    if preview is not None:
        template = (
            _("First bill: %(amount)s on %(date)s")
            if sub.status == "trialing"
            else _("Next bill: %(amount)s on %(date)s")
        )
        return template % {
            "amount": money(preview.amount_due, preview.currency),
            "date": day(preview.invoice_at),
        }
    if sub.current_period_end:
        return _("Renews on %(date)s") % {"date": day(sub.current_period_end)}
    return ""


def discount_text(discount: Discount) -> str:
    if discount.percent_off is not None:
        off = _("%(percent)s%% off") % {"percent": discount.percent_off}
    elif discount.amount_off is not None:
        off = _("%(amount)s off") % {"amount": money(discount.amount_off, discount.currency or "")}
    else:
        off = discount.name or _("Discount")
    if discount.ends_at:
        until = _("until %(date)s") % {"date": day(discount.ends_at)}
    elif discount.duration == "forever":
        until = _("for as long as you subscribe")
    elif discount.duration == "once":
        until = _("on your next bill")
    else:
        until = ""
    label = f"{off} {until}".strip()
    if discount.name and discount.name != off:
        return f"{discount.name}: {label}"
    return label


def _action_result(action: HubAction) -> dict[str, str] | None:
    if action.status == HubActionStatus.FAILED:
        return {
            "tone": "error",
            "text": _(
                "We could not do that. Nothing was changed on your subscription. "
                "Please try again later or contact support."
            ),
        }
    if action.status != HubActionStatus.COMPLETED:
        return None
    outcome = action.outcome or {}
    texts = {
        HubActionKind.RESUME: _("Your subscription is active again."),
        HubActionKind.REACTIVATE: _("Your subscription will continue. Nothing was canceled."),
        HubActionKind.CHANGE_PLAN: _("You are now on the new plan at %(price)s.")
        % {
            "price": price_text(
                outcome.get("new_amount") or 0,
                outcome.get("currency") or "",
                outcome.get("interval") or "",
                outcome.get("interval_count") or 1,
            )
        },
    }
    return {"tone": "done", "text": texts[HubActionKind(action.kind)]}


def subscription_card(item: HubSubscription) -> dict[str, Any]:
    sub = item.overview.subscription
    status_key, status_text = _status(sub)
    busy = item.busy
    card = {
        "id": sub.id,
        "name": sub.product_name or _("Subscription"),
        "price": price_text(sub.amount, sub.currency, sub.interval, sub.interval_count),
        "status_key": status_key,
        "status": status_text,
        "billing": _billing(sub, item.next_invoice),
        "discounts": [discount_text(d) for d in item.overview.discounts],
        "progress": PROGRESS[HubActionKind(item.latest_action.kind)] if busy else "",
        "result": _action_result(item.latest_action) if item.latest_action else None,
        "can": {
            kind: kind in item.available and kind not in item.taken and not busy
            for kind in HubActionKind.values
        },
        "cancel_label": _("Continue cancellation")
        if item.active_session is not None
        else _("Cancel subscription"),
    }
    return card


def plan_option(price: Price) -> dict[str, str]:
    return {
        "price_id": price.id,
        "name": price.product_name or price.id,
        "price": price_text(price.amount, price.currency, price.interval, price.interval_count),
    }


def plan_preview(
    *, current: Subscription, target: Price, behavior: str, preview: InvoicePreview | None
) -> dict[str, str]:
    """The change in words: what the customer pays, when, and why it differs."""
    lines = {
        "from": price_text(current.amount, current.currency, current.interval),
        "to": price_text(target.amount, target.currency, target.interval, target.interval_count),
        "charge": "",
        "note": "",
    }
    if preview is None:
        return lines
    amount = money(preview.amount_due, preview.currency)
    if behavior == "always_invoice":
        lines["charge"] = (
            _("You pay %(amount)s now for the rest of this period.") % {"amount": amount}
            if preview.amount_due
            else _("Nothing to pay now.")
        )
    else:
        lines["charge"] = _("Your next bill: %(amount)s on %(date)s.") % {
            "amount": amount,
            "date": day(preview.invoice_at),
        }
    if preview.proration_amount < 0:
        lines["note"] = _("Includes a credit of %(amount)s for the unused time on your plan.") % {
            "amount": money(-preview.proration_amount, preview.currency)
        }
    elif preview.proration_amount > 0:
        lines["note"] = _(
            "Includes %(amount)s for the difference over the rest of this period."
        ) % {"amount": money(preview.proration_amount, preview.currency)}
    elif behavior == "none":
        lines["note"] = _("The new price applies from your next billing period.")
    return lines
