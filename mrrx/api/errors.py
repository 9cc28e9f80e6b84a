"""The error envelope: every API error, ours, DRF's and Django's, as
``{"error": {"code", "message", "details"}}``, its message led by its code
("session_already_exists: an active session already exists for this subscription.")."""

from __future__ import annotations

import logging
import re
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import exceptions as drf
from rest_framework.response import Response

logger = logging.getLogger(__name__)

# Every code the API can answer with, and its HTTP status.
ERROR_STATUS: dict[str, int] = {
    "invalid_api_key": 401,
    "expired_api_key": 401,
    "insufficient_permissions": 403,
    "rate_limited": 429,
    "invalid_customer": 400,
    "subscription_not_found": 404,
    "subscription_already_canceled": 400,
    "session_already_exists": 409,
    "session_not_found": 404,
    "session_expired": 410,
    "session_already_completed": 409,
    "action_not_available": 400,
    "invalid_token": 401,
    "invalid_request": 400,
    "unsupported_media_type": 415,
    "validation_error": 400,
    "idempotency_key_reused": 422,
    "idempotency_in_progress": 409,
    "not_found": 404,
    "method_not_allowed": 405,
    "stripe_error": 502,
    "service_unavailable": 503,
    "internal_error": 500,
}


class ApiError(Exception):
    """An error a client is meant to see: a stable code, a sentence, and details.

    ``message`` stays the bare sentence: the hosted flow shows it to subscribers as it is,
    and only ``envelope()`` leads it with the code for API clients.
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or {}
        self.status = status or ERROR_STATUS[code]
        self.headers = headers or {}


# Names in our messages that keep their capital after "<code>: ". Words with a capital past
# their first letter ("API", "JSON", "Idempotency-Key", "Stripe-Signature") keep it anyway.
_PROPER_NOUNS = frozenset({"Stripe", "Unix", "Authorization", "Bearer"})
_FIRST_WORD = re.compile(r"[^\W\d_][\w'-]*")


def _sentence_after_colon(sentence: str) -> str:
    """``sentence`` as it reads after "<code>: ": its first letter lower-cased, unless its
    first word is a name or an acronym ("No API key" -> "no API key", "Stripe could not"
    stays)."""
    match = _FIRST_WORD.match(sentence)
    word = match.group() if match else ""
    if not word[:1].isupper():
        return sentence
    if any(c.isupper() for c in word[1:]) or word.split("'")[0] in _PROPER_NOUNS:
        return sentence  # "Stripe's ..." too
    return sentence[0].lower() + sentence[1:]


def coded_message(code: str, message: Any) -> str:
    """The envelope's message: the code, then the sentence.

    Clients that only keep the message (``new Error(body.error.message)``) can still branch
    on the code, by its prefix or by a substring such as ``already_exists``.
    """
    sentence = str(message).strip()  # str(): DRF and gettext_lazy hand over lazy strings
    if sentence in ("", code):
        # Nothing to say beyond the code; still "<code>: ...", so that clients parse it alike.
        return f"{code}: {code.replace('_', ' ')}."
    if sentence.startswith(f"{code}:"):
        return sentence  # already led by its code: once is enough
    return f"{code}: {_sentence_after_colon(sentence)}"


def envelope(code: str, message: Any, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """The body of every API error. Every error response is built here, so the message
    prefix is added in this one place and nowhere else."""
    return {
        "error": {"code": code, "message": coded_message(code, message), "details": details or {}}
    }


def _field_errors(detail: Any) -> dict[str, Any]:
    """DRF's nested error detail as plain strings, keyed by field."""
    if isinstance(detail, dict):
        return {str(k): _field_errors(v) for k, v in detail.items()}
    if isinstance(detail, list):
        flat = [_field_errors(v) for v in detail]
        return flat  # type: ignore[return-value]
    return str(detail)


def _as_api_error(exc: Exception) -> ApiError:
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, drf.ValidationError):
        details = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        return ApiError(
            "validation_error", "The request failed validation.", details=_field_errors(details)
        )
    if isinstance(exc, drf.ParseError):
        return ApiError("invalid_request", f"Malformed request body: {exc.detail}")
    if isinstance(exc, drf.UnsupportedMediaType):
        return ApiError(
            "invalid_request",
            "Request bodies must be JSON (Content-Type: application/json).",
            status=415,
        )
    if isinstance(exc, drf.NotAcceptable):
        return ApiError("invalid_request", "Responses are JSON only.", status=406)
    if isinstance(exc, (drf.NotAuthenticated, drf.AuthenticationFailed)):
        return ApiError("invalid_api_key", "No valid API key was provided.")
    if isinstance(exc, (drf.PermissionDenied, DjangoPermissionDenied)):
        return ApiError("insufficient_permissions", "This API key may not do that.")
    if isinstance(exc, (drf.NotFound, Http404)):
        return ApiError("not_found", "No such resource.")
    if isinstance(exc, drf.MethodNotAllowed):
        return ApiError("method_not_allowed", str(exc.detail))
    if isinstance(exc, drf.Throttled):
        return ApiError("rate_limited", "Too many requests.")
    if isinstance(exc, drf.APIException):
        return ApiError("invalid_request", str(exc.detail), status=exc.status_code)
    logger.exception("Unhandled error in API view", exc_info=exc)
    return ApiError("internal_error", "Something went wrong on our side. It has been logged.")


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF's EXCEPTION_HANDLER: one place turns every exception into the envelope."""
    error = _as_api_error(exc)
    headers = dict(error.headers)
    if isinstance(exc, drf.MethodNotAllowed) and context.get("view") is not None:
        headers["Allow"] = ", ".join(context["view"].allowed_methods)
    return Response(
        envelope(error.code, error.message, error.details), status=error.status, headers=headers
    )


def is_api_path(path: str) -> bool:
    return path.startswith(("/api/", "/v1/"))


def api_not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    return JsonResponse(envelope("not_found", f"No endpoint at {request.path}."), status=404)


def handler404(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api_path(request.path):
        return api_not_found(request)
    return defaults.page_not_found(request, exception)


def handler500(request: HttpRequest) -> HttpResponse:
    if is_api_path(request.path):
        body = envelope("internal_error", "Something went wrong on our side. It has been logged.")
        return JsonResponse(body, status=500)
    return defaults.server_error(request)


def handler400(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api_path(request.path):
        return JsonResponse(envelope("invalid_request", "Bad request."), status=400)
    return defaults.bad_request(request, exception)


def handler403(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api_path(request.path):
        body = envelope("insufficient_permissions", "Forbidden.")
        return JsonResponse(body, status=403)
    return defaults.permission_denied(request, exception)
