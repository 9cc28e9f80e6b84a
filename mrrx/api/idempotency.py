"""``Idempotency-Key`` for POST: one effect per key, the first answer replayed.

The record is claimed by an INSERT against a unique constraint before the request runs,
so two concurrent requests with one key cannot both proceed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from mrrx.models import IdempotencyRecord

from .errors import ApiError

# Answers not worth keeping: the client is expected to fix the request and retry.
_NOT_STORED_CODES = {"validation_error", "invalid_request", "rate_limited", "internal_error"}


@dataclass
class Replay(Exception):
    status: int
    body: Any


def request_fingerprint(*, method: str, path: str, data: Any) -> str:
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{method} {path}\n{canonical}".encode()).hexdigest()


def idempotency_begin(*, tenant, livemode: bool, key: str, fingerprint: str) -> IdempotencyRecord:  # type: ignore[no-untyped-def]
    """Claim ``key`` for this request, or raise ``Replay`` / the right ``ApiError``."""
    if not key or len(key) > 255:
        raise ApiError(
            "validation_error",
            "Idempotency-Key must be 1 to 255 characters.",
            details={"Idempotency-Key": "must be 1 to 255 characters"},
        )
    now = timezone.now()
    scope = {"tenant": tenant, "livemode": livemode, "key": key}
    for _ in range(3):
        try:
            with transaction.atomic():
                return IdempotencyRecord.objects.create(
                    **scope, request_hash=fingerprint, created_at=now, locked_at=now
                )
        except IntegrityError:
            pass
        record = IdempotencyRecord.objects.filter(**scope).first()
        if record is None:
            continue  # pruned between our insert and read
        if record.created_at < now - settings.IDEMPOTENCY_TTL:
            IdempotencyRecord.objects.filter(pk=record.pk, created_at=record.created_at).delete()
            continue
        if record.request_hash != fingerprint:
            raise ApiError(
                "idempotency_key_reused",
                "This Idempotency-Key was used with a different request body.",
                details={"idempotency_key": key},
            )
        if record.status == IdempotencyRecord.Status.COMPLETED:
            raise Replay(status=record.response_status, body=record.response_body)
        stale = now - settings.IDEMPOTENCY_LOCK_TIMEOUT
        if record.locked_at < stale:
            # The first request died mid-way; take the key over, exactly one claimant wins.
            taken = IdempotencyRecord.objects.filter(
                pk=record.pk, status=IdempotencyRecord.Status.IN_PROGRESS, locked_at__lt=stale
            ).update(locked_at=now)
            if taken == 1:
                record.locked_at = now
                return record
        raise ApiError(
            "idempotency_in_progress",
            "A request with this Idempotency-Key is still being processed.",
            details={"idempotency_key": key},
        )
    raise ApiError("idempotency_in_progress", "Could not claim the Idempotency-Key; retry.")


def idempotency_finish(*, record: IdempotencyRecord, status: int, body: Any) -> None:
    """Keep the answer for replays, or release the key when the answer is not final."""
    code = body.get("error", {}).get("code") if isinstance(body, dict) else None
    if status >= 500 or code in _NOT_STORED_CODES:
        IdempotencyRecord.objects.filter(pk=record.pk).delete()
        return
    IdempotencyRecord.objects.filter(pk=record.pk).update(
        status=IdempotencyRecord.Status.COMPLETED, response_status=status, response_body=body
    )


def idempotency_prune() -> int:
    cutoff = timezone.now() - settings.IDEMPOTENCY_TTL
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
