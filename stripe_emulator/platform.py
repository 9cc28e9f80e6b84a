"""Events, webhook endpoints and accounts."""

from __future__ import annotations

from typing import Any

from . import render
from .core import Call, clean_metadata, merge_metadata, newest_first, paginate
from .errors import invalid, missing, param_missing
from .params import (
    CLEAR,
    EXPAND,
    LIST_PARAMS,
    RETRIEVE,
    Arr,
    Bool,
    Int,
    Metadata,
    Obj,
    Spec,
    Str,
    Text,
    validate,
)
from .render import require_record
from .util import new_id, secret_token


class Range(Spec):
    """`created=123` or `created[gte]=123&created[lt]=456`."""

    _BOUNDS = Obj({k: Int(0) for k in ("gt", "gte", "lt", "lte")})

    def coerce(self, value: Any, path: str) -> Any:
        if isinstance(value, dict):
            return self._BOUNDS.coerce(value, path)
        return {"eq": Int(0).coerce(value, path)}


def in_range(value: int, bounds: dict[str, int]) -> bool:
    checks = {
        "eq": value == bounds.get("eq", value),
        "gt": value > bounds.get("gt", value - 1),
        "gte": value >= bounds.get("gte", value),
        "lt": value < bounds.get("lt", value + 1),
        "lte": value <= bounds.get("lte", value),
    }
    return all(checks.values())


EVENT_LIST = {
    **LIST_PARAMS,
    "type": Str(),
    "types": Arr(Str(), max_items=20),
    "created": Range(),
    "delivery_success": Bool(),
}


def type_matches(pattern: str, event_type: str) -> bool:
    """Stripe's event type filters: exact, `*`, or a trailing wildcard like `customer.*`."""
    if pattern in ("*", event_type):
        return True
    return pattern.endswith(".*") and event_type.startswith(pattern[:-1])


def list_events(call: Call) -> dict[str, Any]:
    p = validate(call.params, EVENT_LIST)
    if "type" in p and "types" in p:
        raise invalid("You may only specify one of these parameters: type, types.", "type")
    records = newest_first(call.ns, "events")
    patterns = p.get("types") or ([p["type"]] if "type" in p else None)
    if patterns:
        records = [r for r in records if any(type_matches(t, r["type"]) for t in patterns)]
    if "created" in p:
        records = [r for r in records if in_range(r["created"], p["created"])]
    return paginate(call, "events", records, p, "/v1/events", render_fn=dict)


def retrieve_event(call: Call, obj_id: str) -> dict[str, Any]:
    validate(call.params, RETRIEVE)
    return dict(require_record(call.ns, "events", obj_id))


# --- webhook endpoints -----------------------------------------------------------------

ENDPOINT_CREATE = {
    "url": Str(),
    "enabled_events": Arr(Str(), max_items=500),
    "connect": Bool(),
    "description": Text(),
    "metadata": Metadata(),
    "api_version": Str(),
    "expand": EXPAND,
}
ENDPOINT_UPDATE = {
    "url": Str(),
    "enabled_events": Arr(Str(), max_items=500),
    "disabled": Bool(),
    "description": Text(),
    "metadata": Metadata(),
    "expand": EXPAND,
}


def _check_url(url: str, param: str = "url") -> str:
    if not url.startswith(("http://", "https://")):
        raise invalid(f"Invalid URL: {url}. URLs must begin with http:// or https://", param)
    return url


def create_webhook_endpoint(call: Call) -> dict[str, Any]:
    p = validate(call.params, ENDPOINT_CREATE)
    if "url" not in p:
        raise param_missing("url")
    if not p.get("enabled_events"):
        raise param_missing("enabled_events")
    rec = {
        "id": new_id("we"),
        "created": call.now,
        "url": _check_url(p["url"]),
        "enabled_events": p["enabled_events"],
        "connect": p.get("connect", False),
        "description": None if p.get("description") in (None, CLEAR) else p["description"],
        "metadata": clean_metadata(p.get("metadata")),
        "api_version": p.get("api_version"),
        "secret": "whsec_" + secret_token(32),
    }
    call.ns.tables["webhook_endpoints"][rec["id"]] = rec
    return render.webhook_endpoint(call.ns, rec, with_secret=True)


def retrieve_webhook_endpoint(call: Call, obj_id: str) -> dict[str, Any]:
    validate(call.params, RETRIEVE)
    return render.webhook_endpoint(call.ns, require_record(call.ns, "webhook_endpoints", obj_id))


def update_webhook_endpoint(call: Call, obj_id: str) -> dict[str, Any]:
    rec = require_record(call.ns, "webhook_endpoints", obj_id)
    p = validate(call.params, ENDPOINT_UPDATE)
    if "url" in p:
        rec["url"] = _check_url(p["url"])
    if p.get("enabled_events"):
        rec["enabled_events"] = p["enabled_events"]
    if "disabled" in p:
        rec["disabled"] = p["disabled"]
    if "description" in p:
        rec["description"] = None if p["description"] is CLEAR else p["description"]
    if "metadata" in p:
        rec["metadata"] = merge_metadata(rec.get("metadata", {}), p["metadata"])
    return render.webhook_endpoint(call.ns, rec)


def delete_webhook_endpoint(call: Call, obj_id: str) -> dict[str, Any]:
    rec = require_record(call.ns, "webhook_endpoints", obj_id)
    validate(call.params, {})
    rec["_deleted"] = True
    return {"id": obj_id, "object": "webhook_endpoint", "deleted": True}


def list_webhook_endpoints(call: Call) -> dict[str, Any]:
    p = validate(call.params, LIST_PARAMS)
    return paginate(
        call,
        "webhook_endpoints",
        newest_first(call.ns, "webhook_endpoints"),
        p,
        "/v1/webhook_endpoints",
        render_fn=lambda rec: render.webhook_endpoint(call.ns, rec),
    )


# --- accounts --------------------------------------------------------------------------


def retrieve_own_account(call: Call) -> dict[str, Any]:
    validate(call.params, RETRIEVE)
    acct_id = call.ns.account or call.emu.platform_account
    return render.account(call.emu.accounts[acct_id], call.ns.livemode)


def retrieve_account(call: Call, obj_id: str) -> dict[str, Any]:
    validate(call.params, RETRIEVE)
    rec = call.emu.accounts.get(obj_id)
    own = call.ns.account or call.emu.platform_account
    # A platform sees itself and its connected accounts; a connected account sees itself.
    visible = rec is not None and (
        obj_id == own or (call.ns.account is None and not rec.get("deauthorized"))
    )
    if not visible or rec is None:
        raise missing("accounts", obj_id, "account")
    return render.account(rec, call.ns.livemode)
