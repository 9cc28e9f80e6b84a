"""The one place offer parameters and reason lists are checked.

Each ``*_clean`` function returns a normalised copy (lower-case currencies, filled-in
defaults) or raises ``ValidationError`` listing every problem in words a merchant
configuring their flow can act on.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode, urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email

from tenants.selectors import return_url_allowed

from .models import TRIAL_EXTENSION_DAYS_MAX, FlowConfig, OfferAction, Reason

PAUSE_MONTHS_MIN, PAUSE_MONTHS_MAX = 1, 12
PAUSE_OPTIONS_MAX = 3
PERCENT_OFF_MIN, PERCENT_OFF_MAX = 1, 100
DISCOUNT_MONTHS_MIN, DISCOUNT_MONTHS_MAX = 1, 36
TRIAL_DAYS_MIN, TRIAL_DAYS_MAX = 1, TRIAL_EXTENSION_DAYS_MAX
INTERVALS = ("day", "week", "month", "year")
LABEL_MAX = 100
ID_MAX = 255
MESSAGE_MAX = 500
URL_MAX = 2000

_CURRENCY = re.compile(r"^[a-z]{3}$")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _int_in_range(
    errors: list[str], value: Any, what: str, low: int, high: int | None = None
) -> None:
    if not _is_int(value):
        errors.append(f"{what} must be a whole number (got {value!r}).")
    elif value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        errors.append(f"{what} must be {bounds} (got {value}).")


def _currency(errors: list[str], value: Any, what: str) -> str:
    if isinstance(value, str) and _CURRENCY.match(value.lower()):
        return value.lower()
    errors.append(f'{what} must be a three-letter ISO currency code such as "usd" (got {value!r}).')
    return ""


def _id(errors: list[str], value: Any, what: str) -> str:
    if isinstance(value, str) and value.strip() and len(value) <= ID_MAX:
        return value.strip()
    errors.append(f"{what} must be a non-empty string of at most {ID_MAX} characters.")
    return ""


def _check_keys(
    errors: list[str],
    params: dict,
    allowed: tuple[str, ...],
    what: str,
    required: tuple[str, ...] = (),
) -> None:
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        errors.append(
            f"Unknown key(s) for {what}: {', '.join(unknown)}. Allowed: {', '.join(allowed)}."
        )
    missing = [key for key in required if key not in params]
    if missing:
        errors.append(f"Missing key(s) for {what}: {', '.join(missing)}.")


PAUSE_METHODS = ("pause_collection", "subscription_pause")
PAUSE_BEHAVIORS = ("void", "keep_as_draft", "mark_uncollectible")
DISCOUNT_POLICIES = ("skip_if_discounted", "replace", "stack")


def _pause_how(params: dict, errors: list[str]) -> dict:
    """How Stripe pauses: ``pause_collection`` (the default; ``behavior`` void by default)
    or ``subscription_pause`` (Stripe's pause endpoint, which takes no behavior). Absent
    keys stay absent: their defaults are the gateway's."""
    method = params.get("method", "pause_collection")
    if method not in PAUSE_METHODS:
        errors.append(f"method must be one of {', '.join(PAUSE_METHODS)} (got {method!r}).")
        return {}
    if method == "subscription_pause":
        if "behavior" in params:
            errors.append(
                "behavior goes with method pause_collection only: Stripe's pause endpoint "
                "makes no invoices while paused."
            )
        return {"method": method}
    behavior = params.get("behavior", "void")
    if behavior not in PAUSE_BEHAVIORS:
        errors.append(f"behavior must be one of {', '.join(PAUSE_BEHAVIORS)} (got {behavior!r}).")
        return {}
    # Only what the merchant said is kept: an offer without them pauses as it always has.
    return {key: params[key] for key in ("method", "behavior") if key in params}


def _pause(params: dict, errors: list[str]) -> dict:
    _check_keys(
        errors,
        params,
        ("months_options", "method", "behavior"),
        "a pause offer",
        required=("months_options",),
    )
    how = _pause_how(params, errors)
    options = params.get("months_options")
    if "months_options" not in params:
        return {}
    if not isinstance(options, list) or not 1 <= len(options) <= PAUSE_OPTIONS_MAX:
        errors.append(
            f"months_options must be a list of 1 to {PAUSE_OPTIONS_MAX} pause lengths in "
            f"months, e.g. [1, 2, 3]."
        )
        return {}
    for months in options:
        _int_in_range(errors, months, "Each pause length", PAUSE_MONTHS_MIN, PAUSE_MONTHS_MAX)
    if len(set(map(repr, options))) != len(options):
        errors.append("months_options lists the same pause length twice.")
    return {"months_options": list(options), **how}


def _policy(params: dict, errors: list[str]) -> str:
    policy = params.get("policy", "skip_if_discounted")
    if policy not in DISCOUNT_POLICIES:
        errors.append(f"policy must be one of {', '.join(DISCOUNT_POLICIES)} (got {policy!r}).")
    return policy


def _discount(params: dict, errors: list[str]) -> dict:
    """A discount's coupon terms and its ``policy`` toward a discount already in force:
    ``skip_if_discounted`` (the default), ``replace`` or ``stack``."""
    policy = _policy(params, errors)
    terms = {key: value for key, value in params.items() if key != "policy"}
    cleaned = _discount_terms(terms, errors)
    return {**cleaned, "policy": policy} if cleaned and "policy" in params else cleaned


def _discount_terms(params: dict, errors: list[str]) -> dict:
    kinds = [key for key in ("percent_off", "amount_off", "coupon_id") if key in params]
    if len(kinds) != 1:
        errors.append(
            "A discount offer needs exactly one of percent_off (with duration_months), "
            "amount_off (with currency and duration_months) or coupon_id (an existing "
            "Stripe coupon)."
        )
        _check_keys(
            errors,
            params,
            ("percent_off", "amount_off", "currency", "duration_months", "coupon_id", "label"),
            "a discount offer",
        )
        return {}
    kind = kinds[0]
    cleaned: dict[str, Any] = {}
    if kind == "coupon_id":
        _check_keys(errors, params, ("coupon_id", "label"), "a coupon discount offer")
        cleaned["coupon_id"] = _id(errors, params["coupon_id"], "coupon_id")
        if "label" in params:
            label = params["label"]
            if not isinstance(label, str) or len(label) > LABEL_MAX:
                errors.append(f"label must be a string of at most {LABEL_MAX} characters.")
            else:
                cleaned["label"] = label.strip()
        return cleaned
    if kind == "percent_off":
        _check_keys(
            errors,
            params,
            ("percent_off", "duration_months"),
            "a percentage discount offer",
            required=("duration_months",),
        )
        percent = params["percent_off"]
        if not _is_number(percent) or not PERCENT_OFF_MIN <= percent <= PERCENT_OFF_MAX:
            errors.append(
                f"percent_off must be a number between {PERCENT_OFF_MIN} and "
                f"{PERCENT_OFF_MAX} (got {percent!r})."
            )
        cleaned["percent_off"] = percent
    else:
        _check_keys(
            errors,
            params,
            ("amount_off", "currency", "duration_months"),
            "an amount discount offer",
            required=("currency", "duration_months"),
        )
        _int_in_range(
            errors, params["amount_off"], "amount_off (in the currency's smallest unit)", 1
        )
        cleaned["amount_off"] = params["amount_off"]
        if "currency" in params:
            cleaned["currency"] = _currency(errors, params["currency"], "currency")
    if "duration_months" in params:
        _int_in_range(
            errors,
            params["duration_months"],
            "duration_months",
            DISCOUNT_MONTHS_MIN,
            DISCOUNT_MONTHS_MAX,
        )
        cleaned["duration_months"] = params["duration_months"]
    return cleaned


_TARGET_KEYS = (
    "price_id",
    "amount",
    "currency",
    "interval",
    "interval_count",
    "product_name",
    "from_amount",
    "from_currency",
    "from_interval",
    "from_interval_count",
)
_TARGET_REQUIRED = ("price_id", "amount", "currency", "interval", "from_amount")


def _interval(errors: list[str], value: Any, what: str) -> str:
    if value in INTERVALS:
        return value
    errors.append(f"{what} must be one of {', '.join(INTERVALS)} (got {value!r}).")
    return ""


def _target(current_price: str, target: Any, errors: list[str]) -> dict:
    what = f"the downgrade target for {current_price}"
    if not isinstance(target, dict):
        errors.append(f"{what[0].upper()}{what[1:]} must be an object.")
        return {}
    before = len(errors)
    _check_keys(errors, target, _TARGET_KEYS, what, required=_TARGET_REQUIRED)
    if len(errors) != before:
        return {}
    cleaned = {
        "price_id": _id(errors, target["price_id"], f"price_id of {what}"),
        "amount": target["amount"],
        "currency": _currency(errors, target["currency"], f"currency of {what}"),
        "interval": _interval(errors, target["interval"], f"interval of {what}"),
        "interval_count": target.get("interval_count", 1),
        "product_name": target.get("product_name", ""),
        "from_amount": target["from_amount"],
    }
    _int_in_range(errors, cleaned["amount"], f"amount of {what}", 0)
    _int_in_range(errors, cleaned["from_amount"], f"from_amount (the price of {current_price})", 1)
    _int_in_range(errors, cleaned["interval_count"], f"interval_count of {what}", 1)
    if not isinstance(cleaned["product_name"], str) or len(cleaned["product_name"]) > ID_MAX:
        errors.append(f"product_name of {what} must be a string of at most {ID_MAX} characters.")
    # The current price's currency and interval default to the target's: a merchant says
    # them only when they differ, and then the checks below refuse the target.
    cleaned["from_currency"] = (
        _currency(errors, target["from_currency"], "from_currency")
        if "from_currency" in target
        else cleaned["currency"]
    )
    cleaned["from_interval"] = (
        _interval(errors, target["from_interval"], "from_interval")
        if "from_interval" in target
        else cleaned["interval"]
    )
    cleaned["from_interval_count"] = target.get("from_interval_count", cleaned["interval_count"])
    _int_in_range(errors, cleaned["from_interval_count"], "from_interval_count", 1)
    if len(errors) != before:
        return {}
    if cleaned["price_id"] == current_price:
        errors.append(f"{current_price} cannot be downgraded to itself.")
    if cleaned["currency"] != cleaned["from_currency"]:
        errors.append(
            f"{cleaned['price_id']} is in {cleaned['currency']} but {current_price} is in "
            f"{cleaned['from_currency']}: a downgrade keeps the currency."
        )
    if (cleaned["interval"], cleaned["interval_count"]) != (
        cleaned["from_interval"],
        cleaned["from_interval_count"],
    ):
        target_every = _every(cleaned["interval"], cleaned["interval_count"])
        current_every = _every(cleaned["from_interval"], cleaned["from_interval_count"])
        errors.append(
            f"{cleaned['price_id']} bills every {target_every} but {current_price} every "
            f"{current_every}: a downgrade keeps the billing interval."
        )
    if cleaned["amount"] >= cleaned["from_amount"]:
        errors.append(
            f"{cleaned['price_id']} ({cleaned['amount']}) is not cheaper than {current_price} "
            f"({cleaned['from_amount']}): a downgrade target must cost less."
        )
    return cleaned


def _every(interval: str, count: int) -> str:
    return interval if count == 1 else f"{count} {interval}s"


def _downgrade(params: dict, errors: list[str]) -> dict:
    _check_keys(errors, params, ("targets",), "a downgrade offer", required=("targets",))
    targets = params.get("targets")
    if "targets" not in params:
        return {}
    if not isinstance(targets, dict):
        errors.append(
            "targets must be an object mapping a current price id to its target, e.g. "
            '{"price_pro": {"price_id": "price_basic", "amount": 1900, "currency": "usd", '
            '"interval": "month", "product_name": "Basic", "from_amount": 2900}}.'
        )
        return {}
    cleaned = {}
    for current_price, target in targets.items():
        if not isinstance(current_price, str) or not current_price.strip():
            errors.append("A downgrade target is keyed by an empty price id.")
            continue
        cleaned[current_price.strip()] = _target(current_price.strip(), target, errors)
    return {"targets": cleaned}


def _extend_trial(params: dict, errors: list[str]) -> dict:
    _check_keys(errors, params, ("days",), "a trial extension offer", required=("days",))
    if "days" not in params:
        return {}
    _int_in_range(errors, params["days"], "days", TRIAL_DAYS_MIN, TRIAL_DAYS_MAX)
    return {"days": params["days"]}


def _text(errors: list[str], params: dict, key: str, limit: int, *, required: bool) -> str:
    value = params.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > limit:
        errors.append(f"{key} must be a non-empty text of at most {limit} characters.")
        return ""
    return value.strip()


def _https_url(errors: list[str], value: Any, what: str) -> str:
    """An absolute https URL without credentials, or "" with the problem in ``errors``."""
    if not isinstance(value, str) or not value.strip():
        errors.append(f"{what} must be an https:// URL (got {value!r}).")
        return ""
    url = value.strip()
    try:
        URLValidator(schemes=["https"])(url)
        parts = urlsplit(url)
    except (ValidationError, ValueError):
        errors.append(f"{what} must be an https:// URL (got {url!r}).")
        return ""
    if parts.username is not None or parts.password is not None:
        errors.append(f"{what} must not contain a user name or password.")
        return ""
    if len(url) > URL_MAX:
        errors.append(f"{what} must be at most {URL_MAX} characters long.")
        return ""
    return url


def _contact_link(errors: list[str], value: Any) -> str:
    """An https link, a ``mailto:`` link or a bare email address (made a ``mailto:``)."""
    text = value.strip() if isinstance(value, str) else ""
    if text.lower().startswith("mailto:"):
        address, query = text[len("mailto:") :], ""
        if "?" in address:  # subject= and body= are the mail program's business
            address, query = address.split("?", 1)
            query = "?" + query
    elif "@" in text and ":" not in text and "/" not in text:
        address, query = text, ""
    else:
        return _https_url(errors, value, "link (an https:// URL or an email address)")
    try:
        validate_email(address)
    except ValidationError:
        errors.append(f"link must be an https:// URL or an email address (got {value!r}).")
        return ""
    return f"mailto:{address}{query}"


def _contact(params: dict, errors: list[str]) -> dict:
    _check_keys(
        errors,
        params,
        ("message", "link", "email", "scheduling_url", "label"),
        "a contact offer",
        required=("message",),
    )
    links = [key for key in ("link", "email") if key in params]
    if len(links) != 1:
        errors.append(
            "A contact offer needs exactly one of link (an https:// URL or a mailto: link) "
            "or email (an address, shown as a mailto: link)."
        )
    cleaned: dict[str, Any] = {
        "message": _text(errors, params, "message", MESSAGE_MAX, required=True)
    }
    if len(links) == 1:
        cleaned["link"] = _contact_link(errors, params[links[0]])
    if "scheduling_url" in params:
        cleaned["scheduling_url"] = _https_url(errors, params["scheduling_url"], "scheduling_url")
    if "label" in params:
        cleaned["label"] = _text(errors, params, "label", LABEL_MAX, required=True)
    return cleaned


def _redirect(params: dict, errors: list[str], config: FlowConfig | None) -> dict:
    _check_keys(errors, params, ("url", "label", "message"), "a redirect offer", required=("url",))
    cleaned: dict[str, Any] = {}
    if "url" in params:
        url = params["url"]
        if config is None:
            errors.append("A redirect offer is checked against its workspace's allowlist.")
        else:
            cleaned["url"] = _allowed_url(errors, url, config)
    for key, limit in (("label", LABEL_MAX), ("message", MESSAGE_MAX)):
        if key in params:
            cleaned[key] = _text(errors, params, key, limit, required=True)
    return cleaned


def _allowed_url(errors: list[str], url: str, config: FlowConfig) -> str:
    """An https ``url`` on the allowlist of ``config``'s workspace, checked as return
    URLs are (same origin, and the entry's path or below)."""
    before = len(errors)
    url = _https_url(errors, url, "url")
    if len(errors) != before:
        return ""
    allowed, why = return_url_allowed(tenant=config.tenant, url=url, livemode=config.livemode)
    if not allowed:
        errors.append(
            f"url {why}: a redirect offer sends subscribers only to the workspace's own "
            "pages (add its address to the workspace's return URL allowlist)."
        )
        return ""
    if urlsplit(url).fragment:
        errors.append("url must not have a #fragment: the session id is added to its query.")
        return ""
    return url


def redirect_url_with_session(url: str, session_id: str) -> str:
    """The redirect offer's URL with ``session_id=<id>`` added to its query."""
    separator = "&" if urlsplit(url).query else "?"
    return f"{url}{separator}{urlencode({'session_id': session_id})}"


_CLEANERS: dict[str, Callable[[dict, list[str]], dict]] = {
    OfferAction.PAUSE: _pause,
    OfferAction.DISCOUNT: _discount,
    OfferAction.DOWNGRADE: _downgrade,
    OfferAction.EXTEND_TRIAL: _extend_trial,
    OfferAction.CONTACT: _contact,
}


def offer_params_clean(*, action: str, params: Any, config: FlowConfig | None = None) -> dict:
    """Check ``params`` for an offer of ``action``; return them normalised.

    A redirect offer's URL is checked against the allowlist of ``config``'s workspace (in
    its mode), so it needs the configuration the offer belongs to.
    """
    if action == OfferAction.REDIRECT:
        return _cleaned(lambda p, errors: _redirect(p, errors, config), params)
    cleaner = _CLEANERS.get(action)
    if cleaner is None:
        raise ValidationError(
            f"Unknown offer action {action!r}; choose one of {', '.join(OfferAction.values)}.",
            code="invalid_action",
        )
    return _cleaned(cleaner, params)


def _cleaned(cleaner: Callable[[dict, list[str]], dict], params: Any) -> dict:
    if not isinstance(params, dict):
        raise ValidationError("Offer parameters must be a JSON object.", code="invalid_params")
    errors: list[str] = []
    cleaned = cleaner(params, errors)
    if errors:
        raise ValidationError(
            [ValidationError(message, code="invalid_params") for message in errors]
        )
    return cleaned


def reasons_clean(value: Any) -> list[str]:
    """Check a flow's reason list: known codes, each once, at least one."""
    if not isinstance(value, list) or not value:
        raise ValidationError(
            "Reasons must be a non-empty list of reason codes in display order.",
            code="invalid_reasons",
        )
    errors = []
    unknown = [code for code in value if code not in Reason.values]
    if unknown:
        errors.append(
            f"Unknown reason code(s): {', '.join(map(str, unknown))}. "
            f"Known: {', '.join(Reason.values)}."
        )
    repeated = sorted({code for code in value if value.count(code) > 1 and isinstance(code, str)})
    if repeated:
        errors.append(f"Reason code(s) listed twice: {', '.join(repeated)}.")
    if errors:
        raise ValidationError(
            [ValidationError(message, code="invalid_reasons") for message in errors]
        )
    return list(value)
