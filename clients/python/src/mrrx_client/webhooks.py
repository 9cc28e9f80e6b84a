"""Checking the webhooks MRRX sends: ``verify_webhook(body, headers, secret)``.

MRRX signs every delivery twice, one scheme per header:

- Standard Webhooks (``webhook-id``, ``webhook-timestamp``, ``webhook-signature``): an
  HMAC-SHA256 of ``"<id>.<timestamp>.<body>"`` keyed with the base64 part of the secret.
  The timestamp is signed, so an old delivery replayed later is refused.
- ``X-MRRX-Signature: t=<unix>,v1=<hex>``: a hex HMAC-SHA256 of the body alone, keyed with
  the whole ``whsec_...`` string. ``t`` is checked against the tolerance but is not
  signed, so this scheme alone cannot tell a replay from a retry.

When the Standard Webhooks headers are there they are what is checked; otherwise the
``X-MRRX-Signature`` header. Either way, record events by their ``id`` and ignore one seen
before: deliveries are retried, and that also makes a replay harmless.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Iterable, Mapping
from typing import Any, Protocol, cast

from .errors import WebhookVerificationError
from .types import WebhookEvent

SECRET_PREFIX = "whsec_"
DEFAULT_TOLERANCE = 300  # seconds either side of now


class _HeaderItems(Protocol):
    """Anything with ``items()``: a dict, httpx's and Django's headers, Werkzeug's
    ``EnvironHeaders`` (which is no ``Mapping``: iterating it yields pairs)."""

    def items(self) -> Iterable[tuple[str, str]]: ...


def verify_webhook(
    body: bytes | str,
    headers: _HeaderItems | Mapping[str, str],
    secret: str | Iterable[str],
    tolerance: int = DEFAULT_TOLERANCE,
    *,
    now: float | None = None,
) -> WebhookEvent:
    """The event a delivery carries, once its signature and timestamp check out.

    ``body`` must be the raw request body, byte for byte (not JSON parsed and dumped
    again). ``secret`` is the endpoint's ``whsec_...`` secret, or several while you rotate
    it. Raises ``WebhookVerificationError`` for a missing or wrong signature, a timestamp
    more than ``tolerance`` seconds from ``now``, or a body that is not an event.
    """
    raw = body.encode() if isinstance(body, str) else bytes(body)
    secrets = [secret] if isinstance(secret, str) else list(secret)
    if not secrets or not all(s.startswith(SECRET_PREFIX) for s in secrets):
        raise WebhookVerificationError("The webhook secret must be the endpoint's whsec_... key.")
    lowered = {name.lower(): value for name, value in headers.items()}
    current = time.time() if now is None else now
    if "webhook-signature" in lowered:
        _verify_standard(raw, lowered, secrets, tolerance, current)
    elif "x-mrrx-signature" in lowered:
        _verify_mrrx(raw, lowered["x-mrrx-signature"], secrets, tolerance, current)
    else:
        raise WebhookVerificationError(
            "No signature: expected the webhook-signature or X-MRRX-Signature header."
        )
    return _parse_event(raw)


def _check_timestamp(raw: str, tolerance: int, now: float) -> None:
    try:
        timestamp = int(raw)
    except ValueError:
        raise WebhookVerificationError(f"The timestamp {raw!r} is not Unix seconds.") from None
    if abs(now - timestamp) > tolerance:
        raise WebhookVerificationError(
            f"The timestamp is {int(now - timestamp)} s from now, outside the tolerance of "
            f"{tolerance} s."
        )


def _verify_standard(
    raw: bytes, headers: dict[str, str], secrets: list[str], tolerance: int, now: float
) -> None:
    msg_id = headers.get("webhook-id", "")
    timestamp = headers.get("webhook-timestamp", "")
    if not msg_id or not timestamp:
        raise WebhookVerificationError("The webhook-id or webhook-timestamp header is missing.")
    _check_timestamp(timestamp, tolerance, now)
    signed = f"{msg_id}.{timestamp}.".encode() + raw
    sent = [
        part.split(",", 1)[1]
        for part in headers["webhook-signature"].split()
        if part.startswith("v1,")
    ]
    for secret in secrets:
        try:
            key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
        except binascii.Error:
            raise WebhookVerificationError("The webhook secret is not valid base64.") from None
        expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
        if any(hmac.compare_digest(expected, signature) for signature in sent):
            return
    raise WebhookVerificationError("No webhook-signature matches the body and secret.")


def _verify_mrrx(raw: bytes, header: str, secrets: list[str], tolerance: int, now: float) -> None:
    timestamp = ""
    sent = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t":
            timestamp = value
        elif name == "v1":
            sent.append(value)
    if not timestamp:
        raise WebhookVerificationError("The X-MRRX-Signature header has no timestamp (t=).")
    _check_timestamp(timestamp, tolerance, now)
    for secret in secrets:
        expected = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
        if any(hmac.compare_digest(expected, signature) for signature in sent):
            return
    raise WebhookVerificationError("No X-MRRX-Signature matches the body and secret.")


def _parse_event(raw: bytes) -> WebhookEvent:
    try:
        event: Any = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise WebhookVerificationError("The body is not JSON.") from None
    if not isinstance(event, dict) or not all(k in event for k in ("id", "type", "data")):
        raise WebhookVerificationError("The body is not an MRRX event.")
    return cast(WebhookEvent, event)
