"""What can go wrong talking to Stripe, as our own exceptions: Stripe's errors are
translated here, so nothing else sees one."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import stripe
from stripe.oauth_error import OAuthError

from mrrx.metrics import record_stripe_call

logger = logging.getLogger(__name__)


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


def _metric_result(error: StripeGatewayError) -> str:
    if error.stripe_code:
        return error.stripe_code
    return f"http_{error.http_status}" if error.http_status else "connection_error"


@contextmanager
def stripe_errors(
    operation: str = "other", *, missing_code: str = "stripe_error"
) -> Iterator[None]:
    """Translate Stripe's errors inside the block, and count the call in the metrics under
    ``operation`` (Stripe's name for it: ``subscriptions.update``) and its result."""
    started = time.perf_counter()
    try:
        yield
    except stripe.StripeError as exc:
        error = _translate(exc, missing_code=missing_code)
        seconds = time.perf_counter() - started
        record_stripe_call(operation=operation, result=_metric_result(error), seconds=seconds)
        logger.info("Stripe call failed: %r", error)
        raise error from exc
    record_stripe_call(operation=operation, result="ok", seconds=time.perf_counter() - started)
