"""Our own shapes of Stripe's objects (frozen dataclasses), the conversions from Stripe's
JSON, and the constants the gateway writes into Stripe."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mrrx.formats import iso_timestamp

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
# When MRRX is to resume a subscription it paused with Stripe's pause endpoint.
META_PAUSE_RESUMES_AT = "mrrx_pause_resumes_at"

# The two ways to pause: pause_collection (status unchanged, access stays on) and Stripe's
# pause endpoint (status paused; API 2026-09-30.endive and later, flexible billing mode).
PAUSE_COLLECTION = "pause_collection"
SUBSCRIPTION_PAUSE = "subscription_pause"
PAUSE_METHODS = (PAUSE_COLLECTION, SUBSCRIPTION_PAUSE)
PAUSE_BEHAVIORS = ("void", "keep_as_draft", "mark_uncollectible")
# The coupons in force before MRRX applied one (comma-separated), for the outcome.
META_DISCOUNTS_BEFORE = "mrrx_discounts_before"
# What a discount does to a discount already in force on the subscription or customer.
DISCOUNT_SKIP_IF_DISCOUNTED = "skip_if_discounted"
DISCOUNT_REPLACE = "replace"
DISCOUNT_STACK = "stack"
DISCOUNT_POLICIES = (DISCOUNT_SKIP_IF_DISCOUNTED, DISCOUNT_REPLACE, DISCOUNT_STACK)

# Stripe allows four levels of expansion: customer, product name and discounts in one read.
SUBSCRIPTION_EXPAND = [
    "customer.discount.source.coupon",
    "items.data.price.product",
    "discounts.source.coupon",
]
GONE_STATUSES = frozenset({"canceled", "incomplete_expired"})
COMMENT_MAX = 5000


@dataclass(frozen=True)
class Discount:
    """A discount on a subscription: what its coupon takes off, and until when."""

    coupon_id: str
    name: str
    percent_off: int | float | None
    amount_off: int | None  # minor units of ``currency``
    currency: str | None
    duration: str  # once | repeating | forever
    duration_in_months: int | None
    ends_at: datetime | None


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
    # When the subscription began (Stripe's start_date): its tenure is counted from here.
    start_date: datetime | None = None
    # The customer's billing address country (ISO 3166-1 alpha-2, upper case), else its
    # shipping address's; "" when neither is known or the customer came unexpanded.
    customer_country: str = ""
    # What the merchant wrote on the subscription; tells a customer's subscriptions apart.
    description: str = ""
    # How it is paused: "pause_collection" (status unchanged, invoices per behavior),
    # "subscription_pause" (Stripe's pause endpoint: status paused), or "".
    pause_method: str = ""
    pause_behavior: str = ""  # pause_collection's behavior: void | keep_as_draft | ...
    # The subscription's own discounts, coupons spelled out (when Stripe sent them expanded).
    discounts: tuple[Discount, ...] = ()
    # The customer's discount: it applies to the subscription only while it has none.
    customer_discount: Discount | None = None


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
class SubscriptionOverview:
    """A subscription with its discounts spelled out, as a customer's overview shows it."""

    subscription: Subscription
    discounts: tuple[Discount, ...]


@dataclass(frozen=True)
class InvoicePreview:
    """What Stripe would invoice next for a subscription (``invoices.create_preview``)."""

    amount_due: int
    total: int
    subtotal: int
    currency: str
    # When it would be made: the next renewal, or now for an immediate invoice.
    invoice_at: datetime | None
    # The proration lines together: negative when the change leaves a credit.
    proration_amount: int


@dataclass(frozen=True)
class OAuthGrant:
    """What Stripe's OAuth token exchange tells us about the connected account."""

    account_id: str
    livemode: bool
    scope: str


def utc_datetime(timestamp: int | None) -> datetime | None:
    return None if timestamp is None else datetime.fromtimestamp(timestamp, UTC)


def utc_iso(timestamp: int | None) -> str | None:
    return iso_timestamp(utc_datetime(timestamp))


def object_id(value: Any) -> str:
    """An expandable field's id, whether Stripe expanded it or not."""
    if isinstance(value, dict):
        return value.get("id") or ""
    return value or ""


def coupon_ids(discounts: list[Any]) -> tuple[str, ...]:
    ids = []
    for discount in discounts or []:
        if not isinstance(discount, dict):
            continue  # an unexpanded discount id (inbound events): its coupon is unknown
        source = discount.get("source") or {}
        coupon = source.get("coupon") or discount.get("coupon")
        if coupon:
            ids.append(object_id(coupon))
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
    status = data.get("status") or ""
    pause_method = SUBSCRIPTION_PAUSE if status == "paused" else (PAUSE_COLLECTION if pause else "")
    return Subscription(
        id=data["id"],
        customer_id=object_id(customer),
        customer_email=customer_email,
        status=data.get("status") or "",
        item_id=item.get("id") or "",
        price_id=price.get("id") or "",
        product_id=object_id(product),
        product_name=(product.get("name") or "") if isinstance(product, dict) else "",
        amount=price.get("unit_amount") or 0,
        currency=price.get("currency") or data.get("currency") or "",
        interval=recurring.get("interval") or "",
        interval_count=recurring.get("interval_count") or 1,
        current_period_end=utc_datetime(item.get("current_period_end")),
        trial_end=utc_datetime(data.get("trial_end")),
        discount_coupon_ids=coupon_ids(data.get("discounts") or []),
        paused=bool(pause_method),
        pause_resumes_at=utc_datetime(pause.get("resumes_at")) if pause else None,
        cancel_at_period_end=bool(data.get("cancel_at_period_end")),
        canceled_at=utc_datetime(data.get("canceled_at")),
        livemode=bool(data.get("livemode")),
        start_date=utc_datetime(data.get("start_date")),
        customer_country=customer_country(customer),
        description=data.get("description") or "",
        pause_method=pause_method,
        pause_behavior=(pause or {}).get("behavior") or "",
        discounts=tuple(
            discount_from_stripe(d)
            for d in data.get("discounts") or []
            if isinstance(d, dict) and _coupon_expanded(d)
        ),
        customer_discount=discount_from_stripe(customer["discount"])
        if isinstance(customer, dict) and isinstance(customer.get("discount"), dict)
        else None,
    )


def _coupon_expanded(discount: dict[str, Any]) -> bool:
    return isinstance((discount.get("source") or {}).get("coupon") or discount.get("coupon"), dict)


def customer_country(customer: Any) -> str:
    """The country of an expanded customer's address, else of its shipping address."""
    if not isinstance(customer, dict):
        return ""
    for address in (customer.get("address"), (customer.get("shipping") or {}).get("address")):
        country = (address or {}).get("country") if isinstance(address, dict) else None
        if isinstance(country, str) and country.strip():
            return country.strip().upper()
    return ""


def discount_from_stripe(data: dict[str, Any]) -> Discount:
    """Our :class:`Discount` from a subscription's discount, its coupon expanded or not."""
    source = data.get("source") or {}
    coupon = source.get("coupon") or data.get("coupon") or {}
    if not isinstance(coupon, dict):
        coupon = {"id": coupon}
    percent = coupon.get("percent_off")
    return Discount(
        coupon_id=coupon.get("id") or "",
        name=coupon.get("name") or "",
        percent_off=plain_number(percent) if percent is not None else None,
        amount_off=coupon.get("amount_off"),
        currency=coupon.get("currency"),
        duration=coupon.get("duration") or "",
        duration_in_months=coupon.get("duration_in_months"),
        ends_at=utc_datetime(data.get("end")),
    )


def invoice_preview_from_stripe(data: dict[str, Any]) -> InvoicePreview:
    lines = (data.get("lines") or {}).get("data") or []
    proration = sum(
        line.get("amount") or 0
        for line in lines
        if ((line.get("parent") or {}).get("subscription_item_details") or {}).get("proration")
    )
    return InvoicePreview(
        amount_due=data.get("amount_due") or 0,
        total=data.get("total") or 0,
        subtotal=data.get("subtotal") or 0,
        currency=data.get("currency") or "",
        invoice_at=utc_datetime(data.get("next_payment_attempt") or data.get("created")),
        proration_amount=proration,
    )


def price_from_stripe(data: dict[str, Any]) -> Price:
    product = data.get("product")
    recurring = data.get("recurring") or {}
    return Price(
        id=data["id"],
        product_id=object_id(product),
        product_name=(product.get("name") or "") if isinstance(product, dict) else "",
        amount=data.get("unit_amount") or 0,
        currency=data.get("currency") or "",
        interval=recurring.get("interval") or "",
        interval_count=recurring.get("interval_count") or 1,
        active=bool(data.get("active")),
    )


def plain(obj: Any) -> dict[str, Any]:
    return obj.to_dict()


def plain_number(value: Any) -> int | float:
    # stripe-python gives decimals as Decimal; outcome details must stay JSON numbers.
    return int(value) if float(value).is_integer() else float(value)


def coupon_duration_months(coupon: dict[str, Any]) -> int | None:
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
        off = f"{plain_number(percent_off)}pct".replace(".", "_")
    else:
        off = f"{amount_off}{(currency or '').lower()}"
    duration = f"{duration_months}m" if duration_months else "forever"
    return f"mrrx_{off}_{duration}"


def feedback_for_stripe(value: str | None) -> str | None:
    if not value:
        return None
    if value in CANCELLATION_FEEDBACK:
        return CANCELLATION_FEEDBACK[value]
    return value if value in STRIPE_FEEDBACK_VALUES else "other"


def today_midnight() -> datetime:
    now = datetime.now(UTC)
    return datetime(now.year, now.month, now.day, tzinfo=UTC)
