"""Shared request-time helpers for resource handlers: the `Call` context, list and search paging."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from . import render, search
from .errors import exclusive, invalid, missing
from .params import CLEAR, EXPAND, Int, Str, require, validate
from .state import Namespace

Record = dict[str, Any]


class Host(Protocol):
    """What resource handlers may use of the emulator running them.

    Handlers see the platform's account registry (for `/v1/account(s)`) and record events;
    everything else (routing, auth, idempotency, delivery) stays out of their reach.
    """

    platform_account: str
    accounts: dict[str, dict[str, Any]]

    def emit(
        self,
        ns: Namespace,
        type: str,
        obj: dict[str, Any],
        previous: dict[str, Any] | None = None,
        *,
        at: int,
        request_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]: ...


class Call:
    """One API request being executed inside a namespace."""

    __slots__ = ("account", "emu", "idempotency_key", "now", "ns", "params", "request_id")

    def __init__(
        self,
        emu: Host,
        ns: Namespace,
        params: dict[str, Any],
        now: int,
        request_id: str | None,
        idempotency_key: str | None,
    ) -> None:
        self.emu = emu
        self.ns = ns
        self.params = params
        self.now = now
        self.request_id = request_id
        self.idempotency_key = idempotency_key
        self.account = ns.account

    def emit(
        self, type: str, obj: dict[str, Any], previous: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return self.emu.emit(
            self.ns,
            type,
            obj,
            previous,
            at=self.now,
            request_id=self.request_id,
            idempotency_key=self.idempotency_key,
        )

    def render(self, table: str, rec: Record, expand: Iterable[str] = ()) -> dict[str, Any]:
        obj = render.RENDERERS[table](self.ns, rec)
        if expand:
            render.expand(self.ns, obj, list(expand))
        return obj


def merge_metadata(current: dict[str, str], update: Any) -> dict[str, str]:
    """Stripe's metadata update: merge, empty value deletes a key, `metadata=` clears."""
    if update is CLEAR:
        return {}
    merged = dict(current)
    for key, value in update.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def clean_metadata(update: Any) -> dict[str, str]:
    if update is CLEAR or not update:
        return {}
    return {k: v for k, v in update.items() if v is not None}


def paginate(
    call: Call,
    table: str,
    records: list[Record],
    params: dict[str, Any],
    url: str,
    render_fn: Callable[[Record], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A Stripe list object over `records` (newest first) with cursor paging."""
    limit = params.get("limit", 10)
    after, before = params.get("starting_after"), params.get("ending_before")
    if after and before:
        raise exclusive("starting_after", "ending_before")
    ids = [r["id"] for r in records]
    if after:
        if after not in call.ns.tables[table]:
            raise missing(table, after, "starting_after")
        start = ids.index(after) + 1 if after in ids else len(ids)
        window = records[start : start + limit]
        has_more = len(records) > start + limit
    elif before:
        if before not in call.ns.tables[table]:
            raise missing(table, before, "ending_before")
        end = ids.index(before) if before in ids else 0
        start = max(0, end - limit)
        window = records[start:end]
        has_more = start > 0
    else:
        window = records[:limit]
        has_more = len(records) > limit
    fn = render_fn or (lambda rec: render.RENDERERS[table](call.ns, rec))
    result = {"object": "list", "data": [fn(r) for r in window], "has_more": has_more, "url": url}
    if params.get("expand"):
        render.expand(call.ns, result, params["expand"])
    return result


SEARCH = {"query": Str(), "limit": Int(1, 100), "page": Str(), "expand": EXPAND}


def search_records(
    call: Call, table: str, fields: dict[str, search.Getter], url: str
) -> dict[str, Any]:
    """A Stripe search result over `table` (newest first) with opaque page tokens."""
    p = validate(call.params, SEARCH)
    require(p, "query")
    predicate = search.compile_query(p["query"], fields)
    matches = [r for r in newest_first(call.ns, table) if predicate(r)]
    offset = 0
    if "page" in p:
        try:
            offset = int(base64.urlsafe_b64decode(p["page"].encode()).decode())
        except ValueError:
            raise invalid("Invalid page: not a page token returned by a search.", "page") from None
    limit = p.get("limit", 10)
    window = matches[offset : offset + limit]
    has_more = len(matches) > offset + limit
    next_page = (
        base64.urlsafe_b64encode(str(offset + limit).encode()).decode() if has_more else None
    )
    result = {
        "object": "search_result",
        "data": [call.render(table, r) for r in window],
        "has_more": has_more,
        "next_page": next_page,
        "url": url,
    }
    if p.get("expand"):
        render.expand(call.ns, result, p["expand"])
    return result


def newest_first(ns: Namespace, table: str) -> list[Record]:
    return [r for r in reversed(ns.tables[table].values()) if not r.get("_deleted")]


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """`previous_attributes`: old values of changed top-level keys.

    Like Stripe, a changed hash (metadata, pause_collection, ...) lists only the sub-keys
    that changed, with `None` for keys that did not exist before.
    """
    prev: dict[str, Any] = {}
    for key, old in before.items():
        new = after.get(key)
        if old == new:
            continue
        if isinstance(old, dict) and isinstance(new, dict) and key in ("metadata",):
            prev[key] = {k: old.get(k) for k in set(old) | set(new) if old.get(k) != new.get(k)}
        else:
            prev[key] = old
    return prev
