"""A small implementation of Stripe's Search Query Language for customers and subscriptions.

Supports `field:'value'` (exact, case-insensitive), `field~'value'` (substring, 3+ chars),
`created>123` style comparisons, `metadata['key']:'value'`, `-` negation, and clauses joined
by all-`AND` or all-`OR` (Stripe rejects mixing them, and so does this).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .errors import invalid

_CLAUSE = re.compile(
    r"""\s*(?P<neg>-?)(?P<field>[a-z_]+)(?:\[(?P<q>['"])(?P<key>.+?)(?P=q)\])?\s*
    (?P<op>:|~|>=|<=|>|<)\s*
    (?P<value>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|[^\s'"]+)\s*""",
    re.VERBOSE,
)
_JOIN = re.compile(r"(AND|OR)\b\s*")

Getter = Callable[[dict[str, Any], str | None], Any]


def _unquote(raw: str) -> str | int | None:
    if raw[0] in "'\"":
        return re.sub(r"\\(.)", r"\1", raw[1:-1])
    if raw == "null":
        return None
    if re.fullmatch(r"-?\d+", raw):
        return int(raw)
    return raw


def compile_query(query: str, fields: dict[str, Getter]) -> Callable[[dict[str, Any]], bool]:
    """A predicate over records for `query`; 400 `Invalid query` on bad syntax."""
    pos, clauses, joins = 0, [], set()
    while pos < len(query):
        m = _CLAUSE.match(query, pos)
        if not m:
            raise invalid(f"Invalid query: could not parse query near position {pos}.", "query")
        field = m["field"]
        if field not in fields:
            raise invalid(f"Invalid query: `{field}` is not a supported search field.", "query")
        if (field == "metadata") != (m["key"] is not None):
            raise invalid("Invalid query: metadata must be queried as metadata['key'].", "query")
        clauses.append((m["neg"] == "-", field, m["key"], m["op"], _unquote(m["value"])))
        pos = m.end()
        if pos < len(query):
            j = _JOIN.match(query, pos)
            if not j:
                raise invalid(f"Invalid query: expected AND or OR at position {pos}.", "query")
            joins.add(j[1])
            pos = j.end()
    if not clauses:
        raise invalid("Invalid query: the query is empty.", "query")
    if len(joins) > 1:
        raise invalid("Invalid query: cannot combine AND and OR in one query.", "query")

    def test(rec: dict[str, Any], clause: tuple[Any, ...]) -> bool:
        neg, field, key, op, value = clause
        actual = fields[field](rec, key)
        if op == ":":
            if isinstance(actual, str) and isinstance(value, str):
                ok = actual.casefold() == value.casefold()
            else:
                ok = actual == value or (actual is not None and str(actual) == str(value))
        elif op == "~":
            ok = isinstance(actual, str) and str(value).casefold() in actual.casefold()
        else:
            if not isinstance(actual, int) or not isinstance(value, int):
                return False
            ok = {
                ">": actual > value,
                "<": actual < value,
                ">=": actual >= value,
                "<=": actual <= value,
            }[op]
        return ok != neg

    combine = any if joins == {"OR"} else all
    return lambda rec: combine(test(rec, c) for c in clauses)


def field(name: str) -> Getter:
    return lambda rec, _key: rec.get(name)


def metadata(rec: dict[str, Any], key: str | None) -> Any:
    return (rec.get("metadata") or {}).get(key or "")
