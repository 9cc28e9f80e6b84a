"""Verifying inbound Stripe webhooks: the signature, its age and the body."""

from __future__ import annotations

import json
from typing import Any

import stripe

from .errors import WebhookSignatureInvalid

WEBHOOK_TOLERANCE_SECONDS = 300


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
