"""Stripe-shaped error values raised inside the emulator and turned into HTTP responses."""

from __future__ import annotations

from typing import Any

DOCS = "https://stripe.com/docs/error-codes/"


class StripeError(Exception):
    """An error answered with Stripe's `{"error": {...}}` body.

    `replayable` marks errors that happen while a request executes (not while its
    parameters are validated); Stripe stores those for idempotent replay.
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        replayable: bool = False,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.replayable = replayable
        self.headers = headers or {}

    def body(self, request_id: str, livemode: bool = False, ts: int = 0) -> dict[str, Any]:
        """The JSON body Stripe answers with for this error."""
        err: dict[str, Any] = {}
        if self.code:
            err["code"] = self.code
            err["doc_url"] = DOCS + self.code.replace("_", "-")
        err["message"] = self.message
        if self.param is not None:
            err["param"] = self.param
        mode = "" if livemode else "test/"
        err["request_log_url"] = f"https://dashboard.stripe.com/{mode}logs/{request_id}?t={ts}"
        err["type"] = self.type
        return {"error": err}


class OAuthError(Exception):
    """An OAuth error: Stripe answers these as `{"error": "<code>", "error_description": ...}`."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status

    def body(self) -> dict[str, Any]:
        return {"error": self.error, "error_description": self.description}


# Human names used in "No such <name>: '<id>'" messages, keyed by table.
RESOURCE_NAMES = {
    "customers": "customer",
    "products": "product",
    "prices": "price",
    "coupons": "coupon",
    "subscriptions": "subscription",
    "subscription_items": "subscription item",
    "discounts": "discount",
    "events": "event",
    "webhook_endpoints": "webhook endpoint",
    "accounts": "account",
}


def missing(table: str, obj_id: str, param: str | None = "id") -> StripeError:
    """404 resource_missing for an id that is not in the caller's namespace."""
    name = RESOURCE_NAMES.get(table, table)
    return StripeError(404, f"No such {name}: '{obj_id}'", code="resource_missing", param=param)


def unknown_param(path: str) -> StripeError:
    return StripeError(
        400, f"Received unknown parameter: {path}", code="parameter_unknown", param=path
    )


def param_missing(path: str) -> StripeError:
    return StripeError(
        400, f"Missing required param: {path}.", code="parameter_missing", param=path
    )


def invalid(message: str, param: str | None = None, code: str | None = None) -> StripeError:
    return StripeError(400, message, code=code, param=param)


def exclusive(*params: str) -> StripeError:
    return StripeError(
        400,
        f"You may only specify one of these parameters: {', '.join(params)}.",
        code="parameters_exclusive",
        param=params[0],
    )


def unrecognized_url(method: str, path: str) -> StripeError:
    return StripeError(
        404,
        f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs "
        "or we can help at https://support.stripe.com/.",
    )


# Bodies for faults injected through the control API, by HTTP status.
FAULT_ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Emulated invalid request."),
    401: ("invalid_request_error", None, "Invalid API Key provided: sk_test_****"),
    402: ("card_error", "card_declined", "Your card was declined."),
    403: ("invalid_request_error", "account_invalid", "Emulated permission error."),
    404: ("invalid_request_error", "resource_missing", "Emulated missing resource."),
    409: ("idempotency_error", None, "Emulated conflict. Please retry."),
    429: (
        "invalid_request_error",
        "rate_limit",
        "Too many requests hit the API too quickly. We recommend an exponential backoff "
        "of your requests.",
    ),
}


def fault_error(
    status: int, *, type: str | None = None, code: str | None = None, message: str | None = None
) -> StripeError:
    """The error a configured fault answers with (defaults mimic Stripe per status)."""
    d_type, d_code, d_message = FAULT_ERRORS.get(
        status,
        (
            "api_error",
            None,
            "Sorry, something went wrong on Stripe's end. We have already been notified of "
            "the problem. (Emulated fault.)",
        ),
    )
    return StripeError(
        status, message or d_message, type=type or d_type, code=code if code else d_code
    )
