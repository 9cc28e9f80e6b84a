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

from .clients import STRIPE_API_VERSION, connect_configured
from .connections import gateway_for, gateway_for_connection, key_check
from .errors import StripeGatewayError, StripeNotConnected, WebhookSignatureInvalid
from .oauth import oauth_authorize_url, oauth_deauthorize, oauth_token
from .shapes import (
    CANCELLATION_FEEDBACK,
    DISCOUNT_POLICIES,
    DISCOUNT_REPLACE,
    DISCOUNT_SKIP_IF_DISCOUNTED,
    DISCOUNT_STACK,
    PAUSE_BEHAVIORS,
    PAUSE_COLLECTION,
    PAUSE_METHODS,
    SUBSCRIPTION_PAUSE,
    Discount,
    InvoicePreview,
    OAuthGrant,
    Price,
    Subscription,
    SubscriptionOverview,
    subscription_from_stripe,
)
from .signatures import webhook_event_verify
from .stripe_gateway import StripeGateway

__all__ = [
    "CANCELLATION_FEEDBACK",
    "DISCOUNT_POLICIES",
    "DISCOUNT_REPLACE",
    "DISCOUNT_SKIP_IF_DISCOUNTED",
    "DISCOUNT_STACK",
    "PAUSE_BEHAVIORS",
    "PAUSE_COLLECTION",
    "PAUSE_METHODS",
    "STRIPE_API_VERSION",
    "SUBSCRIPTION_PAUSE",
    "Discount",
    "InvoicePreview",
    "OAuthGrant",
    "Price",
    "StripeGateway",
    "StripeGatewayError",
    "StripeNotConnected",
    "Subscription",
    "SubscriptionOverview",
    "WebhookSignatureInvalid",
    "connect_configured",
    "gateway_for",
    "gateway_for_connection",
    "key_check",
    "oauth_authorize_url",
    "oauth_deauthorize",
    "oauth_token",
    "subscription_from_stripe",
    "webhook_event_verify",
]
