"""What the hosted pages say about a plan, an offer and a result, in the subscriber's terms."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from babel.numbers import format_currency, format_decimal
from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.formats import date_format
from django.utils.translation import get_language, ngettext, to_locale
from django.utils.translation import gettext as _

from .models import Action, Session

# Stripe's amounts are in minor units, except in these currencies.
ZERO_DECIMAL = {"jpy", "krw", "vnd", "clp", "pyg", "ugx", "xaf", "xof", "bif", "djf", "gnf"}
# CLDR separates a symbol made of letters from the digits ("CHF 29.00"); Babel does not.
_LETTER_THEN_DIGIT = re.compile(r"(?<=[^\W\d_])(?=\d)")


def money(amount: int | None, currency: str) -> str:
    """A Stripe amount in the active language's way: "$29.00", "29,00 $US", "US$ 29,00"."""
    if amount is None:
        return ""
    currency = (currency or "").lower()
    value = Decimal(amount) if currency in ZERO_DECIMAL else Decimal(amount) / 100
    locale = to_locale(get_language() or settings.LANGUAGE_CODE)
    if not currency:
        return format_decimal(value, format="#,##0.00", locale=locale)
    return _LETTER_THEN_DIGIT.sub("\u00a0", format_currency(value, currency.upper(), locale=locale))


def per_interval(interval: str, count: int = 1) -> str:
    names = {
        "day": ngettext("day", "%(n)s days", count),
        "week": ngettext("week", "%(n)s weeks", count),
        "month": ngettext("month", "%(n)s months", count),
        "year": ngettext("year", "%(n)s years", count),
    }
    return names.get(interval, interval) % {"n": count}


def day(value: datetime | str | None) -> str:
    if isinstance(value, str):
        value = parse_datetime(value)
    # The active language's own long date: "Feb. 15, 2026", "15 février 2026".
    return date_format(value, "DATE_FORMAT") if value else ""


def _luminance(hex_color: str) -> float:
    hex_color = hex_color.lstrip("#")
    if len(hex_color) != 6:
        return 0.0
    channels = [int(hex_color[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def brand(tenant: Any) -> dict[str, Any]:
    color = getattr(tenant, "brand_color", "") or "#4f46e5"
    return {
        "name": getattr(tenant, "name", "") or "MRRX",
        "color": color,
        # Dark text on light brand colours, white on dark ones: readable either way.
        "on_color": "#111827" if _luminance(color) > 0.4 else "#ffffff",
        "logo_url": tenant.logo.url if tenant is not None and tenant.logo else None,
        "support_email": getattr(tenant, "support_email", "") or None,
    }


def plan(session: Session) -> dict[str, Any]:
    snapshot = session.subscription_snapshot
    return {
        "name": session.product_name,
        "price": money(session.price_amount, session.price_currency),
        "per": per_interval(session.price_interval, session.price_interval_count),
        "renews_on": day(snapshot.get("current_period_end")),
        "trialing": snapshot.get("status") == "trialing",
        "trial_ends_on": day(snapshot.get("trial_end")),
        "identity": subscription_identity(session),
    }


def subscription_identity(session: Session) -> str:
    """What tells this subscription from the customer's others, beside its plan and price:
    the merchant's description of it (when Stripe has one) and the day it began."""
    snapshot = session.subscription_snapshot
    description = " ".join(str(snapshot.get("description") or "").split())
    started = day(snapshot.get("start_date"))
    if description and started:
        return _("%(description)s, started on %(date)s") % {
            "description": description,
            "date": started,
        }
    if started:
        return _("Started on %(date)s") % {"date": started}
    return description


def subscription_name(session: Session) -> str:
    """The subscription in one line: "Pro · $29.00 / month · Started on Jan 3, 2026"."""
    summary = plan(session)
    parts = [summary["name"], f"{summary['price']} / {summary['per']}", summary["identity"]]
    return " · ".join(part for part in parts if part)


def _discount_text(params: dict[str, Any], session: Session) -> dict[str, str]:
    months = params.get("duration_months") or 1
    for_months = ngettext("for %(n)s month", "for %(n)s months", months) % {"n": months}
    if params.get("duration_years"):
        # A yearly price's discount runs whole years (offers.eligibility): "20% off your
        # next year".
        years = params["duration_years"]
        for_months = ngettext("your next year", "your next %(n)s years", years) % {"n": years}
    price = session.price_amount or 0
    # What the subscriber pays now (a discount in force included), and what the offer's
    # policy does with that discount: replaced, added to, or (skip) there is none.
    policy = params.get("policy", "skip_if_discounted")
    in_force = discounts_in_force(session)
    paying = discounted(price, in_force, session.price_currency)
    base = paying if policy == "stack" else price
    own = bool(session.subscription_snapshot.get("discount_coupon_ids"))
    # Once the offer's coupon ends: a replaced discount of the subscription's own is gone;
    # a customer's discount (or one stacked onto) applies again.
    back_to = price if policy == "replace" and own else paying
    if params.get("percent_off"):
        percent = params["percent_off"]
        new_price = round(base * (100 - percent) / 100)
        title = _("%(percent)s%% off %(for_months)s") % {
            "percent": percent,
            "for_months": for_months,
        }
    elif params.get("amount_off"):
        new_price = max(0, base - params["amount_off"])
        title = _("%(amount)s off %(for_months)s") % {
            "amount": money(params["amount_off"], params.get("currency") or session.price_currency),
            "for_months": for_months,
        }
    else:
        label = params.get("label") or _("A special discount")
        return {"title": label, "cost": _("Applied to your next invoices"), "ends": ""}
    words = {
        "new": money(new_price, session.price_currency),
        "per": per_interval(session.price_interval),
        "old": money(paying, session.price_currency),
    }
    if in_force and policy == "replace":
        cost = _(
            "You pay %(new)s per %(per)s instead of %(old)s, in place of your current discount"
        )
    elif in_force and policy == "stack":
        cost = _("You pay %(new)s per %(per)s instead of %(old)s, on top of your current discount")
    else:
        cost = _("You pay %(new)s per %(per)s instead of %(old)s")
    return {
        "title": title,
        "cost": cost % words,
        "ends": _("Then back to %(old)s per %(per)s")
        % {
            "old": money(back_to, session.price_currency),
            "per": per_interval(session.price_interval),
        },
    }


def next_invoice_lines(preview: dict[str, Any] | None) -> dict[str, str]:
    """A plan change's next invoice in words (``previews``): ``charge`` (what and when)
    and ``note`` (the proration in it); empty when Stripe gave no preview."""
    if not preview:
        return {"charge": "", "note": ""}
    amount = money(preview["amount_due"], preview["currency"])
    behavior = preview.get("proration_behavior")
    if behavior == "always_invoice":
        charge = (
            _("You pay %(amount)s now for the rest of this period.") % {"amount": amount}
            if preview["amount_due"]
            else _("Nothing to pay now.")
        )
    else:
        charge = _("Your next bill: %(amount)s on %(date)s.") % {
            "amount": amount,
            "date": day(preview.get("invoice_at")),
        }
    proration = preview.get("proration_amount") or 0
    note = ""
    if proration < 0:
        note = _("Includes a credit of %(amount)s for the unused time on your plan.") % {
            "amount": money(-proration, preview["currency"])
        }
    elif proration > 0:
        note = _("Includes %(amount)s for the difference over the rest of this period.") % {
            "amount": money(proration, preview["currency"])
        }
    elif behavior == "none":
        note = _("The new price applies from your next billing period.")
    return {"charge": charge, "note": note}


def discounts_in_force(session: Session) -> list[dict[str, Any]]:
    """The discounts the subscription's price is paid with now: its own, else its
    customer's (as Stripe applies them), each as the snapshot holds it."""
    snapshot = session.subscription_snapshot
    own = [d for d in snapshot.get("discounts") or [] if isinstance(d, dict)]
    customer = snapshot.get("customer_discount")
    chosen = own or ([customer] if isinstance(customer, dict) else [])
    now = timezone.now()
    return [d for d in chosen if not d.get("ends_at") or parse_datetime(d["ends_at"]) > now]


def discounted(amount: int, discounts: list[dict[str, Any]], currency: str) -> int:
    """``amount`` less each discount in turn (percent of what remains, or a fixed amount in
    the same currency), as Stripe's invoices apply them."""
    for discount in discounts:
        if discount.get("percent_off") is not None:
            amount -= round(amount * discount["percent_off"] / 100)
        elif discount.get("amount_off") and (discount.get("currency") or "") == currency:
            amount -= min(discount["amount_off"], amount)
    return max(amount, 0)


def _deflection_text(action: str, params: dict[str, Any], session: Session) -> dict[str, str]:
    """A contact or redirect offer in the merchant's words, where they gave them."""
    stays = _("Your subscription stays as it is")
    if action == Action.CONTACT:
        return {
            "title": params.get("label") or _("Talk to us first"),
            "cost": params.get("message") or "",
            "ends": stays,
        }
    return {
        "title": params.get("label") or _("See your options on our website"),
        "cost": params.get("message")
        or _("Continue on the %(name)s website") % {"name": session.tenant.name},
        "ends": stays,
    }


def offer_cards(session: Session) -> list[dict[str, Any]]:
    """The shown offers, each with what it is, what it costs and when it ends."""
    cards = []
    for offer in session.offers_considered:
        if not offer.get("shown"):
            continue
        params, action = offer.get("params") or {}, offer["action"]
        card: dict[str, Any] = {"action": action, "params": params}
        if action == Action.PAUSE:
            options = params.get("months_options") or [1]
            card.update(
                title=_("Pause your subscription"),
                cost=_("No payments while paused"),
                ends=_("Your plan picks up again when the pause ends"),
                pause_options=[
                    {
                        "months": m,
                        "label": ngettext("%(n)s month", "%(n)s months", m) % {"n": m},
                        "until": day(timezone.now() + timedelta(days=30 * m)),
                    }
                    for m in options
                ],
            )
        elif action == Action.DISCOUNT:
            card.update(_discount_text(params, session))
        elif action == Action.DOWNGRADE:
            card.update(
                title=_("Switch to %(plan)s")
                % {"plan": params.get("product_name") or _("a smaller plan")},
                cost=_("%(new)s per %(per)s instead of %(old)s")
                % {
                    "new": money(
                        params.get("amount"), params.get("currency") or session.price_currency
                    ),
                    "per": per_interval(params.get("interval") or session.price_interval),
                    "old": money(session.price_amount, session.price_currency),
                },
                ends=_("Keep using the product on a lighter plan, for as long as you like"),
                **next_invoice_lines(params.get("next_invoice")),
            )
        elif action in (Action.CONTACT, Action.REDIRECT):
            card.update(_deflection_text(action, params, session))
        elif action == Action.EXTEND_TRIAL:
            days = params.get("days") or 14
            trial_end = parse_datetime(session.subscription_snapshot.get("trial_end") or "")
            new_end = (trial_end or timezone.now()) + timedelta(days=days)
            card.update(
                title=ngettext(
                    "%(n)s more day of free trial", "%(n)s more days of free trial", days
                )
                % {"n": days},
                cost=_("Free until %(date)s") % {"date": day(new_end)},
                ends=_("Billing starts after the new trial end"),
            )
        cards.append(card)
    return cards


def cancel_card(session: Session, config: Any) -> dict[str, str]:
    from offers.selectors import cancel_at_period_end

    at_end = cancel_at_period_end(config=config)
    renews = day(session.subscription_snapshot.get("current_period_end"))
    return {
        "title": _("No thanks, cancel my subscription"),
        "detail": _("You keep access until %(date)s.") % {"date": renews}
        if at_end and renews
        else _("Your subscription ends right away."),
    }


def choice(session: Session) -> dict[str, str]:
    """The chosen action in one sentence, for the feedback and confirm steps."""
    params = session.action_params
    match session.selected_action:
        case Action.PAUSE:
            months = params.get("months", 1)
            return {
                "title": ngettext("Pause for %(n)s month", "Pause for %(n)s months", months)
                % {"n": months},
                "button": _("Pause my subscription"),
            }
        case Action.DISCOUNT:
            return {
                "title": _discount_text(params, session)["title"],
                "button": _("Apply the discount"),
            }
        case Action.DOWNGRADE:
            return {
                "title": _("Switch to %(plan)s") % {"plan": params.get("product_name") or ""},
                "button": _("Switch my plan"),
                **next_invoice_lines(params.get("next_invoice")),
            }
        case Action.EXTEND_TRIAL:
            return {
                "title": ngettext(
                    "Extend my trial by %(n)s day",
                    "Extend my trial by %(n)s days",
                    params.get("days", 14),
                )
                % {"n": params.get("days", 14)},
                "button": _("Extend my trial"),
            }
        case Action.CONTACT | Action.REDIRECT:
            return {
                "title": _deflection_text(session.selected_action, params, session)["title"],
                "button": _("Accept this offer"),
            }
    return {
        # Whole sentences: word order differs between languages.
        "title": _("Cancel my subscription at the end of the current period")
        if params.get("at_period_end")
        else _("Cancel my subscription now"),
        "button": _("Cancel my subscription"),
    }


def result(session: Session) -> dict[str, str]:
    details = session.outcome_details or {}
    if session.status == "failed":
        return {
            "title": _("We could not complete that"),
            "text": _(
                "Nothing was changed on your subscription. "
                "Please try again later or contact support."
            ),
        }
    match session.outcome_action:
        case Action.PAUSE:
            text = _("Your subscription is paused until %(date)s.") % {
                "date": day(details.get("resume_date"))
            }
        case Action.DISCOUNT:
            text = _("Your discount is applied to your next invoices.")
        case Action.DOWNGRADE:
            text = _("You are now on the new plan at %(price)s.") % {
                "price": money(details.get("new_amount"), session.price_currency)
            }
        case Action.EXTEND_TRIAL:
            text = _("Your trial now ends on %(date)s.") % {
                "date": day(details.get("new_trial_end"))
            }
        case Action.CONTACT:
            return {
                "title": _("We're here to help"),
                "text": details.get("message") or _("Your subscription stays as it is"),
            }
        case Action.REDIRECT:
            return {
                "title": _("Your subscription stays as it is"),
                "text": details.get("message")
                or _("Continue on the %(name)s website") % {"name": session.tenant.name},
            }
        case _:
            if details.get("cancel_at_period_end"):
                text = _("Your subscription is canceled. You keep access until %(date)s.") % {
                    # Access lasts to the end of the paid period; canceled_at is when
                    # the cancellation was asked for.
                    "date": day(
                        session.subscription_snapshot.get("current_period_end")
                        or details.get("canceled_at")
                    )
                }
            else:
                text = _("Your subscription is canceled.")
    return {"title": _("Done"), "text": text}


def result_links(session: Session) -> list[dict[str, Any]]:
    """A deflection's ways onward on the result page: the contact offer's link and
    scheduling page, or the redirect offer's page; none for other outcomes."""
    details = session.outcome_details or {}
    if session.status != "completed":
        return []
    if session.outcome_action == Action.CONTACT:
        links = []
        link = details.get("link") or ""
        if link:
            email = link.startswith("mailto:")
            links.append(
                {
                    "id": "contact-link",
                    "href": link,
                    "label": _("Email us") if email else _("Contact us"),
                    "new_window": not email,
                }
            )
        if details.get("scheduling_url"):
            links.append(
                {
                    "id": "scheduling-link",
                    "href": details["scheduling_url"],
                    "label": _("Book a call"),
                    "new_window": True,
                }
            )
        return links
    if session.outcome_action == Action.REDIRECT and details.get("url"):
        return [
            {
                "id": "redirect-link",
                "href": details["url"],
                "label": details.get("label") or _("Continue"),
                "new_window": False,
            }
        ]
    return []


def support_email() -> str:
    return getattr(settings, "DEFAULT_FROM_EMAIL", "")


def plan_lines(session: Session) -> dict[str, str]:
    """The plan box's two lines as text (``flow/_plan.html``), for the flow API."""
    summary = plan(session)
    if summary["trialing"] and summary["trial_ends_on"]:
        period = _("Free trial until %(date)s") % {"date": summary["trial_ends_on"]}
    elif summary["renews_on"]:
        period = _("Current period ends %(date)s") % {"date": summary["renews_on"]}
    else:
        period = ""
    return {"price": f"{summary['price']} / {summary['per']}", "period": period}


def offer_cards_with_ids(session: Session) -> list[tuple[str, dict[str, Any]]]:
    """``offer_cards`` paired with the id of the offer each card shows."""
    ids = [offer["offer_id"] for offer in session.offers_considered if offer.get("shown")]
    return list(zip(ids, offer_cards(session), strict=True))
