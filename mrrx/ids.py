"""Prefixed, time-ordered identifiers (``ses_...``, ``evt_...``).

A 48-bit millisecond timestamp followed by 80 random bits, written in fixed-width
lowercase base36, so that ordering the strings orders the rows by creation time under
any collation. That lets an id serve as its own pagination cursor.
"""

from __future__ import annotations

import secrets
import time

from django.utils.deconstruct import deconstructible

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
_WIDTH = 25  # 36**25 > 2**128


def _base36(number: int) -> str:
    digits = []
    while number:
        number, rem = divmod(number, 36)
        digits.append(_ALPHABET[rem])
    return "".join(reversed(digits)).rjust(_WIDTH, "0")


def new_id(prefix: str, *, at_ms: int | None = None) -> str:
    """A new id for ``prefix``; ``at_ms`` fixes the time part (tests, backfills)."""
    millis = time.time_ns() // 1_000_000 if at_ms is None else at_ms
    value = (millis & ((1 << 48) - 1)) << 80 | secrets.randbits(80)
    return f"{prefix}_{_base36(value)}"


def id_length(prefix: str) -> int:
    return len(prefix) + 1 + _WIDTH


@deconstructible
class PrefixedId:
    """A model field default that migrations can serialize."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def __call__(self) -> str:
        return new_id(self.prefix)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PrefixedId) and other.prefix == self.prefix

    def __hash__(self) -> int:
        return hash(self.prefix)
