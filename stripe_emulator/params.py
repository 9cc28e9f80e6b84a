"""Stripe's bracketed form encoding, both ways, and parameter validation against small specs.

stripe-python 16.1.0 sends `items[0][price]=price_x`, `metadata[k]=v`, `expand[0]=customer`;
curl users send `expand[]=customer`. Both decode to nested dicts here; a spec then turns
digit-keyed dicts into lists, coerces scalars and rejects unknown keys with Stripe's
`parameter_unknown` error, so the product cannot rely on parameters Stripe would refuse.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

from .errors import StripeError, invalid, param_missing, unknown_param


class _Clear:
    """Marker for an empty-string value: Stripe's way of unsetting a parameter."""

    def __repr__(self) -> str:
        return "CLEAR"


CLEAR: Any = _Clear()

_SEGMENT = re.compile(r"\[([^\[\]]*)\]")


def _split_key(key: str) -> list[str]:
    head, _, rest = key.partition("[")
    if not rest:
        return [head]
    parts = [head, *_SEGMENT.findall("[" + rest)]
    return parts


def decode_pairs(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Nested dicts from bracketed keys; `[]` appends (as the next digit key)."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = _split_key(key)
        node = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if part == "":
                part = str(len(node))
            if last:
                node[part] = value
                break
            child = node.get(part)
            if not isinstance(child, dict):
                # `a=1&a[b]=2`: the nested form wins, as Rack-style parsers do.
                child = {}
                node[part] = child
            node = child
    return root


def decode_form(raw: str | bytes | None) -> dict[str, Any]:
    if not raw:
        return {}
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", errors="replace")
    return decode_pairs(parse_qsl(raw, keep_blank_values=True))


def encode_params(params: Mapping[str, Any], prefix: str = "") -> str:
    """Form-encode nested params the way stripe-python does (`a[0][b]=c`)."""
    pairs: list[tuple[str, str]] = []

    def walk(value: Any, key: str) -> None:
        if value is None:
            return
        if isinstance(value, Mapping):
            for k, v in value.items():
                walk(v, f"{key}[{k}]" if key else str(k))
        elif isinstance(value, list | tuple):
            for i, v in enumerate(value):
                walk(v, f"{key}[{i}]")
        elif isinstance(value, bool):
            pairs.append((key, "true" if value else "false"))
        else:
            pairs.append((key, str(value)))

    walk(params, prefix)
    return urlencode(pairs)


def join_path(path: str, key: str | int) -> str:
    return f"{path}[{key}]" if path else str(key)


class Spec(ABC):
    """Coerces one parameter value; `path` is the bracketed name used in errors."""

    clearable = False

    @abstractmethod
    def coerce(self, value: Any, path: str) -> Any:
        """The value in the type the parameter takes, or a StripeError."""

    def __call__(self, value: Any, path: str) -> Any:
        if value == "" and not isinstance(self, Str | Text):
            if self.clearable:
                return CLEAR
            raise StripeError(
                400,
                f"You passed an empty string for '{path}'. We assume empty values are an attempt "
                f"to unset a parameter; however '{path}' cannot be unset. You should remove "
                f"'{path}' from your request or supply a non-empty value.",
                code="parameter_invalid_empty",
                param=path,
            )
        return self.coerce(value, path)


def _scalar(value: Any, path: str) -> str:
    if isinstance(value, dict):
        raise invalid(f"Invalid {path}: must be a string, not a hash", path)
    return str(value)


class Str(Spec):
    """A string; empty is either CLEAR (clearable) or parameter_invalid_empty."""

    def __init__(self, clearable: bool = False, max_length: int = 5000) -> None:
        self.clearable = clearable
        self.max_length = max_length

    def coerce(self, value: Any, path: str) -> Any:
        value = _scalar(value, path)
        if value == "":
            if self.clearable:
                return CLEAR
            raise StripeError(
                400,
                f"You passed an empty string for '{path}'. We assume empty values are an attempt "
                f"to unset a parameter; however '{path}' cannot be unset. You should remove "
                f"'{path}' from your request or supply a non-empty value.",
                code="parameter_invalid_empty",
                param=path,
            )
        if len(value) > self.max_length:
            raise invalid(
                f"Invalid {path}: must be at most {self.max_length} characters",
                path,
                code="parameter_invalid_string",
            )
        return value


class Text(Str):
    """A free-text string where empty means unset (description, comment, nickname)."""

    def __init__(self, max_length: int = 5000) -> None:
        super().__init__(clearable=True, max_length=max_length)


class Int(Spec):
    def __init__(
        self, minimum: int | None = None, maximum: int | None = None, clearable: bool = False
    ) -> None:
        self.minimum, self.maximum, self.clearable = minimum, maximum, clearable

    def coerce(self, value: Any, path: str) -> Any:
        text = _scalar(value, path).strip()
        if not re.fullmatch(r"-?\d+", text):
            raise invalid(f"Invalid integer: {text}", path, code="parameter_invalid_integer")
        number = int(text)
        if self.minimum is not None and number < self.minimum:
            raise invalid(
                f"This value must be greater than or equal to {self.minimum}.",
                path,
                code="parameter_invalid_integer",
            )
        if self.maximum is not None and number > self.maximum:
            raise invalid(
                f"This value must be less than or equal to {self.maximum}.",
                path,
                code="parameter_invalid_integer",
            )
        return number


class Decimal(Spec):
    def __init__(self, minimum: float | None = None, maximum: float | None = None) -> None:
        self.minimum, self.maximum = minimum, maximum

    def coerce(self, value: Any, path: str) -> Any:
        text = _scalar(value, path).strip()
        if not re.fullmatch(r"-?(\d+(\.\d*)?|\.\d+)", text):
            raise invalid(f"Invalid decimal: {text}", path)
        number = float(text)
        if (self.minimum is not None and number < self.minimum) or (
            self.maximum is not None and number > self.maximum
        ):
            raise invalid(
                f"Invalid {path}: must be between {self.minimum:g} and {self.maximum:g}", path
            )
        return number


class Bool(Spec):
    def coerce(self, value: Any, path: str) -> Any:
        text = _scalar(value, path)
        if text in ("true", "True", "1"):
            return True
        if text in ("false", "False", "0"):
            return False
        raise invalid(f"Invalid boolean: {text}", path)


class Enum(Spec):
    def __init__(self, *choices: str, clearable: bool = False) -> None:
        self.choices = choices
        self.clearable = clearable

    def coerce(self, value: Any, path: str) -> Any:
        text = _scalar(value, path)
        if text not in self.choices:
            listed = ", ".join(self.choices[:-1]) + f", or {self.choices[-1]}"
            raise invalid(f"Invalid {path}: must be one of {listed}", path)
        return text


class Timestamp(Spec):
    """A unix timestamp, optionally also the literal `now`."""

    def __init__(self, allow_now: bool = False, clearable: bool = False) -> None:
        self.allow_now, self.clearable = allow_now, clearable

    def coerce(self, value: Any, path: str) -> Any:
        text = _scalar(value, path).strip()
        if self.allow_now and text == "now":
            return "now"
        if not re.fullmatch(r"\d+", text):
            raise invalid(
                "Invalid timestamp: must be an integer Unix timestamp"
                + (" or the string 'now'." if self.allow_now else "."),
                path,
                code="parameter_invalid_integer",
            )
        return int(text)


class Metadata(Spec):
    """`metadata[k]=v`; an empty value deletes that key, `metadata=` clears all."""

    clearable = True

    def coerce(self, value: Any, path: str) -> Any:
        if not isinstance(value, dict):
            raise invalid(f"Invalid {path}: must be a hash of key/value pairs", path)
        if len(value) > 50:
            raise invalid("Metadata can have up to 50 keys.", path)
        out: dict[str, str | None] = {}
        for key, item in value.items():
            if isinstance(item, dict):
                raise invalid(f"Invalid {join_path(path, key)}: must be a string", path)
            if len(key) > 40:
                raise invalid(f"Metadata keys can have up to 40 characters: {key}", path)
            if len(str(item)) > 500:
                raise invalid(f"Metadata values can have up to 500 characters: {key}", path)
            out[key] = None if item == "" else str(item)
        return out


class Obj(Spec):
    """A hash with known keys; anything else is `parameter_unknown`."""

    def __init__(self, fields: Mapping[str, Spec], clearable: bool = False) -> None:
        self.fields = fields
        self.clearable = clearable

    def coerce(self, value: Any, path: str) -> Any:
        if not isinstance(value, dict):
            raise invalid(f"Invalid {path}: must be a hash", path)
        out: dict[str, Any] = {}
        for key, item in value.items():
            spec = self.fields.get(key)
            sub = join_path(path, key)
            if spec is None:
                raise unknown_param(sub)
            out[key] = spec(item, sub)
        return out


class Arr(Spec):
    """An array, sent as `name[0]=..` (stripe-python) or `name[]=..` (curl)."""

    def __init__(self, item: Spec, clearable: bool = False, max_items: int = 100) -> None:
        self.item = item
        self.clearable = clearable
        self.max_items = max_items

    def coerce(self, value: Any, path: str) -> Any:
        if not isinstance(value, dict) or not all(k.isdigit() for k in value):
            raise invalid(f"Invalid array: {path}", path)
        if len(value) > self.max_items:
            raise invalid(f"Invalid {path}: must have at most {self.max_items} items", path)
        return [self.item(value[k], join_path(path, k)) for k in sorted(value, key=int)]


EXPAND = Arr(Str(), max_items=100)
LIST_PARAMS: dict[str, Spec] = {
    "limit": Int(1, 100),
    "starting_after": Str(),
    "ending_before": Str(),
    "expand": EXPAND,
}
RETRIEVE: dict[str, Spec] = {"expand": EXPAND}


def validate(params: dict[str, Any], fields: Mapping[str, Spec]) -> dict[str, Any]:
    """Coerce top-level `params` against `fields` (unknown keys are rejected)."""
    return Obj(fields).coerce(params, "")


def require(params: Mapping[str, Any], *names: str) -> None:
    for name in names:
        if name not in params or params[name] is CLEAR:
            raise param_missing(name)
