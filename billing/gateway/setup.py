"""Creating a catalog, customers, subscriptions and webhook endpoints on a Stripe account:
what the demo and operators' set-up need, never the subscriber's flow."""

from __future__ import annotations

from typing import Any

import stripe

from .clients import STRIPE_API_VERSION
from .errors import stripe_errors
from .shapes import Price, Subscription, plain, price_from_stripe


class AccountSetup:
    """The set-up writes of :class:`StripeGateway`."""

    _stripe: stripe.StripeClient

    def price_find_by_lookup_key(self, lookup_key: str) -> Price | None:
        with stripe_errors("prices.list"):
            page = plain(
                self._stripe.v1.prices.list(
                    {"lookup_keys": [lookup_key], "expand": ["data.product"], "limit": 1}
                )
            )
        return price_from_stripe(page["data"][0]) if page["data"] else None

    def product_create(self, *, name: str, idempotency_key: str) -> str:
        with stripe_errors("products.create"):
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
        with stripe_errors("prices.create"):
            price = self._stripe.v1.prices.create(params, {"idempotency_key": idempotency_key})
        return price_from_stripe(plain(price))

    def customer_create(self, *, email: str, name: str = "", idempotency_key: str) -> str:
        params = {"email": email, **({"name": name} if name else {})}
        with stripe_errors("customers.create"):
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
        with stripe_errors("subscriptions.create", missing_code="invalid_customer"):
            sub = self._stripe.v1.subscriptions.create(params, {"idempotency_key": idempotency_key})
        return self.subscription_get(sub.id)

    def webhook_endpoint_create(
        self, *, url: str, events: list[str], idempotency_key: str
    ) -> tuple[str, str]:
        """Create a webhook endpoint on this account; returns (endpoint id, signing secret)."""
        with stripe_errors("webhook_endpoints.create"):
            endpoint = self._stripe.v1.webhook_endpoints.create(
                {"url": url, "enabled_events": events, "api_version": STRIPE_API_VERSION},
                {"idempotency_key": idempotency_key},
            )
        data = plain(endpoint)
        return data["id"], data.get("secret") or ""

    def webhook_endpoint_ids(self, *, url: str) -> list[str]:
        """Ids of this account's webhook endpoints that post to ``url``."""
        with stripe_errors("webhook_endpoints.list"):
            page = plain(self._stripe.v1.webhook_endpoints.list({"limit": 100}))
        return [e["id"] for e in page["data"] if e.get("url") == url]
