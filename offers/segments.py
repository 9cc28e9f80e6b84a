"""Segment rules: who a flow is for, checked and matched in one place.

A rule is a JSON object of conditions, all of which must hold; the empty rule matches
every subscription. ``rule_clean`` checks a rule and returns it normalised, or raises
``ValidationError`` listing every problem in words a merchant can act on;
``rule_match`` tells whether a subscription matches and, when it does not, the first
condition that failed and the value it saw; ``flow_select`` tries a configuration's
flows in priority order and records each try (SPEC-style explain-yourself, as
``offers.eligibility`` does for offers).

The rule's shape (every key optional)::

    {
      "price_ids": ["price_pro_year"],          # the subscription's price is one of these
      "product_ids": ["prod_pro"],              # its product is one of these
      "interval": ["year"],                     # or "year": billed per year/month/week/day
      "tenure_days": {"min": 366, "max": 730},  # whole days since the subscription began
      "mrr": [{"currency": "usd", "min": 2000}],  # monthly amount (minor units) per currency
      "trialing": false,                        # trialing now, or not
      "discounted": false,                      # a discount in force on it, or not
      "countries": ["FR", "DE"],                # the customer's address country
      "context": {"plan": "pro", "seats": {"min": 5}, "region": {"in": ["eu", "uk"]}},
      "metadata": {"source": "app"}
    }

A ``context``/``metadata`` condition is a plain value (equal to it; a number also matches
the same number sent as text, since metadata values are text), ``{"in": [...]}`` (equal
to one of them) or ``{"min": n, "max": n}`` (a number within, ends included; one end may
be left out). A key the session was not created with fails its condition.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.dateparse import parse_datetime

from mrrx.recent import RecentReads

from .models import Flow, FlowConfig
from .params import INTERVALS

RULE_KEYS = (
    "price_ids",
    "product_ids",
    "interval",
    "tenure_days",
    "mrr",
    "trialing",
    "discounted",
    "countries",
    "context",
    "metadata",
)
ID_MAX = 255
KEY_MAX = 100
TEXT_MAX = 500
LIST_MAX = 100
DEFAULT_FLOW_NAME = "Default"
# A price's monthly amount: amount x factor / interval count (as analytics counts MRR).
MONTHLY_FACTOR = {
    "day": Fraction(365, 12),
    "week": Fraction(52, 12),
    "month": Fraction(1),
    "year": Fraction(1, 12),
}

_COUNTRY = re.compile(r"^[A-Z]{2}$")
_CURRENCY = re.compile(r"^[a-z]{3}$")

RULE_HELP = (
    "A JSON object of conditions, all of which must hold ({} matches every subscription): "
    '"price_ids": ["price_..."], "product_ids": ["prod_..."], "interval": "year" (or a '
    'list of month/year/week/day), "tenure_days": {"min": 366, "max": 730} (days since '
    'the subscription began), "mrr": {"currency": "usd", "min": 2000, "max": 10000} (the '
    "monthly amount in cents, or a list of those, one per currency), "
    '"trialing": true/false, "discounted": true/false (a discount in force), "countries": '
    '["FR", "DE"] (the customer\'s address), "context": {"plan": "pro", "seats": {"min": '
    '5}, "region": {"in": ["eu", "uk"]}} and "metadata": {...} (keys the session was '
    'created with: a value to equal, {"in": [...]} or {"min": n, "max": n}).'
)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# --- checking ------------------------------------------------------------------------------


def _ids(errors: list[str], value: Any, what: str) -> list[str]:
    if (
        not isinstance(value, list)
        or not 1 <= len(value) <= LIST_MAX
        or not all(isinstance(v, str) and v.strip() and len(v) <= ID_MAX for v in value)
    ):
        errors.append(
            f'{what} must be a list of 1 to {LIST_MAX} Stripe ids, e.g. ["price_123"] '
            f"(got {value!r})."
        )
        return []
    return list(dict.fromkeys(v.strip() for v in value))


def _intervals(errors: list[str], value: Any) -> list[str]:
    values = [value] if isinstance(value, str) else value
    if (
        not isinstance(values, list)
        or not values
        or not all(isinstance(v, str) and v.lower() in INTERVALS for v in values)
    ):
        errors.append(
            f"interval must be one of {', '.join(INTERVALS)}, or a list of them (got {value!r})."
        )
        return []
    return list(dict.fromkeys(v.lower() for v in values))


def _range(
    errors: list[str], value: Any, what: str, *, whole: bool, extra: tuple[str, ...] = ()
) -> dict[str, Any]:
    """``{"min": a, "max": b}`` (one end may be left out), numbers of at least 0 when
    ``whole`` (days, amounts), else any numbers."""
    if not isinstance(value, dict):
        errors.append(f'{what} must be an object such as {{"min": 1, "max": 10}} (got {value!r}).')
        return {}
    unknown = sorted(set(value) - {"min", "max", *extra})
    if unknown:
        allowed = ", ".join(("min", "max", *extra))
        errors.append(f"{what}: unknown key(s) {', '.join(unknown)}; allowed: {allowed}.")
    bounds = {key: value[key] for key in ("min", "max") if key in value}
    if not bounds:
        errors.append(f"{what} needs min, max or both.")
        return {}
    for key, bound in bounds.items():
        if whole and (not _is_int(bound) or bound < 0):
            errors.append(f"{what}.{key} must be a whole number of at least 0 (got {bound!r}).")
            return {}
        if not whole and not _is_number(bound):
            errors.append(f"{what}.{key} must be a number (got {bound!r}).")
            return {}
    if "min" in bounds and "max" in bounds and bounds["min"] > bounds["max"]:
        errors.append(f"{what}: min ({bounds['min']}) is more than max ({bounds['max']}).")
        return {}
    return bounds


def _mrr(errors: list[str], value: Any) -> list[dict[str, Any]]:
    entries = [value] if isinstance(value, dict) else value
    if not isinstance(entries, list) or not entries:
        errors.append(
            'mrr must be {"currency": "usd", "min": ..., "max": ...} or a list of those, '
            f"one per currency (got {value!r})."
        )
        return []
    cleaned: list[dict[str, Any]] = []
    for entry in entries:
        before = len(errors)
        if not isinstance(entry, dict):
            errors.append(f'Each mrr entry must be an object with "currency" (got {entry!r}).')
            continue
        currency = entry.get("currency")
        if not isinstance(currency, str) or not _CURRENCY.match(currency.lower()):
            errors.append(
                'Each mrr entry needs "currency", a three-letter ISO code such as "usd" '
                f"(got {currency!r})."
            )
            continue
        currency = currency.lower()
        bounds = _range(errors, entry, f"mrr ({currency})", whole=True, extra=("currency",))
        if any(c["currency"] == currency for c in cleaned):
            errors.append(f"mrr names {currency} twice.")
        if len(errors) == before:
            cleaned.append({"currency": currency, **bounds})
    return cleaned


def _countries(errors: list[str], value: Any) -> list[str]:
    if (
        not isinstance(value, list)
        or not 1 <= len(value) <= LIST_MAX * 3
        or not all(isinstance(v, str) and _COUNTRY.match(v.strip().upper()) for v in value)
    ):
        errors.append(
            'countries must be a list of two-letter ISO country codes, e.g. ["FR", "DE"] '
            f"(got {value!r})."
        )
        return []
    return list(dict.fromkeys(v.strip().upper() for v in value))


def _scalar_ok(value: Any) -> bool:
    if isinstance(value, str):
        return len(value) <= TEXT_MAX
    return isinstance(value, bool) or _is_number(value)


def _attribute(errors: list[str], value: Any, what: str) -> Any:
    if _scalar_ok(value):
        return value
    if isinstance(value, dict) and "in" in value:
        options = value["in"]
        if set(value) != {"in"}:
            errors.append(f'{what}: "in" stands alone (got keys {", ".join(sorted(value))}).')
            return None
        if (
            not isinstance(options, list)
            or not 1 <= len(options) <= LIST_MAX
            or not all(_scalar_ok(o) for o in options)
        ):
            errors.append(
                f'{what}: "in" must be a list of 1 to {LIST_MAX} texts, numbers or true/false '
                f"(got {options!r})."
            )
            return None
        return {"in": options}
    if isinstance(value, dict):
        bounds = _range(errors, value, what, whole=False)
        return bounds or None
    errors.append(
        f'{what} must be a text, a number, true/false, {{"in": [...]}} or '
        f'{{"min": n, "max": n}} (got {value!r}).'
    )
    return None


def _attributes(errors: list[str], value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict) or not value:
        errors.append(
            f'{where} must be an object of {where} keys and conditions, e.g. {{"plan": "pro"}} '
            f"(got {value!r})."
        )
        return {}
    cleaned = {}
    for key, condition in value.items():
        if not key.strip() or len(key) > KEY_MAX:
            errors.append(f"{where} keys must be non-empty and at most {KEY_MAX} characters.")
            continue
        before = len(errors)
        result = _attribute(errors, condition, f"{where}.{key}")
        if len(errors) == before:
            cleaned[key] = result
    return cleaned


def _flag(errors: list[str], value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        errors.append(f"{what} must be true or false (got {value!r}).")
    return bool(value)


def rule_clean(rule: Any) -> dict[str, Any]:
    """Check a segment rule; return it normalised (lists for ``interval`` and ``mrr``,
    upper-case countries, lower-case currencies and intervals, duplicates dropped)."""
    if rule is None:
        return {}
    if not isinstance(rule, dict):
        raise ValidationError(
            "A segment rule must be a JSON object of conditions ({} matches everyone).",
            code="invalid_rule",
        )
    errors: list[str] = []
    unknown = sorted(set(rule) - set(RULE_KEYS))
    if unknown:
        errors.append(
            f"Unknown condition(s): {', '.join(unknown)}. Allowed: {', '.join(RULE_KEYS)}."
        )
    cleaned: dict[str, Any] = {}
    for key in RULE_KEYS:
        if key not in rule:
            continue
        value = rule[key]
        if key in ("price_ids", "product_ids"):
            cleaned[key] = _ids(errors, value, key)
        elif key == "interval":
            cleaned[key] = _intervals(errors, value)
        elif key == "tenure_days":
            cleaned[key] = _range(errors, value, "tenure_days", whole=True)
        elif key == "mrr":
            cleaned[key] = _mrr(errors, value)
        elif key in ("trialing", "discounted"):
            cleaned[key] = _flag(errors, value, key)
        elif key == "countries":
            cleaned[key] = _countries(errors, value)
        else:
            cleaned[key] = _attributes(errors, value, key)
    if errors:
        raise ValidationError(errors, code="invalid_rule")
    return cleaned


def rule_uses_country(rule: dict[str, Any]) -> bool:
    return "countries" in (rule or {})


# --- matching ------------------------------------------------------------------------------


def monthly_amount(amount: Any, interval: Any, interval_count: Any) -> Fraction | None:
    """A price's amount per month (exact), or None for an interval we cannot convert."""
    factor = MONTHLY_FACTOR.get(str(interval or ""))
    if factor is None or not _is_int(amount):
        return None
    count = interval_count if _is_int(interval_count) and interval_count > 0 else 1
    return Fraction(amount) * factor / count


def tenure_days(subscription: dict[str, Any], now: datetime) -> int | None:
    start = subscription.get("start_date")
    started = parse_datetime(start) if isinstance(start, str) else start
    if not isinstance(started, datetime):
        return None
    return max(0, (now - started).days)


def _as_number(value: Any) -> float | None:
    if _is_number(value):
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _equals(actual: Any, expected: Any) -> bool:
    if isinstance(expected, bool) or isinstance(actual, bool):
        if isinstance(actual, str):
            return actual.strip().lower() == str(expected).lower()
        if isinstance(expected, str):
            return expected.strip().lower() == str(actual).lower()
        return actual is expected
    if _is_number(expected) or _is_number(actual):
        a, e = _as_number(actual), _as_number(expected)
        return a is not None and e is not None and a == e
    return actual == expected


def _in_range(value: Any, bounds: dict[str, Any]) -> bool:
    number = value if isinstance(value, Fraction) else _as_number(value)
    if number is None:
        return False
    return ("min" not in bounds or number >= bounds["min"]) and (
        "max" not in bounds or number <= bounds["max"]
    )


def _attribute_holds(actual: Any, condition: Any) -> bool:
    if isinstance(condition, dict) and "in" in condition:
        return any(_equals(actual, option) for option in condition["in"])
    if isinstance(condition, dict):
        return _in_range(actual, condition)
    return _equals(actual, condition)


def _json_value(value: Any) -> Any:
    if isinstance(value, Fraction):
        return round(float(value), 2)
    return value


@dataclass(frozen=True)
class RuleResult:
    matched: bool
    # The first condition that failed: {"condition", "expected", "value"}; None if matched.
    failed: dict[str, Any] | None = None


def _fail(condition: str, expected: Any, value: Any) -> RuleResult:
    return RuleResult(
        matched=False,
        failed={"condition": condition, "expected": expected, "value": _json_value(value)},
    )


def rule_match(
    rule: dict[str, Any],
    *,
    subscription: dict[str, Any],
    context: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    now: datetime,
) -> RuleResult:
    """Whether the session's ``subscription`` snapshot (with the ``context`` and
    ``metadata`` it was created with) meets every condition of a cleaned ``rule``; the
    conditions are tried in ``RULE_KEYS`` order and the first failing one is reported."""
    for key in RULE_KEYS:
        if key not in rule:
            continue
        expected = rule[key]
        if key == "price_ids":
            value = subscription.get("price_id")
            if value not in expected:
                return _fail(key, expected, value)
        elif key == "product_ids":
            value = subscription.get("product_id")
            if value not in expected:
                return _fail(key, expected, value)
        elif key == "interval":
            value = subscription.get("interval")
            if value not in expected:
                return _fail(key, expected, value)
        elif key == "tenure_days":
            days = tenure_days(subscription, now)
            if days is None or not _in_range(days, expected):
                return _fail(key, expected, days)
        elif key == "mrr":
            currency = subscription.get("currency")
            monthly = monthly_amount(
                subscription.get("amount"),
                subscription.get("interval"),
                subscription.get("interval_count"),
            )
            entry = next((e for e in expected if e["currency"] == currency), None)
            if entry is None or monthly is None or not _in_range(monthly, entry):
                value = (
                    None
                    if monthly is None
                    else {"currency": currency, "amount": _json_value(monthly)}
                )
                return _fail(key, expected, value)
        elif key == "trialing":
            value = subscription.get("status") == "trialing"
            if value != expected:
                return _fail(key, expected, value)
        elif key == "discounted":
            value = bool(subscription.get("discount_coupon_ids"))
            if value != expected:
                return _fail(key, expected, value)
        elif key == "countries":
            value = subscription.get("customer_country") or None
            if value not in expected:
                return _fail(key, expected, value)
        else:
            given = (context if key == "context" else metadata) or {}
            for name, condition in expected.items():
                value = given.get(name)
                if name not in given or not _attribute_holds(value, condition):
                    return _fail(f"{key}.{name}", condition, value)
    return RuleResult(matched=True)


# Each configuration's enabled flows, by its id, as this process read them lately: every
# session created is routed through them. Flows and configurations saved or deleted here
# forget them.
RECENT_FLOWS: RecentReads[tuple[Flow, ...]] = RecentReads()


def flows_enabled(config: FlowConfig) -> list[Flow]:
    """The configuration's enabled flows in the order they are tried."""
    return list(
        RECENT_FLOWS.get(
            config.pk,
            lambda: tuple(config.flows.filter(enabled=True).order_by("priority", "id")),
        )
    )


def flows_use_country(config: FlowConfig) -> bool:
    """Whether any enabled flow's rule asks for the customer's country."""
    return any(rule_uses_country(flow.rule) for flow in flows_enabled(config))


def flow_select(
    *,
    config: FlowConfig,
    subscription: dict[str, Any],
    context: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    now: datetime,
) -> tuple[Flow | None, dict[str, Any]]:
    """The first enabled flow (by priority) whose rule matches, or None for the default
    flow; with the record of each flow tried, as a session keeps it in ``flow_match``::

        {"flow_id": "flw_..." or "", "flow_name": "..." or "Default",
         "tried": [{"flow_id", "name", "matched": false,
                    "failed": {"condition", "expected", "value"}}, ...,
                   {"flow_id", "name", "matched": true}]}

    Flows after the one that matched are not tried.
    """
    tried: list[dict[str, Any]] = []
    for flow in flows_enabled(config):
        result = rule_match(
            flow.rule or {}, subscription=subscription, context=context, metadata=metadata, now=now
        )
        entry: dict[str, Any] = {"flow_id": flow.id, "name": flow.name, "matched": result.matched}
        if result.failed is not None:
            entry["failed"] = result.failed
        tried.append(entry)
        if result.matched:
            return flow, {"flow_id": flow.id, "flow_name": flow.name, "tried": tried}
    return None, {"flow_id": "", "flow_name": DEFAULT_FLOW_NAME, "tried": tried}


def match_explained(match: dict[str, Any]) -> list[str]:
    """``flow_match`` in sentences, for admin: one per flow tried, then the outcome."""
    lines = []
    for entry in match.get("tried") or []:
        name = entry.get("name") or entry.get("flow_id")
        if entry.get("matched"):
            lines.append(f"{name}: matched.")
            continue
        failed = entry.get("failed") or {}
        lines.append(
            f"{name}: no, {failed.get('condition')} is {_shown(failed.get('value'))} "
            f"(the rule wants {_shown(failed.get('expected'))})."
        )
    if not match.get("flow_id"):
        lines.append(f"No flow matched: the {DEFAULT_FLOW_NAME.lower()} flow is used.")
    return lines


def _shown(value: Any) -> str:
    if value is None:
        return "unknown"
    return json.dumps(value, sort_keys=True)
