"""The one module that talks to Stripe.

Everything else in MRRX sees our own frozen dataclasses and :class:`StripeGatewayError`,
never a Stripe object or exception. Requests go through a ``StripeClient`` per workspace
connection, on a pinned API version, without stripe-python's own retries (retrying is
the caller's decision: Celery retries transient errors, nothing retries permanent ones).

Writes are safe to repeat. Each carries an idempotency key derived from the caller's
(``"<session id>:<action>"``), and each also records that key in the subscription's
metadata (``mrrx_action``) so that a retry after a lost response sees the write already
done and reports it, rather than acting again with different parameters (a trial
extension computed from an already-extended trial, say). After writing, the subscription
is read back and the outcome is computed from what Stripe says.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache, lru_cache
from typing import Any
from urllib.parse import quote

import stripe
from django.conf import settings
from stripe.oauth_error import OAuthError

from mrrx.formats import iso_timestamp

logger = logging.getLogger(__name__)

# The API version stripe-python 16.1.0 is typed for. Pinned here so that upgrading the
# library never changes the shapes we parse without someone deciding it should.
STRIPE_API_VERSION = "2026-10-28.endive"

# Survey reason -> Stripe's cancellation_details.feedback.
CANCELLATION_FEEDBACK: dict[str, str] = {
    "too_expensive": "too_expensive",
    "not_using_enough": "unused",
    "missing_features": "missing_features",
    "switching_competitor": "switched_service",
    "technical_issues": "low_quality",
    "business_closing": "other",
    "other": "other",
}
# The values Stripe accepts for cancellation_details.feedback.
STRIPE_FEEDBACK_VALUES = frozenset(
    {
        "customer_service",
        "low_quality",
        "missing_features",
        "other",
        "switched_service",
        "too_complex",
        "too_expensive",
        "unused",
    }
)

# Metadata keys MRRX writes on a subscription it changes.
META_ACTION = "mrrx_action"
META_ACTION_AT = "mrrx_action_at"
META_PREVIOUS_PRICE = "mrrx_previous_price_id"
META_ORIGINAL_TRIAL_END = "mrrx_original_trial_end"

# Stripe allows four levels of expansion: customer, product name and discounts in one read.
_SUBSCRIPTION_EXPAND = ["customer", "items.data.price.product", "discounts"]
_GONE_STATUSES = frozenset({"canceled", "incomplete_expired"})
_COMMENT_MAX = 5000
# How old a signed webhook may be (Stripe's own default): older ones could be replays.
WEBHOOK_TOLERANCE_SECONDS = 300


# --- Our shapes ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Subscription:
    id: str
    customer_id: str
    customer_email: str | None
    status: str  # trialing | active | past_due | canceled | ...
    item_id: str  # the (first) subscription item
    price_id: str
    product_id: str
    product_name: str  # "" when Stripe sent the product unexpanded (inbound events)
    amount: int  # unit_amount in minor units
    currency: str
    interval: str  # month | year | week | day
    interval_count: int
    current_period_end: datetime | None  # from the item (current API)
    trial_end: datetime | None
    discount_coupon_ids: tuple[str, ...]
    paused: bool  # pause_collection is set
    pause_resumes_at: datetime | None
    cancel_at_period_end: bool
    canceled_at: datetime | None
    livemode: bool


@dataclass(frozen=True)
class Price:
    id: str
    product_id: str
    product_name: str
    amount: int
    currency: str
    interval: str
    interval_count: int
    active: bool


@dataclass(frozen=True)
class OAuthGrant:
    """What Stripe's OAuth token exchange tells us about the connected account."""

    account_id: str
    livemode: bool
    scope: str


class StripeGatewayError(Exception):
    """A Stripe failure in our terms.

    ``code`` is one of ours (``subscription_not_found``, ``invalid_customer``,
    ``action_not_available``, ``stripe_error``); ``transient`` says whether trying again
    later may succeed (429, 5xx, connection errors, timeouts) or never will.
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        transient: bool = False,
        stripe_code: str | None = None,
        stripe_type: str | None = None,
        http_status: int | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.transient = transient
        self.stripe_code = stripe_code
        self.stripe_type = stripe_type
        self.http_status = http_status
        self.param = param

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(code={self.code!r}, message={self.message!r}, "
            f"transient={self.transient}, stripe_code={self.stripe_code!r}, "
            f"http_status={self.http_status!r})"
        )

    @property
    def details(self) -> dict[str, Any]:
        """What a client may be told beyond the message."""
        return {
            k: v
            for k, v in {"stripe_code": self.stripe_code, "param": self.param}.items()
            if v is not None
        }


class StripeNotConnected(StripeGatewayError):
    """The workspace has no Stripe connection for that mode."""

    def __init__(self, message: str) -> None:
        super().__init__("stripe_error", message, transient=False)


class WebhookSignatureInvalid(Exception):
    """An inbound Stripe webhook whose signature does not verify."""


# --- Clients -------------------------------------------------------------------------------
@cache
def _http_client(timeout: float) -> stripe.HTTPClient:
    # One per process: requests keeps a session per thread, so connections are reused.
    return stripe.RequestsClient(timeout=timeout)


def _base_addresses() -> dict[str, str]:
    # Unset or empty means Stripe's real hosts (stripe-python's defaults).
    bases = {"api": settings.STRIPE_API_BASE, "connect": settings.STRIPE_CONNECT_BASE}
    return {name: url.rstrip("/") for name, url in bases.items() if url}


def _client(
    api_key: str, *, account_id: str | None = None, client_id: str | None = None
) -> stripe.StripeClient:
    return _cached_client(
        api_key,
        account_id or None,
        client_id or None,
        tuple(sorted(_base_addresses().items())),
        float(settings.STRIPE_TIMEOUT_SECONDS),
    )


@lru_cache(maxsize=256)
def _cached_client(
    api_key: str,
    account_id: str | None,
    client_id: str | None,
    base_addresses: tuple[tuple[str, str], ...],
    timeout: float,
) -> stripe.StripeClient:
    # Building a StripeClient costs ~2.4 ms; a workspace's one is reused (it keeps no
    # per-request state, and its HTTP client holds a session per thread).
    return stripe.StripeClient(
        api_key,
        stripe_account=account_id,
        stripe_version=STRIPE_API_VERSION,
        base_addresses=dict(base_addresses),  # type: ignore[arg-type]
        client_id=client_id,
        max_network_retries=0,
        http_client=_http_client(timeout),
    )


def platform_secret_key(livemode: bool) -> str:
    if livemode:
        return settings.STRIPE_PLATFORM_SECRET_KEY
    return settings.STRIPE_PLATFORM_TEST_SECRET_KEY


def platform_client_id(livemode: bool) -> str:
    return settings.STRIPE_CLIENT_ID if livemode else settings.STRIPE_TEST_CLIENT_ID


def connect_configured(livemode: bool) -> bool:
    """Whether this installation can connect workspaces with Stripe Connect OAuth."""
    return bool(platform_secret_key(livemode) and platform_client_id(livemode))


def _platform_client(livemode: bool) -> stripe.StripeClient:
    if not connect_configured(livemode):
        names = (
            "STRIPE_PLATFORM_SECRET_KEY and STRIPE_CLIENT_ID"
            if livemode
            else "STRIPE_PLATFORM_TEST_SECRET_KEY and STRIPE_TEST_CLIENT_ID"
        )
        raise StripeNotConnected(
            f"Stripe Connect is not configured on this installation ({names})."
        )
    return _client(platform_secret_key(livemode), client_id=platform_client_id(livemode))


# --- Errors --------------------------------------------------------------------------------
def _translate(exc: stripe.StripeError, *, missing_code: str) -> StripeGatewayError:
    status = exc.http_status
    error_object = exc.error
    stripe_type = getattr(error_object, "type", None) if error_object is not None else None
    param = getattr(exc, "param", None)
    if isinstance(exc, stripe.APIConnectionError):
        return StripeGatewayError(
            "stripe_error",
            "Could not reach Stripe (connection error or timeout).",
            transient=True,
        )
    if isinstance(exc, OAuthError):
        return StripeGatewayError(
            "stripe_error",
            exc.user_message or "Stripe refused the OAuth request.",
            stripe_code=exc.code,
            stripe_type="oauth_error",
            http_status=status,
            transient=status is None or status >= 500,
        )
    # 409: a request with the same idempotency key is still running at Stripe.
    transient = (
        isinstance(exc, stripe.RateLimitError) or status is None or status >= 500 or status == 409
    )
    code = "stripe_error"
    # A missing object named by the URL (param "id"), not one named in the body.
    if status == 404 and exc.code == "resource_missing" and param in (None, "id"):
        code = missing_code
    elif exc.code == "resource_missing" and param == "customer":
        code = "invalid_customer"
    return StripeGatewayError(
        code,
        exc.user_message or "Stripe answered with an error.",
        transient=transient,
        stripe_code=exc.code,
        stripe_type=stripe_type,
        http_status=status,
        param=param,
    )


@contextmanager
def _stripe_errors(*, missing_code: str = "stripe_error") -> Iterator[None]:
    try:
        yield
    except stripe.StripeError as exc:
        error = _translate(exc, missing_code=missing_code)
        logger.info("Stripe call failed: %r", error)
        raise error from exc


# --- Conversions ---------------------------------------------------------------------------
def _dt(timestamp: int | None) -> datetime | None:
    return None if timestamp is None else datetime.fromtimestamp(timestamp, UTC)


def _iso(timestamp: int | None) -> str | None:
    return iso_timestamp(_dt(timestamp))


def _id(value: Any) -> str:
    """An expandable field's id, whether Stripe expanded it or not."""
    if isinstance(value, dict):
        return value.get("id") or ""
    return value or ""


def _coupon_ids(discounts: list[Any]) -> tuple[str, ...]:
    ids = []
    for discount in discounts or []:
        if not isinstance(discount, dict):
            continue  # an unexpanded discount id (inbound events): its coupon is unknown
        source = discount.get("source") or {}
        coupon = source.get("coupon") or discount.get("coupon")
        if coupon:
            ids.append(_id(coupon))
    return tuple(ids)


def subscription_from_stripe(data: dict[str, Any]) -> Subscription:
    """Our :class:`Subscription` from Stripe's subscription object as a plain dict."""
    customer = data.get("customer")
    customer_email = customer.get("email") if isinstance(customer, dict) else None
    items = (data.get("items") or {}).get("data") or []
    item = items[0] if items else {}
    price = item.get("price") or {}
    product = price.get("product")
    recurring = price.get("recurring") or {}
    pause = data.get("pause_collection") or None
    return Subscription(
        id=data["id"],
        customer_id=_id(customer),
        customer_email=customer_email,
        status=data.get("status") or "",
        item_id=item.get("id") or "",
        price_id=price.get("id") or "",
        product_id=_id(product),
        product_name=(product.get("name") or "") if isinstance(product, dict) else "",
        amount=price.get("unit_amount") or 0,
        currency=price.get("currency") or data.get("currency") or "",
        interval=recurring.get("interval") or "",
        interval_count=recurring.get("interval_count") or 1,
        current_period_end=_dt(item.get("current_period_end")),
        trial_end=_dt(data.get("trial_end")),
        discount_coupon_ids=_coupon_ids(data.get("discounts") or []),
        paused=pause is not None,
        pause_resumes_at=_dt(pause.get("resumes_at")) if pause else None,
        cancel_at_period_end=bool(data.get("cancel_at_period_end")),
        canceled_at=_dt(data.get("canceled_at")),
        livemode=bool(data.get("livemode")),
    )


def _price(data: dict[str, Any]) -> Price:
    product = data.get("product")
    recurring = data.get("recurring") or {}
    return Price(
        id=data["id"],
        product_id=_id(product),
        product_name=(product.get("name") or "") if isinstance(product, dict) else "",
        amount=data.get("unit_amount") or 0,
        currency=data.get("currency") or "",
        interval=recurring.get("interval") or "",
        interval_count=recurring.get("interval_count") or 1,
        active=bool(data.get("active")),
    )


def _plain(obj: Any) -> dict[str, Any]:
    return obj.to_dict()


def _number(value: Any) -> int | float:
    # stripe-python gives decimals as Decimal; outcome details must stay JSON numbers.
    return int(value) if float(value).is_integer() else float(value)


def _coupon_duration_months(coupon: dict[str, Any]) -> int | None:
    if coupon.get("duration") == "repeating":
        return coupon.get("duration_in_months")
    if coupon.get("duration") == "once":
        return 1
    return None  # forever


def coupon_id_for(
    *,
    percent_off: int | None,
    amount_off: int | None,
    currency: str | None,
    duration_months: int | None,
) -> str:
    """The id of the coupon MRRX creates (once per account) for an offer's parameters."""
    if percent_off is not None:
        off = f"{_number(percent_off)}pct".replace(".", "_")
    else:
        off = f"{amount_off}{(currency or '').lower()}"
    duration = f"{duration_months}m" if duration_months else "forever"
    return f"mrrx_{off}_{duration}"


def _feedback(value: str | None) -> str | None:
    if not value:
        return None
    if value in CANCELLATION_FEEDBACK:
        return CANCELLATION_FEEDBACK[value]
    return value if value in STRIPE_FEEDBACK_VALUES else "other"


def _today_midnight() -> datetime:
    now = datetime.now(UTC)
    return datetime(now.year, now.month, now.day, tzinfo=UTC)


# --- The gateway ---------------------------------------------------------------------------
class StripeGateway:
    """One workspace's Stripe account in one mode."""

    def __init__(self, *, api_key: str, livemode: bool, account_id: str | None = None) -> None:
        self.livemode = livemode
        self.account_id = account_id or None
        self._stripe = _client(api_key, account_id=self.account_id)

    # Reads ---------------------------------------------------------------------------------
    def _subscription_raw(self, subscription_id: str) -> dict[str, Any]:
        # The hot read of every session and action: the raw JSON, without building
        # stripe-python objects only to turn them back into dicts (~2.5 ms a call here).
        with _stripe_errors(missing_code="subscription_not_found"):
            response = self._stripe.raw_request(
                "get",
                f"/v1/subscriptions/{quote(subscription_id, safe='')}",
                expand=_SUBSCRIPTION_EXPAND,
            )
        return response.data

    def subscription_get(self, subscription_id: str) -> Subscription:
        """The subscription with its customer, price and product, in one request."""
        return subscription_from_stripe(self._subscription_raw(subscription_id))

    def customer_find_by_email(self, email: str) -> str | None:
        """The id of the customer with this email (the newest if several), or None."""
        with _stripe_errors():
            page = self._stripe.v1.customers.list({"email": email, "limit": 100})
        customers = [c for c in _plain(page)["data"] if not c.get("deleted")]
        if not customers:
            return None
        return max(customers, key=lambda c: c.get("created") or 0)["id"]

    def customer_exists(self, customer_id: str) -> bool:
        try:
            with _stripe_errors(missing_code="invalid_customer"):
                customer = _plain(self._stripe.v1.customers.retrieve(customer_id))
        except StripeGatewayError as exc:
            if exc.code == "invalid_customer":
                return False
            raise
        return not customer.get("deleted")

    def subscriptions_live_for_customer(self, customer_id: str) -> list[Subscription]:
        """The customer's subscriptions that are not canceled or expired, newest first."""
        with _stripe_errors(missing_code="invalid_customer"):
            page = self._stripe.v1.subscriptions.list(
                {
                    "customer": customer_id,
                    "status": "all",
                    "limit": 100,
                    # Four levels at most: products are fetched below.
                    "expand": ["data.customer", "data.discounts"],
                }
            )
        subs = [s for s in _plain(page)["data"] if s.get("status") not in _GONE_STATUSES]
        with _stripe_errors():
            names = self._product_names(
                {_id(i["price"].get("product")) for s in subs for i in s["items"]["data"]}
            )
        for sub in subs:
            for item in sub["items"]["data"]:
                product_id = _id(item["price"].get("product"))
                item["price"]["product"] = {"id": product_id, "name": names.get(product_id, "")}
        return [subscription_from_stripe(s) for s in subs]

    def _product_names(self, product_ids: set[str]) -> dict[str, str]:
        names = {}
        for product_id in sorted(p for p in product_ids if p):
            names[product_id] = _plain(self._stripe.v1.products.retrieve(product_id)).get(
                "name", ""
            )
        return names

    def price_get(self, price_id: str) -> Price:
        with _stripe_errors():
            obj = self._stripe.v1.prices.retrieve(price_id, {"expand": ["product"]})
        return _price(_plain(obj))

    def prices_list(self, *, active: bool = True) -> list[Price]:
        """Recurring prices, with their product names."""
        prices: list[Price] = []
        params: dict[str, Any] = {
            "active": active,
            "type": "recurring",
            "limit": 100,
            "expand": ["data.product"],
        }
        with _stripe_errors():
            while True:
                page = _plain(self._stripe.v1.prices.list(params))
                prices.extend(_price(p) for p in page["data"])
                if not page.get("has_more") or not page["data"]:
                    break
                params["starting_after"] = page["data"][-1]["id"]
        return prices

    def check(self) -> None:
        """A harmless read proving the credentials work (raises StripeGatewayError)."""
        with _stripe_errors():
            self._stripe.v1.customers.list({"limit": 1})

    # Writes --------------------------------------------------------------------------------
    def _update(self, subscription_id: str, params: dict[str, Any], idempotency_key: str) -> None:
        with _stripe_errors(missing_code="subscription_not_found"):
            self._stripe.v1.subscriptions.update(
                subscription_id, params, {"idempotency_key": idempotency_key}
            )

    @staticmethod
    def _done(current: dict[str, Any], idempotency_key: str) -> bool:
        """Whether the write for this key already happened (a retry after a lost answer)."""
        return (current.get("metadata") or {}).get(META_ACTION) == idempotency_key

    @staticmethod
    def _marker(idempotency_key: str, **extra: str) -> dict[str, str]:
        # Day-granular, like the pause dates: a retry of the same write (a worker killed
        # mid-call, a lost answer) sends identical parameters, so Stripe's idempotency
        # replays it instead of refusing a changed request.
        day = int(_today_midnight().timestamp())
        return {META_ACTION: idempotency_key, META_ACTION_AT: str(day), **extra}

    def pause(self, subscription_id: str, *, days: int, idempotency_key: str) -> dict[str, Any]:
        """Stop collecting payment (invoices voided) until midnight UTC ``days`` from today."""
        current = self._subscription_raw(subscription_id)
        if not self._done(current, idempotency_key):
            # Day-granular, so a retry the same day sends exactly the same parameters.
            resumes_at = _today_midnight() + timedelta(days=days)
            self._update(
                subscription_id,
                {
                    "pause_collection": {
                        "behavior": "void",
                        "resumes_at": int(resumes_at.timestamp()),
                    },
                    "metadata": self._marker(idempotency_key),
                },
                f"{idempotency_key}:update",
            )
            current = self._subscription_raw(subscription_id)
        pause = current.get("pause_collection") or {}
        if not pause.get("resumes_at"):
            raise StripeGatewayError("stripe_error", "Stripe did not record the pause.")
        resumes_at = _dt(pause["resumes_at"])
        assert resumes_at is not None
        paused_on = _dt(int((current.get("metadata") or {}).get(META_ACTION_AT) or time.time()))
        assert paused_on is not None
        return {
            "pause_duration_days": (resumes_at.date() - paused_on.date()).days,
            "resume_date": iso_timestamp(resumes_at),
        }

    def resume(self, subscription_id: str, *, idempotency_key: str) -> Subscription:
        """Collect payment again now (clears ``pause_collection``)."""
        self._update(subscription_id, {"pause_collection": ""}, f"{idempotency_key}:update")
        return self.subscription_get(subscription_id)

    def _coupon(self, coupon_id: str) -> dict[str, Any] | None:
        try:
            with _stripe_errors(missing_code="coupon_not_found"):
                return _plain(self._stripe.v1.coupons.retrieve(coupon_id))
        except StripeGatewayError as exc:
            if exc.code == "coupon_not_found":
                return None
            raise

    def _coupon_ensure(
        self,
        *,
        percent_off: int | None,
        amount_off: int | None,
        currency: str | None,
        duration_months: int | None,
        idempotency_key: str,
    ) -> dict[str, Any]:
        if (percent_off is None) == (amount_off is None):
            raise ValueError("Give exactly one of percent_off and amount_off.")
        if amount_off is not None and not currency:
            raise ValueError("amount_off needs a currency.")
        coupon_id = coupon_id_for(
            percent_off=percent_off,
            amount_off=amount_off,
            currency=currency,
            duration_months=duration_months,
        )
        existing = self._coupon(coupon_id)
        if existing is not None:
            return existing
        off = f"{percent_off}%" if percent_off is not None else f"{amount_off} {currency}"
        params: dict[str, Any] = {
            "id": coupon_id,
            "name": f"{off} off"
            + (f" for {duration_months} months" if duration_months else " forever"),
            "metadata": {"created_by": "mrrx"},
        }
        if percent_off is not None:
            params["percent_off"] = percent_off
        else:
            params.update(amount_off=amount_off, currency=(currency or "").lower())
        if duration_months:
            params.update(duration="repeating", duration_in_months=duration_months)
        else:
            params["duration"] = "forever"
        try:
            with _stripe_errors():
                return _plain(
                    self._stripe.v1.coupons.create(params, {"idempotency_key": idempotency_key})
                )
        except StripeGatewayError as exc:
            # Created meanwhile by a concurrent session with the same offer.
            if exc.stripe_code == "resource_already_exists":
                coupon = self._coupon(coupon_id)
                if coupon is not None:
                    return coupon
            raise

    def discount_apply(
        self,
        subscription_id: str,
        *,
        idempotency_key: str,
        coupon_id: str | None = None,
        percent_off: int | None = None,
        amount_off: int | None = None,
        currency: str | None = None,
        duration_months: int | None = None,
    ) -> dict[str, Any]:
        """Add a coupon (the configured one, or MRRX's for these parameters) to the
        subscription's ``discounts``, keeping any discount already there."""
        if coupon_id:
            coupon = self._coupon(coupon_id)
            if coupon is None:
                raise StripeGatewayError(
                    "stripe_error",
                    f"The configured coupon {coupon_id} does not exist in Stripe.",
                    stripe_code="resource_missing",
                    http_status=404,
                )
        else:
            coupon = self._coupon_ensure(
                percent_off=percent_off,
                amount_off=amount_off,
                currency=currency,
                duration_months=duration_months,
                idempotency_key=f"{idempotency_key}:coupon",
            )
        current = self._subscription_raw(subscription_id)
        applied = _coupon_ids(current.get("discounts") or [])
        if coupon["id"] not in applied and not self._done(current, idempotency_key):
            keep = [{"discount": d["id"]} for d in current.get("discounts") or [] if d]
            self._update(
                subscription_id,
                {
                    "discounts": [*keep, {"coupon": coupon["id"]}],
                    "metadata": self._marker(idempotency_key),
                },
                f"{idempotency_key}:update",
            )
            current = self._subscription_raw(subscription_id)
            applied = _coupon_ids(current.get("discounts") or [])
        if coupon["id"] not in applied:
            raise StripeGatewayError("stripe_error", "Stripe did not apply the coupon.")
        percent = coupon.get("percent_off")
        return {
            "discount_type": "percent" if percent is not None else "amount",
            "discount_amount": _number(percent) if percent is not None else coupon["amount_off"],
            "duration_months": _coupon_duration_months(coupon),
            "coupon_id": coupon["id"],
        }

    def price_swap(
        self,
        subscription_id: str,
        *,
        new_price_id: str,
        proration_behavior: str,
        idempotency_key: str,
    ) -> dict[str, Any]:
        """Swap the subscription item's price, keeping the item."""
        current = self._subscription_raw(subscription_id)
        if not self._done(current, idempotency_key):
            before = subscription_from_stripe(current)
            self._update(
                subscription_id,
                {
                    "items": [{"id": before.item_id, "price": new_price_id}],
                    "proration_behavior": proration_behavior,
                    "metadata": self._marker(
                        idempotency_key, **{META_PREVIOUS_PRICE: before.price_id}
                    ),
                },
                f"{idempotency_key}:update",
            )
            current = self._subscription_raw(subscription_id)
        after = subscription_from_stripe(current)
        if after.price_id != new_price_id:
            raise StripeGatewayError("stripe_error", "Stripe did not change the price.")
        return {
            "previous_price_id": (current.get("metadata") or {}).get(META_PREVIOUS_PRICE),
            "new_price_id": after.price_id,
            "new_amount": after.amount,
        }

    def trial_extend(
        self, subscription_id: str, *, days: int, idempotency_key: str
    ) -> dict[str, Any]:
        """Move a trialing subscription's ``trial_end`` on by ``days``, without proration."""
        current = self._subscription_raw(subscription_id)
        if not self._done(current, idempotency_key):
            if current.get("status") != "trialing" or not current.get("trial_end"):
                raise StripeGatewayError(
                    "action_not_available", "Only a trialing subscription can be extended."
                )
            original = current["trial_end"]
            self._update(
                subscription_id,
                {
                    "trial_end": original + days * 86400,
                    "proration_behavior": "none",
                    "metadata": self._marker(
                        idempotency_key, **{META_ORIGINAL_TRIAL_END: str(original)}
                    ),
                },
                f"{idempotency_key}:update",
            )
            current = self._subscription_raw(subscription_id)
        original = int((current.get("metadata") or {})[META_ORIGINAL_TRIAL_END])
        new_end = current.get("trial_end")
        if not new_end or new_end <= original:
            raise StripeGatewayError("stripe_error", "Stripe did not extend the trial.")
        return {
            "extension_days": round((new_end - original) / 86400),
            "new_trial_end": _iso(new_end),
            "original_trial_end": _iso(original),
        }

    def cancel(
        self,
        subscription_id: str,
        *,
        at_period_end: bool,
        feedback: str | None,
        comment: str | None,
        idempotency_key: str,
    ) -> dict[str, Any]:
        """Cancel now or at the period's end, telling Stripe why.

        ``feedback`` may be a survey reason (mapped by ``CANCELLATION_FEEDBACK``) or one of
        Stripe's feedback values.
        """
        details: dict[str, str] = {}
        if mapped := _feedback(feedback):
            details["feedback"] = mapped
        if comment:
            details["comment"] = comment[:_COMMENT_MAX]
        current = self._subscription_raw(subscription_id)
        if current.get("status") != "canceled":
            if not at_period_end:
                with _stripe_errors(missing_code="subscription_not_found"):
                    self._stripe.v1.subscriptions.cancel(
                        subscription_id,
                        {"cancellation_details": details} if details else {},
                        {"idempotency_key": f"{idempotency_key}:cancel"},
                    )
                current = self._subscription_raw(subscription_id)
            elif not (current.get("cancel_at_period_end") and self._done(current, idempotency_key)):
                params: dict[str, Any] = {
                    "cancel_at_period_end": True,
                    "metadata": self._marker(idempotency_key),
                }
                if details:
                    params["cancellation_details"] = details
                self._update(subscription_id, params, f"{idempotency_key}:update")
                current = self._subscription_raw(subscription_id)
        canceled = current.get("status") == "canceled"
        if not canceled and not current.get("cancel_at_period_end"):
            raise StripeGatewayError("stripe_error", "Stripe did not record the cancellation.")
        return {
            "canceled_at": _iso(current.get("canceled_at") or current.get("cancel_at")),
            "cancel_at_period_end": bool(current.get("cancel_at_period_end")),
        }

    # Demo and operator set-up --------------------------------------------------------------
    def price_find_by_lookup_key(self, lookup_key: str) -> Price | None:
        with _stripe_errors():
            page = _plain(
                self._stripe.v1.prices.list(
                    {"lookup_keys": [lookup_key], "expand": ["data.product"], "limit": 1}
                )
            )
        return _price(page["data"][0]) if page["data"] else None

    def product_create(self, *, name: str, idempotency_key: str) -> str:
        with _stripe_errors():
            product = self._stripe.v1.products.create(
                {"name": name}, {"idempotency_key": idempotency_key}
            )
        return product.id

    def price_create(
        self,
        *,
        product_id: str,
        amount: int,
        currency: str,
        interval: str,
        lookup_key: str | None = None,
        nickname: str | None = None,
        idempotency_key: str,
    ) -> Price:
        params: dict[str, Any] = {
            "product": product_id,
            "unit_amount": amount,
            "currency": currency,
            "recurring": {"interval": interval},
            "expand": ["product"],
        }
        if lookup_key:
            params["lookup_key"] = lookup_key
        if nickname:
            params["nickname"] = nickname
        with _stripe_errors():
            price = self._stripe.v1.prices.create(params, {"idempotency_key": idempotency_key})
        return _price(_plain(price))

    def customer_create(self, *, email: str, name: str = "", idempotency_key: str) -> str:
        params = {"email": email, **({"name": name} if name else {})}
        with _stripe_errors():
            customer = self._stripe.v1.customers.create(
                params, {"idempotency_key": idempotency_key}
            )
        return customer.id

    def subscription_create(
        self,
        *,
        customer_id: str,
        price_id: str,
        trial_days: int | None = None,
        idempotency_key: str,
    ) -> Subscription:
        params: dict[str, Any] = {"customer": customer_id, "items": [{"price": price_id}]}
        if trial_days:
            params["trial_period_days"] = trial_days
        with _stripe_errors(missing_code="invalid_customer"):
            sub = self._stripe.v1.subscriptions.create(params, {"idempotency_key": idempotency_key})
        return self.subscription_get(sub.id)

    def webhook_endpoint_create(
        self, *, url: str, events: list[str], idempotency_key: str
    ) -> tuple[str, str]:
        """Create a webhook endpoint on this account; returns (endpoint id, signing secret)."""
        with _stripe_errors():
            endpoint = self._stripe.v1.webhook_endpoints.create(
                {"url": url, "enabled_events": events, "api_version": STRIPE_API_VERSION},
                {"idempotency_key": idempotency_key},
            )
        data = _plain(endpoint)
        return data["id"], data.get("secret") or ""

    def webhook_endpoint_ids(self, *, url: str) -> list[str]:
        """Ids of this account's webhook endpoints that post to ``url``."""
        with _stripe_errors():
            page = _plain(self._stripe.v1.webhook_endpoints.list({"limit": 100}))
        return [e["id"] for e in page["data"] if e.get("url") == url]


# --- Connections ---------------------------------------------------------------------------
def gateway_for_connection(connection: Any) -> StripeGateway:
    """The gateway for a :class:`billing.models.StripeConnection`."""
    from mrrx.crypto import decrypt

    if connection.method == "oauth":
        key = platform_secret_key(connection.livemode)
        if not key:
            raise StripeNotConnected(
                "This workspace is connected through Stripe Connect, but the platform key "
                "for its mode is not configured."
            )
        return StripeGateway(
            api_key=key, livemode=connection.livemode, account_id=connection.account_id
        )
    return StripeGateway(api_key=decrypt(connection.encrypted_key), livemode=connection.livemode)


def gateway_for(*, tenant: Any, livemode: bool) -> StripeGateway:
    """The gateway for a workspace (a Tenant or its id) in one mode.

    Raises :class:`StripeNotConnected` when the workspace has not connected Stripe there.
    """
    from .models import StripeConnection

    tenant_id = getattr(tenant, "pk", tenant)
    connection = StripeConnection.objects.filter(tenant_id=tenant_id, livemode=livemode).first()
    if connection is None:
        mode = "live" if livemode else "test"
        raise StripeNotConnected(f"This workspace has not connected Stripe in {mode} mode.")
    return gateway_for_connection(connection)


def key_check(*, api_key: str, livemode: bool) -> None:
    """Prove a pasted key works with a harmless read (raises StripeGatewayError)."""
    StripeGateway(api_key=api_key, livemode=livemode).check()


def oauth_authorize_url(*, livemode: bool, state: str, redirect_uri: str) -> str:
    """Where to send a merchant to connect their Stripe account to this platform."""
    client = _platform_client(livemode)
    return client.oauth.authorize_url(
        {  # type: ignore[arg-type]
            "response_type": "code",
            "scope": "read_write",
            "state": state,
            "redirect_uri": redirect_uri,
        }
    )


def oauth_token(*, livemode: bool, code: str) -> OAuthGrant:
    """Exchange an authorization code for the connected account's id."""
    client = _platform_client(livemode)
    with _stripe_errors():
        token = client.oauth.token({"grant_type": "authorization_code", "code": code})
    data = _plain(token)
    return OAuthGrant(
        account_id=data["stripe_user_id"],
        livemode=bool(data.get("livemode")),
        scope=data.get("scope") or "",
    )


def oauth_deauthorize(*, livemode: bool, account_id: str) -> None:
    """Revoke this platform's access to a connected account."""
    client = _platform_client(livemode)
    with _stripe_errors():
        client.oauth.deauthorize({"stripe_user_id": account_id})  # type: ignore[typeddict-item]


def webhook_event_verify(
    *, payload: bytes, signature_header: str | None, secrets: list[str]
) -> dict[str, Any]:
    """The event in ``payload`` if ``signature_header`` verifies with one of ``secrets``.

    Raises :class:`WebhookSignatureInvalid` otherwise (also for a body that is not JSON).
    """
    last_error = "No signing secret is configured for this endpoint."
    for secret in secrets:
        if not secret:
            continue
        try:
            # Without a tolerance stripe-python accepts any timestamp: replays.
            stripe.WebhookSignature.verify_header(
                payload, signature_header, secret, tolerance=WEBHOOK_TOLERANCE_SECONDS
            )
        except stripe.SignatureVerificationError as exc:
            last_error = exc.user_message or "Signature verification failed."
            continue
        except (UnicodeDecodeError, ValueError):
            last_error = "The body is not UTF-8."
            break
        try:
            event = json.loads(payload)
        except ValueError as exc:
            raise WebhookSignatureInvalid("The body is not JSON.") from exc
        if not isinstance(event, dict):
            raise WebhookSignatureInvalid("The body is not a Stripe event.")
        return event
    raise WebhookSignatureInvalid(last_error)
