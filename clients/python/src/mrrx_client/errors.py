"""Every error the client raises: one class per API error code, all under ``MrrxError``.

The API answers every error as ``{"error": {"code", "message", "details"}}``; the class is
chosen by ``code`` (never by the HTTP status, which several codes share), so
``except SessionAlreadyExistsError`` and ``except MrrxError as e: if e.code == ...`` both
work. A code this version does not know yet is raised as ``MrrxError`` with that code.
"""

from __future__ import annotations

import contextlib
import json
import time
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

REQUEST_ID_HEADER = "X-Request-ID"


class MrrxError(Exception):
    """Base of every error from this package.

    ``code`` is the API's error code, ``message`` its message (which begins with the
    code), ``details`` the envelope's details, ``status`` the HTTP status (``None`` when no
    answer came) and ``request_id`` the ``X-Request-ID`` MRRX answered with: quote it when
    asking about a failed call, since every log line of that request carries it.
    """

    code: str = "mrrx_error"
    status: int | None = None

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        details: dict[str, Any] | None = None,
        request_id: str | None = None,
        headers: httpx.Headers | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or type(self).code
        self.status = status if status is not None else type(self).status
        self.details: dict[str, Any] = details or {}
        self.request_id = request_id
        self.headers = headers or httpx.Headers()

    def __str__(self) -> str:
        context = [f"status {self.status}"] if self.status is not None else []
        if self.request_id:
            context.append(f"request {self.request_id}")
        return f"{self.message} ({', '.join(context)})" if context else self.message

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(code={self.code!r}, status={self.status!r}, "
            f"request_id={self.request_id!r})"
        )


class MrrxConnectionError(MrrxError):
    """No answer: the connection failed or timed out (after the retries allowed)."""

    code = "connection_error"


class WebhookVerificationError(MrrxError):
    """A webhook whose signature, timestamp or body does not check out. Answer it with a
    400 and do not act on it."""

    code = "webhook_verification_failed"


class InvalidApiKeyError(MrrxError):
    code, status = "invalid_api_key", 401


class ExpiredApiKeyError(MrrxError):
    code, status = "expired_api_key", 401


class InsufficientPermissionsError(MrrxError):
    code, status = "insufficient_permissions", 403


class RateLimitedError(MrrxError):
    """Too many requests; ``retry_after`` says how many seconds to wait (when known)."""

    code, status = "rate_limited", 429

    @property
    def retry_after(self) -> float | None:
        return retry_after_seconds(self.headers)


class InvalidCustomerError(MrrxError):
    code, status = "invalid_customer", 400


class SubscriptionNotFoundError(MrrxError):
    code, status = "subscription_not_found", 404


class SubscriptionAlreadyCanceledError(MrrxError):
    code, status = "subscription_already_canceled", 400


class SessionAlreadyExistsError(MrrxError):
    """The subscription has an open session; its id is in ``details["session_id"]``."""

    code, status = "session_already_exists", 409


class SessionNotFoundError(MrrxError):
    code, status = "session_not_found", 404


class SessionExpiredError(MrrxError):
    code, status = "session_expired", 410


class SessionAlreadyCompletedError(MrrxError):
    code, status = "session_already_completed", 409


class ActionNotAvailableError(MrrxError):
    code, status = "action_not_available", 400


class InvalidTokenError(MrrxError):
    code, status = "invalid_token", 401


class InvalidRequestError(MrrxError):
    code, status = "invalid_request", 400


class UnsupportedMediaTypeError(MrrxError):
    code, status = "unsupported_media_type", 415


class ValidationError(MrrxError):
    """Bad input; ``details`` names each field and what is wrong with it."""

    code, status = "validation_error", 400


class IdempotencyKeyReusedError(MrrxError):
    code, status = "idempotency_key_reused", 422


class IdempotencyInProgressError(MrrxError):
    code, status = "idempotency_in_progress", 409


class NotFoundError(MrrxError):
    code, status = "not_found", 404


class MethodNotAllowedError(MrrxError):
    code, status = "method_not_allowed", 405


class StripeError(MrrxError):
    code, status = "stripe_error", 502


class ServiceUnavailableError(MrrxError):
    code, status = "service_unavailable", 503


class InternalError(MrrxError):
    code, status = "internal_error", 500


ERROR_CLASSES: dict[str, type[MrrxError]] = {
    cls.code: cls
    for cls in (
        InvalidApiKeyError,
        ExpiredApiKeyError,
        InsufficientPermissionsError,
        RateLimitedError,
        InvalidCustomerError,
        SubscriptionNotFoundError,
        SubscriptionAlreadyCanceledError,
        SessionAlreadyExistsError,
        SessionNotFoundError,
        SessionExpiredError,
        SessionAlreadyCompletedError,
        ActionNotAvailableError,
        InvalidTokenError,
        InvalidRequestError,
        UnsupportedMediaTypeError,
        ValidationError,
        IdempotencyKeyReusedError,
        IdempotencyInProgressError,
        NotFoundError,
        MethodNotAllowedError,
        StripeError,
        ServiceUnavailableError,
        InternalError,
    )
}

# An error answer without MRRX's envelope (a proxy's 502 page, say).
HTTP_ERROR = "http_error"


def error_from_response(response: httpx.Response) -> MrrxError:
    """The exception for an error answer, chosen by the envelope's ``code``."""
    request_id = response.headers.get(REQUEST_ID_HEADER)
    body: Any = None
    with contextlib.suppress(json.JSONDecodeError, UnicodeDecodeError):
        body = response.json()
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict) or not isinstance(error.get("code"), str):
        return MrrxError(
            f"{HTTP_ERROR}: MRRX answered {response.status_code} without an error body.",
            code=HTTP_ERROR,
            status=response.status_code,
            request_id=request_id,
            headers=response.headers,
        )
    code = error["code"]
    details = error.get("details")
    return ERROR_CLASSES.get(code, MrrxError)(
        str(error.get("message") or code),
        code=code,
        status=response.status_code,
        details=details if isinstance(details, dict) else {},
        request_id=request_id,
        headers=response.headers,
    )


def retry_after_seconds(headers: httpx.Headers) -> float | None:
    """``Retry-After`` as seconds: a number, or an HTTP date."""
    value = headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None
