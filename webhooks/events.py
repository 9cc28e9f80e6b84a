"""The registry of webhook event types and the payloads they carry (SPEC section 6).

Every event MRRX sends is declared here, once. ``event_emit`` asks the registry to build
the ``data`` object, so the payload shape is the same whoever emits: for session and
subscription events every key of ``DATA_KEYS`` is present (``null`` when the caller had
nothing to say), for ``customer.erased`` those of ``CUSTOMER_ERASED_KEYS``, and no other
key slips in unnoticed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

# The keys of every event's ``data`` object, in the order they are serialized.
DATA_KEYS: tuple[str, ...] = (
    "session_id",
    "subscription_id",
    "customer_id",
    "action",
    "outcome",
    "survey_response",
    "metadata",
    "livemode",
    # Where the session came from: "flow" (a subscriber's), "api" (a direct cancel),
    # "hub" (the subscription hub).
    "source",
    # The session's status when the event was written (session.expired: expired or
    # abandoned), why it ended early, and what went wrong for session.failed.
    "status",
    "end_reason",
    "error",
    # The experiment and arm the session was assigned to: {"id": "exp_...", "arm": "<key>"}.
    "experiment",
    # The segment flow the session got: {"id": "flw_...", "name": "..."}; null: the default.
    "flow",
)

PayloadBuilder = Callable[["EventType", Mapping[str, Any], bool], dict[str, Any]]


class UnknownEventType(ValueError):
    pass


class InvalidEventData(ValueError):
    pass


def session_payload(event_type: EventType, data: Mapping[str, Any], livemode: bool) -> dict:
    """The standard ``data`` object: every key present, missing ones null.

    ``action`` defaults to the action the event type implies (``subscription.paused`` is a
    ``pause``), so that a receiver can switch on it for every subscription event.
    """
    unknown = set(data) - set(DATA_KEYS)
    if unknown:
        raise InvalidEventData(
            f"Unknown data keys for {event_type.name}: {', '.join(sorted(unknown))}; "
            f"allowed: {', '.join(DATA_KEYS)}."
        )
    if "livemode" in data and data["livemode"] is not None and data["livemode"] != livemode:
        raise InvalidEventData("data.livemode disagrees with the event's mode.")
    built = {key: data.get(key) for key in DATA_KEYS}
    built["livemode"] = livemode
    if built["action"] is None and event_type.action is not None:
        built["action"] = event_type.action
    return built


# ``customer.erased``: which customer, and how many rows of each kind were erased. No
# session stands behind it, and it carries nothing about the person but the id.
CUSTOMER_ERASED_KEYS: tuple[str, ...] = ("customer_id", "counts", "livemode")


def customer_erased_payload(
    event_type: EventType, data: Mapping[str, Any], livemode: bool
) -> dict[str, Any]:
    """``{"customer_id", "counts", "livemode"}``: the id and per-kind counts, nothing else."""
    unknown = set(data) - set(CUSTOMER_ERASED_KEYS)
    if unknown:
        raise InvalidEventData(
            f"Unknown data keys for {event_type.name}: {', '.join(sorted(unknown))}; "
            f"allowed: {', '.join(CUSTOMER_ERASED_KEYS)}."
        )
    counts = data.get("counts") or {}
    if not all(isinstance(n, int) and not isinstance(n, bool) for n in counts.values()):
        raise InvalidEventData("data.counts holds numbers of rows only.")
    return {"customer_id": data.get("customer_id"), "counts": dict(counts), "livemode": livemode}


@dataclass(frozen=True)
class EventType:
    name: str
    description: str
    # The action a subscription event stands for (None for session events).
    action: str | None = None
    build: PayloadBuilder = session_payload


_REGISTRY: dict[str, EventType] = {}


def register(event_type: EventType) -> EventType:
    if event_type.name in _REGISTRY:
        raise ValueError(f"Event type {event_type.name} is registered twice.")
    _REGISTRY[event_type.name] = event_type
    return event_type


for _event_type in (
    EventType("session.created", "A cancellation session was created through the API."),
    EventType("session.completed", "The subscriber finished the flow and the action ran."),
    EventType(
        "session.expired",
        "The session reached its expiry without finishing (expired or abandoned).",
    ),
    EventType("session.failed", "The chosen action could not be carried out."),
    EventType("subscription.paused", "The subscription was paused.", action="pause"),
    EventType(
        "subscription.discount_applied",
        "A retention discount was applied to the subscription.",
        action="discount",
    ),
    EventType(
        "subscription.downgraded", "The subscription moved to a cheaper price.", action="downgrade"
    ),
    EventType(
        "subscription.trial_extended",
        "The subscription's trial was extended.",
        action="extend_trial",
    ),
    EventType("subscription.canceled", "The subscription was canceled.", action="cancel"),
    # From the subscription hub: ``session_id`` is the hub session's id (``hub_...``) and
    # ``source`` is ``hub``.
    EventType(
        "subscription.resumed",
        "The customer resumed a paused subscription in the hub.",
        action="resume",
    ),
    EventType(
        "subscription.reactivated",
        "The customer undid a scheduled cancellation in the hub.",
        action="reactivate",
    ),
    EventType(
        "subscription.plan_changed",
        "The customer moved the subscription to another price in the hub.",
        action="change_plan",
    ),
    # Sent after POST /api/v1/customers/<id>/erase (or manage.py customer_erase), every
    # time, so that the merchant's systems can erase their own copies.
    EventType(
        "customer.erased",
        "Everything MRRX held about a customer was erased (personal details replaced).",
        build=customer_erased_payload,
    ),
):
    register(_event_type)


def event_types() -> list[EventType]:
    """Every registered type, in declaration order (for admin, forms and docs)."""
    return list(_REGISTRY.values())


def event_type_names() -> list[str]:
    return list(_REGISTRY)


def event_type_choices() -> list[tuple[str, str]]:
    return [(t.name, t.name) for t in _REGISTRY.values()]


def get_event_type(name: str) -> EventType:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownEventType(
            f"Unknown event type {name!r}; known: {', '.join(_REGISTRY)}."
        ) from None


def build_data(name: str, data: Mapping[str, Any], *, livemode: bool) -> dict[str, Any]:
    """Validate ``name`` and return the complete ``data`` object for an event of that type."""
    event_type = get_event_type(name)
    return event_type.build(event_type, data, livemode)
