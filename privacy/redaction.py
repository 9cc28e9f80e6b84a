"""Telling a person's details apart from the figures around them, and replacing them.

Erasure keeps every row and its shape: a value about the person becomes ``ERASED``
(``"[erased]"``) where it stood, a map keeps its keys, a list its length. What is kept is
what analytics and the merchant's books need: ids, statuses, reason codes, outcomes,
amounts, currencies and dates.

Two passes find the details. By key, at any depth of a JSON value (Stripe's payloads,
webhook bodies, audit changes, stored API answers): ``PERSONAL_KEYS`` and the personal
fields of a Stripe customer object. By text, anywhere erasure looks: the addresses, names,
feedback and free-text reasons found by key are also searched for in free text (an error
message, a URL, a receiver's echo) and replaced there.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

ERASED = "[erased]"

# Whatever these hold is about the person, or is the merchant's free-form data about them
# (metadata, context): every value under them is replaced.
PERSONAL_KEYS = frozenset(
    {
        "email",
        "customer_email",
        "receipt_email",
        "to_email",
        "customer_name",
        "phone",
        "customer_phone",
        "address",
        "customer_address",
        "shipping",
        "customer_shipping",
        # The country of the customer's address, kept when a segment flow's rule uses it.
        "customer_country",
        "customer_details",
        "billing_details",
        "feedback",
        "survey_feedback",
        # Stripe's cancellation_details.comment: the subscriber's feedback, as MRRX sent it.
        "comment",
        "reason_other",
        "survey_reason_other",
        "metadata",
        "context",
        "ip",
        "ip_address",
        "user_agent",
    }
)
# On a Stripe customer object these are the person too ("name" elsewhere is a product's).
CUSTOMER_OBJECT_KEYS = frozenset({"name", "description"})
# Text worth searching for elsewhere. Not metadata or context values: "pro" or "true" would
# be replaced inside unrelated words.
SEARCHED_KEYS = PERSONAL_KEYS - {"metadata", "context", "ip", "ip_address", "user_agent"}
# Shorter texts are not searched for: they would match inside ordinary words.
SEARCHED_MIN_LENGTH = 5


def _is_customer_object(value: dict[str, Any]) -> bool:
    return value.get("object") == "customer"


def erased(value: Any) -> Any:
    """``value`` with every non-empty leaf replaced by ``ERASED``: keys, nesting and list
    lengths kept, ``None``, ``""`` and flags (booleans) left as they are."""
    if isinstance(value, dict):
        return {key: erased(item) for key, item in value.items()}
    if isinstance(value, list):
        return [erased(item) for item in value]
    if value is None or value == "" or isinstance(value, bool):
        return value
    return ERASED


class Needles:
    """The person's texts found by key, to be searched for and replaced in free text."""

    def __init__(self, texts: Iterable[str]) -> None:
        found = {
            text.strip()
            for text in texts
            if len(text.strip()) >= SEARCHED_MIN_LENGTH and text.strip() != ERASED
        }
        # Longest first, so that an address is replaced whole before a part of it could be.
        ordered = sorted(found, key=lambda text: (-len(text), text))
        self.pattern = (
            re.compile("|".join(re.escape(text) for text in ordered), re.IGNORECASE)
            if ordered
            else None
        )

    def scrub(self, text: str) -> str:
        if not text or self.pattern is None:
            return text
        return self.pattern.sub(ERASED, text)


def texts_in(value: Any, *, personal: bool = False) -> Iterator[str]:
    """The strings of ``value`` that are the person's and worth searching for elsewhere."""
    if isinstance(value, dict):
        customer = _is_customer_object(value)
        for key, item in value.items():
            name = str(key).lower()
            yield from texts_in(
                item,
                personal=personal
                or name in SEARCHED_KEYS
                or (customer and name in CUSTOMER_OBJECT_KEYS),
            )
    elif isinstance(value, list):
        for item in value:
            yield from texts_in(item, personal=personal)
    elif personal and isinstance(value, str):
        yield value


def redacted(value: Any, needles: Needles) -> Any:
    """``value`` (JSON) with the person's details replaced by key, and their texts by search."""
    if isinstance(value, dict):
        customer = _is_customer_object(value)
        out = {}
        for key, item in value.items():
            name = str(key).lower()
            if name in PERSONAL_KEYS or (customer and name in CUSTOMER_OBJECT_KEYS):
                out[key] = erased(item)
            else:
                out[key] = redacted(item, needles)
        return out
    if isinstance(value, list):
        return [redacted(item, needles) for item in value]
    if isinstance(value, str):
        return needles.scrub(value)
    return value


def names_customer(value: Any, customer_id: str) -> bool:
    """Whether any string in ``value`` (JSON) is exactly ``customer_id``."""
    if isinstance(value, dict):
        return any(names_customer(item, customer_id) for item in value.values())
    if isinstance(value, list):
        return any(names_customer(item, customer_id) for item in value)
    return value == customer_id


# Conditions of a segment rule about the person: a session's ``flow_match`` keeps the
# value each failed one saw (the country, a context or metadata value).
PERSONAL_CONDITIONS = ("countries", "context.", "metadata.")


def flow_match_erased(match: Any) -> Any:
    """A session's ``flow_match`` with the values its failed personal conditions saw
    replaced; the flows tried, the conditions' names and the rules' own values kept."""
    if not isinstance(match, dict) or not isinstance(match.get("tried"), list):
        return match
    tried = []
    for entry in match["tried"]:
        failed = entry.get("failed") if isinstance(entry, dict) else None
        condition = str((failed or {}).get("condition") or "")
        if failed and condition.startswith(PERSONAL_CONDITIONS):
            entry = {**entry, "failed": {**failed, "value": erased(failed.get("value"))}}
        tried.append(entry)
    return {**match, "tried": tried}
