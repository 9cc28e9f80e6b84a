"""What an entry says changed: model fields before and after, JSON-ready, secrets masked.

A field whose name says it holds a secret (secret, key, token, password, encrypted) never
shows its value, only whether it had one and that it changed. Every other string still
goes through the log redaction, so a key pasted into a description is masked too.
"""

from __future__ import annotations

import json
import re
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from mrrx.logging import REDACTED, redact

SECRET_NAME = re.compile(r"secret|key|token|password|encrypted", re.IGNORECASE)
# A value longer than this is cut: an entry records a change, not a copy of a document.
STRING_MAX = 2000
_EMPTY: tuple[Any, ...] = (None, "", [], {})


class _Encoder(DjangoJSONEncoder):
    def default(self, o: Any) -> Any:
        try:
            return super().default(o)
        except TypeError:
            return str(o)  # files (their name), and anything else without a JSON form


def jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, cls=_Encoder))


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        value = redact(value)
        return value if len(value) <= STRING_MAX else value[:STRING_MAX] + "…"
    if isinstance(value, list):
        return [_clean(item) for item in value]
    if isinstance(value, dict):
        return {key: _masked(str(key), item) for key, item in value.items()}
    return value


def _masked(name: str, value: Any) -> Any:
    if not SECRET_NAME.search(name):
        return _clean(value)
    if isinstance(value, dict) and set(value) <= {"before", "after"}:
        return {side: _masked(name, item) for side, item in value.items()}
    return value if value in _EMPTY else REDACTED


def changes_masked(changes: dict[str, Any]) -> dict[str, Any]:
    """``changes`` as JSON, every secret-named key's value masked, at any depth."""
    return _clean(jsonable(changes))


def snapshot(obj: models.Model) -> dict[str, Any]:
    """Every concrete field of ``obj`` (foreign keys as ids, many-to-many as id lists)."""
    values: dict[str, Any] = {
        field.name: field.value_from_object(obj) for field in obj._meta.concrete_fields
    }
    if obj.pk is not None:
        for field in obj._meta.many_to_many:
            values[field.name] = sorted(
                getattr(obj, field.name).values_list("pk", flat=True), key=str
            )
    return jsonable(values)


def fields_diff(before: dict[str, Any] | None, after: dict[str, Any] | None) -> dict[str, Any]:
    """``{field: {"before": old, "after": new}}`` for the fields that differ; with only one
    side (added, deleted), every field that has a value."""
    before, after = before or {}, after or {}
    diff = {}
    for name in sorted(before.keys() | after.keys()):
        old, new = before.get(name), after.get(name)
        if old != new and not (old in _EMPTY and new in _EMPTY):
            diff[name] = {"before": old, "after": new}
    return diff
