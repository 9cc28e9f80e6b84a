"""Shared helpers for the emulator tests: shape checks and quick object factories."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import stripe
from stripe._object_classes import get_object_class
from stripe._util import convert_to_stripe_object

# Stripe's example objects, next to the repo in ../shared (absent in a user's clone).
FIXTURES3 = Path(__file__).resolve().parents[2].parent / "shared/stripe/fixtures3.json"


@cache
def fixture_resources() -> dict[str, Any] | None:
    if not FIXTURES3.exists():
        return None
    return json.loads(FIXTURES3.read_text())["resources"]


def annotations(cls: type) -> set[str]:
    keys: set[str] = set()
    for klass in cls.__mro__:
        keys |= set(getattr(klass, "__annotations__", {}))
    keys.discard("OBJECT_NAME")
    return keys


def check_annotations(obj: dict[str, Any], cls: type, path: str = "") -> list[str]:
    """Keys in `obj` (recursively, where stripe-python types the nesting) not annotated."""
    problems = [f"{path}{k}" for k in obj if k not in annotations(cls)]
    inner = getattr(cls, "_inner_class_types", {})
    for key, value in obj.items():
        target = None
        if (
            isinstance(value, dict)
            and isinstance(value.get("object"), str)
            and value["object"] not in ("list", "search_result")
        ):
            target = get_object_class("V1", value["object"])
        elif key in inner:
            target = inner[key]
        if isinstance(value, dict) and value.get("object") == "list":
            for i, element in enumerate(value["data"]):
                element_cls = get_object_class("V1", element.get("object", ""))
                if element_cls:
                    problems += check_annotations(element, element_cls, f"{path}{key}.data[{i}].")
        elif isinstance(value, dict) and target is not None and key != "metadata":
            problems += check_annotations(value, target, f"{path}{key}.")
        elif isinstance(value, list):
            for i, element in enumerate(value):
                if isinstance(element, dict) and isinstance(element.get("object"), str):
                    element_cls = get_object_class("V1", element["object"])
                    if element_cls:
                        problems += check_annotations(element, element_cls, f"{path}{key}[{i}].")
    return problems


def check_fixture(obj: dict[str, Any], example: Any, path: str = "") -> list[str]:
    """Keys in `obj` missing from Stripe's example, recursing where the example has
    a non-empty hash (an empty hash in the example, like metadata, allows any key)."""
    resources = fixture_resources() or {}
    if not isinstance(example, dict) or not example:
        return []
    problems = [f"{path}{k}" for k in obj if k not in example]
    for key, value in obj.items():
        ex = example.get(key)
        kind = value.get("object") if isinstance(value, dict) else None
        if isinstance(kind, str) and (not isinstance(ex, dict) or ex.get("object") != kind):
            # An expanded reference or an event's data.object: compare with that
            # resource's own example.
            ex = resources.get(kind)
        if isinstance(value, dict) and isinstance(ex, dict):
            problems += check_fixture(value, ex, f"{path}{key}.")
        elif isinstance(value, list) and isinstance(ex, list) and ex and isinstance(ex[0], dict):
            for i, element in enumerate(value):
                if isinstance(element, dict):
                    problems += check_fixture(element, ex[0], f"{path}{key}[{i}].")
        elif isinstance(value, list) and all(isinstance(e, dict) for e in value):
            for i, element in enumerate(value):
                if isinstance(element.get("object"), str) and element["object"] in resources:
                    problems += check_fixture(
                        element, resources[element["object"]], f"{path}{key}[{i}]."
                    )
    return problems


def assert_shape(
    obj: dict[str, Any], resource: str, allowed_extra: frozenset[str] = frozenset()
) -> None:
    """`obj` loads as the right stripe-python class, its keys are annotated there and,
    when ../shared/stripe/fixtures3.json is present, appear in Stripe's example too."""
    cls = get_object_class("V1", obj["object"])
    assert cls is not None, obj["object"]
    loaded = convert_to_stripe_object(obj)
    assert isinstance(loaded, cls)
    constructed = cls.construct_from(obj, "sk_test_emulator")
    assert isinstance(constructed, cls)
    assert check_annotations(obj, cls) == []
    resources = fixture_resources()
    if resources is not None:  # only where the shared fixtures exist
        extra = [k for k in check_fixture(obj, resources[resource]) if k not in allowed_extra]
        assert extra == [], f"keys not in fixtures3 {resource}: {extra}"


def raw(obj: stripe.StripeObject) -> dict[str, Any]:
    """The exact JSON the emulator answered with for `obj`."""
    assert obj.last_response is not None
    return json.loads(obj.last_response.body)


def make_price(client: Any, amount: int = 2000, interval: str = "month", **extra: Any) -> Any:
    params = {
        "currency": "usd",
        "unit_amount": amount,
        "recurring": {"interval": interval},
        "product_data": {"name": f"Plan {amount}"},
        **extra,
    }
    return client.v1.prices.create(params=params)


def make_subscription(client: Any, **params: Any) -> tuple[Any, Any, Any]:
    """A customer, a monthly price and a subscription on it."""
    customer = client.v1.customers.create(params={"email": "jenny@example.com"})
    price = make_price(client)
    sub = client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": price.id}], **params}
    )
    return customer, price, sub
