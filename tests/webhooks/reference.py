"""Receivers' side of the signature schemes, written from the docs, not from our code."""

from __future__ import annotations

import hashlib
import hmac


def reference_verify(payload: str, signature_header: str, secret: str) -> bool:
    """The ``verifyWebhook`` of the API reference (001), line for line in Python."""
    parts = signature_header.split(",")
    timestamp = next((p[2:] for p in parts if p.startswith("t=")), None)
    signature = next((p[3:] for p in parts if p.startswith("v1=")), None)
    if not timestamp or not signature:
        return False
    expected = hmac.new(secret.encode("utf-8"), payload.encode("utf-8"), hashlib.sha256).hexdigest()
    # crypto.timingSafeEqual throws on a length mismatch, which the caller sees as a failure.
    if len(signature) != len(expected):
        return False
    return hmac.compare_digest(signature.encode(), expected.encode())


def v1_signatures(signature_header: str) -> list[str]:
    return [p[3:] for p in signature_header.split(",") if p.startswith("v1=")]


def verify_any_v1(payload: str, signature_header: str, secret: str) -> bool:
    """What a receiver should do during a rotation: accept any of the ``v1=`` values."""
    expected = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(v, expected) for v in v1_signatures(signature_header))
