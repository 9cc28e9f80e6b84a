"""The gateway to one workspace's Stripe account in one mode: its reads, and through its
bases, the retention actions and set-up writes."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from .actions import SubscriptionActions
from .clients import stripe_client
from .errors import StripeGatewayError, stripe_errors
from .setup import AccountSetup
from .shapes import (
    GONE_STATUSES,
    SUBSCRIPTION_EXPAND,
    InvoicePreview,
    Price,
    Subscription,
    SubscriptionOverview,
    discount_from_stripe,
    invoice_preview_from_stripe,
    object_id,
    plain,
    price_from_stripe,
    subscription_from_stripe,
)


class StripeGateway(SubscriptionActions, AccountSetup):
    """One workspace's Stripe account in one mode."""

    def __init__(self, *, api_key: str, livemode: bool, account_id: str | None = None) -> None:
        self.livemode = livemode
        self.account_id = account_id or None
        self._stripe = stripe_client(api_key, account_id=self.account_id)

    # Reads ---------------------------------------------------------------------------------
    def _subscription_raw(self, subscription_id: str) -> dict[str, Any]:
        # The hot read of every session and action: the raw JSON, without building
        # stripe-python objects only to turn them back into dicts (~2.5 ms a call here).
        with stripe_errors("subscriptions.retrieve", missing_code="subscription_not_found"):
            response = self._stripe.raw_request(
                "get",
                f"/v1/subscriptions/{quote(subscription_id, safe='')}",
                expand=SUBSCRIPTION_EXPAND,
            )
        return response.data

    def subscription_get(self, subscription_id: str) -> Subscription:
        """The subscription with its customer, price and product, in one request."""
        return subscription_from_stripe(self._subscription_raw(subscription_id))

    def customer_find_by_email(self, email: str) -> str | None:
        """The id of the customer with this email (the newest if several), or None."""
        with stripe_errors("customers.list"):
            page = self._stripe.v1.customers.list({"email": email, "limit": 100})
        customers = [c for c in plain(page)["data"] if not c.get("deleted")]
        if not customers:
            return None
        return max(customers, key=lambda c: c.get("created") or 0)["id"]

    def customer_exists(self, customer_id: str) -> bool:
        try:
            with stripe_errors("customers.retrieve", missing_code="invalid_customer"):
                customer = plain(self._stripe.v1.customers.retrieve(customer_id))
        except StripeGatewayError as exc:
            if exc.code == "invalid_customer":
                return False
            raise
        return not customer.get("deleted")

    def subscriptions_live_for_customer(self, customer_id: str) -> list[Subscription]:
        """The customer's subscriptions that are not canceled or expired, newest first."""
        with stripe_errors("subscriptions.list", missing_code="invalid_customer"):
            page = self._stripe.v1.subscriptions.list(
                {
                    "customer": customer_id,
                    "status": "all",
                    "limit": 100,
                    # Four levels at most: products are fetched below.
                    "expand": ["data.customer", "data.discounts"],
                }
            )
        subs = [s for s in plain(page)["data"] if s.get("status") not in GONE_STATUSES]
        with stripe_errors("products.retrieve"):
            names = self._product_names(
                {object_id(i["price"].get("product")) for s in subs for i in s["items"]["data"]}
            )
        for sub in subs:
            for item in sub["items"]["data"]:
                product_id = object_id(item["price"].get("product"))
                item["price"]["product"] = {"id": product_id, "name": names.get(product_id, "")}
        return [subscription_from_stripe(s) for s in subs]

    def customers_with_email(self, email: str) -> list[str]:
        """The ids of every customer with this email (not deleted), newest first."""
        with stripe_errors("customers.list"):
            page = self._stripe.v1.customers.list({"email": email, "limit": 100})
        customers = [c for c in plain(page)["data"] if not c.get("deleted")]
        customers.sort(key=lambda c: c.get("created") or 0, reverse=True)
        return [c["id"] for c in customers]

    def subscription_overviews_for_customer(self, customer_id: str) -> list[SubscriptionOverview]:
        """The customer's live subscriptions, newest first, each with its discounts'
        coupons (for a page that shows what the customer pays and why)."""
        with stripe_errors("subscriptions.list", missing_code="invalid_customer"):
            page = self._stripe.v1.subscriptions.list(
                {
                    "customer": customer_id,
                    "status": "all",
                    "limit": 100,
                    # Four levels at most: products are fetched below.
                    "expand": ["data.customer", "data.discounts.source.coupon"],
                }
            )
        subs = [s for s in plain(page)["data"] if s.get("status") not in GONE_STATUSES]
        with stripe_errors("products.retrieve"):
            names = self._product_names(
                {object_id(i["price"].get("product")) for s in subs for i in s["items"]["data"]}
            )
        overviews = []
        for sub in subs:
            for item in sub["items"]["data"]:
                product_id = object_id(item["price"].get("product"))
                item["price"]["product"] = {"id": product_id, "name": names.get(product_id, "")}
            discounts = tuple(
                discount_from_stripe(d) for d in sub.get("discounts") or [] if isinstance(d, dict)
            )
            overviews.append(
                SubscriptionOverview(
                    subscription=subscription_from_stripe(sub), discounts=discounts
                )
            )
        return overviews

    def invoice_preview(
        self,
        subscription_id: str,
        *,
        new_price_id: str | None = None,
        proration_behavior: str | None = None,
        proration_date: int | None = None,
    ) -> InvoicePreview | None:
        """The subscription's next invoice, or the one a price change would bring
        (``new_price_id``, prorated by ``proration_behavior`` as of ``proration_date``);
        None when nothing more will be invoiced (the subscription is set to cancel)."""
        params: dict[str, Any] = {"subscription": subscription_id}
        if new_price_id:
            current = subscription_from_stripe(self._subscription_raw(subscription_id))
            details: dict[str, Any] = {"items": [{"id": current.item_id, "price": new_price_id}]}
            if proration_behavior:
                details["proration_behavior"] = proration_behavior
            if proration_date and proration_behavior != "none":
                details["proration_date"] = proration_date
            params["subscription_details"] = details
        try:
            with stripe_errors("invoices.create_preview", missing_code="subscription_not_found"):
                invoice = self._stripe.v1.invoices.create_preview(params)
        except StripeGatewayError as exc:
            if exc.stripe_code == "invoice_upcoming_none":
                return None
            raise
        return invoice_preview_from_stripe(plain(invoice))

    def _product_names(self, product_ids: set[str]) -> dict[str, str]:
        names = {}
        for product_id in sorted(p for p in product_ids if p):
            names[product_id] = plain(self._stripe.v1.products.retrieve(product_id)).get("name", "")
        return names

    def price_get(self, price_id: str) -> Price:
        with stripe_errors("prices.retrieve"):
            obj = self._stripe.v1.prices.retrieve(price_id, {"expand": ["product"]})
        return price_from_stripe(plain(obj))

    def prices_list(self, *, active: bool = True) -> list[Price]:
        """Recurring prices, with their product names."""
        prices: list[Price] = []
        params: dict[str, Any] = {
            "active": active,
            "type": "recurring",
            "limit": 100,
            "expand": ["data.product"],
        }
        with stripe_errors("prices.list"):
            while True:
                page = plain(self._stripe.v1.prices.list(params))
                prices.extend(price_from_stripe(p) for p in page["data"])
                if not page.get("has_more") or not page["data"]:
                    break
                params["starting_after"] = page["data"][-1]["id"]
        return prices

    def check(self) -> None:
        """A harmless read proving the credentials work (raises StripeGatewayError)."""
        with stripe_errors("customers.list"):
            self._stripe.v1.customers.list({"limit": 1})
