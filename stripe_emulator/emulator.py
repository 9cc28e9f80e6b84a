"""The `Emulator`: routing, auth, Connect namespaces, idempotency, faults, events, control API.

`Emulator.handle()` is transport-free so it can run in process (tests, benchmarks);
`server.py` wraps it in a stdlib HTTP server.
"""

from __future__ import annotations

import base64
import json
import os
import re
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, urlencode

from . import catalog, charges, invoices, platform, subscriptions
from .core import Call
from .errors import OAuthError, StripeError, fault_error, invalid, unrecognized_url
from .params import decode_form, decode_pairs, encode_params
from .state import Namespace
from .util import API_VERSION, Clock, new_id, secret_token, token
from .webhooks import Delivery

Handler = Callable[..., dict[str, Any]]


class Response(NamedTuple):
    status: int
    body: dict[str, Any] | str
    headers: dict[str, str]


ROUTES: dict[tuple[str, str], Handler] = {
    ("POST", "/v1/customers"): catalog.create_customer,
    ("GET", "/v1/customers"): catalog.list_customers,
    ("GET", "/v1/customers/search"): catalog.search_customers,
    ("GET", "/v1/customers/{id}"): catalog.retrieve_customer,
    ("POST", "/v1/customers/{id}"): catalog.update_customer,
    ("DELETE", "/v1/customers/{id}"): catalog.delete_customer,
    ("POST", "/v1/products"): catalog.create_product,
    ("GET", "/v1/products"): catalog.list_products,
    ("GET", "/v1/products/{id}"): catalog.retrieve_product,
    ("POST", "/v1/products/{id}"): catalog.update_product,
    ("DELETE", "/v1/products/{id}"): catalog.delete_product,
    ("POST", "/v1/prices"): catalog.create_price,
    ("GET", "/v1/prices"): catalog.list_prices,
    ("GET", "/v1/prices/{id}"): catalog.retrieve_price,
    ("POST", "/v1/prices/{id}"): catalog.update_price,
    ("POST", "/v1/coupons"): catalog.create_coupon,
    ("GET", "/v1/coupons"): catalog.list_coupons,
    ("GET", "/v1/coupons/{id}"): catalog.retrieve_coupon,
    ("POST", "/v1/coupons/{id}"): catalog.update_coupon,
    ("DELETE", "/v1/coupons/{id}"): catalog.delete_coupon,
    ("POST", "/v1/subscriptions"): subscriptions.create_subscription,
    ("GET", "/v1/subscriptions"): subscriptions.list_subscriptions,
    ("GET", "/v1/subscriptions/search"): subscriptions.search_subscriptions,
    ("GET", "/v1/subscriptions/{id}"): subscriptions.retrieve_subscription,
    ("POST", "/v1/subscriptions/{id}"): subscriptions.update_subscription,
    ("DELETE", "/v1/subscriptions/{id}"): subscriptions.cancel_subscription,
    ("POST", "/v1/subscriptions/{id}/pause"): subscriptions.pause_subscription,
    ("POST", "/v1/subscriptions/{id}/resume"): subscriptions.resume_subscription,
    ("DELETE", "/v1/customers/{id}/discount"): catalog.delete_customer_discount,
    ("GET", "/v1/subscription_items"): subscriptions.list_subscription_items,
    ("POST", "/v1/invoices/create_preview"): invoices.create_preview,
    ("GET", "/v1/subscription_items/{id}"): subscriptions.retrieve_subscription_item,
    ("GET", "/v1/events"): platform.list_events,
    ("GET", "/v1/events/{id}"): platform.retrieve_event,
    ("POST", "/v1/webhook_endpoints"): platform.create_webhook_endpoint,
    ("GET", "/v1/webhook_endpoints"): platform.list_webhook_endpoints,
    ("GET", "/v1/webhook_endpoints/{id}"): platform.retrieve_webhook_endpoint,
    ("POST", "/v1/webhook_endpoints/{id}"): platform.update_webhook_endpoint,
    ("DELETE", "/v1/webhook_endpoints/{id}"): platform.delete_webhook_endpoint,
    ("GET", "/v1/account"): platform.retrieve_own_account,
    ("GET", "/v1/accounts/{id}"): platform.retrieve_account,
}

_KEY = re.compile(r"^(sk|rk)_(test|live)_[A-Za-z0-9_]+$")
IDEMPOTENCY_TTL = 24 * 3600
NO_KEY = (
    "You did not provide an API key. You need to provide your API key in the Authorization "
    "header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See "
    "https://stripe.com/docs/api#authentication for details, or we can help at "
    "https://support.stripe.com/."
)


def _mask(key: str) -> str:
    prefix = key[:8] if key.count("_") >= 2 else key[:3]
    return f"{prefix}{'*' * 12}{key[-4:]}"


def _route(method: str, path: str) -> tuple[Handler, dict[str, str]] | None:
    handler = ROUTES.get((method, path))
    if handler is not None:
        return handler, {}
    parent, _, last = path.rstrip("/").rpartition("/")
    if last:
        handler = ROUTES.get((method, parent + "/{id}"))
        if handler is not None:
            return handler, {"obj_id": last}
        # An action on an object: /v1/subscriptions/{id}/pause.
        grand, _, obj_id = parent.rpartition("/")
        handler = ROUTES.get((method, f"{grand}/{{id}}/{last}")) if obj_id else None
        if handler is not None:
            return handler, {"obj_id": obj_id}
    return None


def _headers_lower(headers: Mapping[str, str] | None) -> dict[str, str]:
    return {k.lower(): v for k, v in (headers or {}).items()}


class Emulator:
    """A Stripe API emulator holding all state in memory (optionally persisted as JSON)."""

    def __init__(
        self,
        state_path: str | None = None,
        deliver: Callable[[Delivery], None] | None = None,
    ) -> None:
        self.lock = threading.RLock()
        self.state_path = state_path
        self.deliver = deliver
        self.requests: deque[dict[str, Any]] = deque(maxlen=5000)
        self.deliveries: deque[dict[str, Any]] = deque(maxlen=1000)
        self.faults: list[dict[str, Any]] = []
        self._outbox: list[Delivery] = []
        self._reset_state()
        if state_path and os.path.exists(state_path):
            with open(state_path, encoding="utf-8") as fh:
                self._load(json.load(fh))

    # --- state -------------------------------------------------------------------------

    def _reset_state(self) -> None:
        self.clock = Clock()
        self.namespaces: dict[str, Namespace] = {}
        self.platform_account = new_id("acct")
        self.accounts: dict[str, dict[str, Any]] = {
            self.platform_account: {
                "id": self.platform_account,
                "created": self.clock.now(),
                "business_name": "Emulated Platform",
                "email": "platform@example.com",
                "platform": True,
            }
        }
        self.oauth_codes: dict[str, dict[str, Any]] = {}
        self.access_tokens: dict[str, dict[str, Any]] = {}
        self.refresh_tokens: dict[str, dict[str, Any]] = {}
        self.control_webhooks: dict[str, dict[str, Any]] = {}

    def reset(self) -> None:
        """Forget everything: objects, accounts, webhooks, faults, logs and clock offset."""
        with self.lock:
            self._reset_state()
            self.faults.clear()
            self.requests.clear()
            self.deliveries.clear()
            self.save()

    def to_json(self) -> dict[str, Any]:
        return {
            "api_version": API_VERSION,
            "clock_offset": self.clock.offset,
            "platform_account": self.platform_account,
            "accounts": self.accounts,
            "oauth_codes": self.oauth_codes,
            "access_tokens": self.access_tokens,
            "refresh_tokens": self.refresh_tokens,
            "webhooks": self.control_webhooks,
            "namespaces": {key: ns.to_json() for key, ns in self.namespaces.items()},
        }

    def _load(self, data: dict[str, Any]) -> None:
        self.clock = Clock(int(data.get("clock_offset", 0)))
        self.platform_account = data.get("platform_account", self.platform_account)
        self.accounts = data.get("accounts", self.accounts)
        self.oauth_codes = data.get("oauth_codes", {})
        self.access_tokens = data.get("access_tokens", {})
        self.refresh_tokens = data.get("refresh_tokens", {})
        self.control_webhooks = data.get("webhooks", {})
        self.namespaces = {
            key: Namespace.from_json(value) for key, value in data.get("namespaces", {}).items()
        }

    def save(self) -> None:
        if not self.state_path:
            return
        tmp = f"{self.state_path}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(self.to_json(), fh)
        os.replace(tmp, self.state_path)

    def namespace(self, account: str | None, livemode: bool = False) -> Namespace:
        key = Namespace.key_for(account, livemode)
        ns = self.namespaces.get(key)
        if ns is None:
            ns = self.namespaces[key] = Namespace(account, livemode)
        return ns

    def now(self) -> int:
        return self.clock.now()

    # --- entry points ------------------------------------------------------------------

    def handle(
        self,
        method: str,
        path: str,
        query: str | Mapping[str, Any] | None = "",
        form_body: str | bytes | Mapping[str, Any] | None = b"",
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        """Answer one HTTP request; `query`/`form_body` may be raw strings or dicts."""
        method = method.upper()
        path, _, inline_query = path.partition("?")
        if isinstance(query, str):
            query = query or inline_query
        hdrs = _headers_lower(headers)
        if path.startswith("/_emulator"):
            return self._control(method, path, query, form_body, hdrs)
        if method == "GET" and path in ("/oauth/authorize", "/express/oauth/authorize"):
            return self._authorize(_flat(query))
        request_id = new_id("req", 14)
        fault = self._take_fault(method, path)
        if fault is not None:
            if fault.get("delay_ms"):
                # Sleep outside the lock so other requests carry on meanwhile.
                time.sleep(fault["delay_ms"] / 1000)
            if fault.get("status"):
                return self._fault_response(fault, method, path, hdrs, request_id)
        with self.lock:
            response = self._dispatch(method, path, query, form_body, hdrs, request_id)
            outbox, self._outbox = self._outbox, []
        if self.deliver:
            for delivery in outbox:
                self.deliver(delivery)
        return response

    def call(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        api_key: str = "sk_test_emulator",
        account: str | None = None,
        idempotency_key: str | None = None,
    ) -> tuple[int, dict[str, Any]]:
        """In-process convenience: nested `params` as stripe-python would encode them."""
        headers = {"Authorization": f"Bearer {api_key}"}
        if account:
            headers["Stripe-Account"] = account
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        encoded = encode_params(params or {})
        if method.upper() == "GET":
            response = self.handle(method, path, encoded, b"", headers)
        else:
            response = self.handle(method, path, "", encoded, headers)
        body = response.body
        return response.status, body if isinstance(body, dict) else {"body": body}

    def tick(self) -> int:
        """Apply clock transitions due by now (trials ending, renewals, ...)."""
        with self.lock:
            count = self._advance_to(self.clock.now())
            if count:
                self.save()
            outbox, self._outbox = self._outbox, []
        if self.deliver:
            for delivery in outbox:
                self.deliver(delivery)
        return count

    # --- API requests ------------------------------------------------------------------

    def _dispatch(
        self,
        method: str,
        path: str,
        query: Any,
        body: Any,
        hdrs: dict[str, str],
        request_id: str,
    ) -> Response:
        now = self.clock.now()
        entry: dict[str, Any] = {
            "id": request_id,
            "time": now,
            "method": method,
            "path": path,
            "account": hdrs.get("stripe-account"),
            "livemode": False,
            "idempotency_key": hdrs.get("idempotency-key"),
            "status": 0,
            "replayed": False,
            "fault": False,
        }
        self.requests.append(entry)
        headers = {"Request-Id": request_id, "Stripe-Version": API_VERSION}
        if hdrs.get("stripe-account"):
            headers["Stripe-Account"] = hdrs["stripe-account"]
        livemode = False
        try:
            params = _params(method, query, body)
            entry["params"] = params
            if path.startswith("/oauth/"):
                return self._oauth(method, path, params, hdrs, entry, headers)
            livemode, account = self._authenticate(hdrs)
            entry["livemode"], entry["account"] = livemode, account
            ns = self.namespace(account, livemode)
            route = _route(method, path)
            if route is None:
                raise unrecognized_url(method, path)
            handler, args = route
            key = hdrs.get("idempotency-key") if method in ("POST", "DELETE") else None
            if key:
                headers["Idempotency-Key"] = key
                replay = self._idempotent_replay(ns, key, method, path, params, now)
                if replay is not None:
                    entry["status"], entry["replayed"] = replay["status"], True
                    headers["Idempotent-Replayed"] = "true"
                    headers["Original-Request"] = replay["request_id"]
                    return Response(replay["status"], replay["body"], headers)
            call = Call(self, ns, params, now, request_id, key)
            try:
                result = handler(call, **args)
            except StripeError as exc:
                if key and exc.replayable:
                    self._store_idempotent(
                        ns,
                        key,
                        method,
                        path,
                        params,
                        now,
                        request_id,
                        exc.status,
                        exc.body(request_id, livemode, now),
                    )
                raise
            if key:
                self._store_idempotent(ns, key, method, path, params, now, request_id, 200, result)
            entry["status"] = 200
            if method != "GET":
                self.save()
            return Response(200, result, headers)
        except StripeError as exc:
            entry["status"] = exc.status
            entry["error"] = exc.code or exc.type
            headers.update(exc.headers)
            return Response(exc.status, exc.body(request_id, livemode, now), headers)
        except OAuthError as exc:
            entry["status"] = exc.status
            entry["error"] = exc.error
            return Response(exc.status, exc.body(), headers)
        except Exception as exc:
            # An emulator bug: answer like Stripe's 500 (stripe-python raises APIError) and
            # leave the traceback on stderr instead of dropping the connection.
            traceback.print_exc()
            entry["status"] = 500
            entry["error"] = "api_error"
            err = StripeError(500, f"Stripe emulator internal error: {exc!r}", type="api_error")
            return Response(500, err.body(request_id, livemode, now), headers)

    def _authenticate(self, hdrs: dict[str, str]) -> tuple[bool, str | None]:
        """(livemode, connected account or None) for the request's key and Stripe-Account."""
        key = _api_key(hdrs)
        if not key:
            raise StripeError(401, NO_KEY)
        if key.startswith("pk_"):
            raise StripeError(
                401,
                "This API call cannot be made with a publishable API key. Please use a secret "
                "API key. You can find a list of your API keys at "
                "https://dashboard.stripe.com/account/apikeys.",
            )
        if not _KEY.match(key):
            raise StripeError(401, f"Invalid API Key provided: {_mask(key)}")
        livemode = key.split("_")[1] == "live"
        header = hdrs.get("stripe-account", "").strip()
        grant = self.access_tokens.get(key)
        if grant is not None:
            if grant.get("revoked"):
                raise StripeError(
                    401,
                    f"Expired API Key provided: {_mask(key)}. Application access may have been "
                    "revoked.",
                    code="api_key_expired",
                )
            if header and header != grant["account"]:
                raise self._no_access(key, header)
            return livemode, grant["account"]
        if not header or header == self.platform_account:
            return livemode, None
        if not header.startswith("acct_"):
            raise self._no_access(key, header)
        acct = self.accounts.get(header)
        if acct is None:
            # Any well-formed acct_ id is treated as an already connected account, so tests
            # and seed data can use fixed ids without an OAuth round trip first.
            acct = self.accounts[header] = {
                "id": header,
                "created": self.clock.now(),
                "business_name": None,
                "email": None,
                "connected": True,
            }
        if acct.get("deauthorized"):
            raise self._no_access(key, header)
        return livemode, header

    @staticmethod
    def _no_access(key: str, account: str) -> StripeError:
        return StripeError(
            403,
            f"The provided key '{_mask(key)}' does not have access to account '{account}' (or "
            "that account does not exist). Application access may have been revoked.",
            code="account_invalid",
        )

    def _idempotent_replay(
        self,
        ns: Namespace,
        key: str,
        method: str,
        path: str,
        params: dict[str, Any],
        now: int,
    ) -> dict[str, Any] | None:
        if len(key) > 255:
            raise invalid("Idempotency-Key must be at most 255 characters long.")
        stored = ns.idempotency.get(key)
        if stored is None:
            return None
        if now - stored["created"] > IDEMPOTENCY_TTL:
            del ns.idempotency[key]
            return None
        if stored["method"] != method or stored["path"] != path:
            raise StripeError(
                400,
                "Keys for idempotent requests can only be used for the same endpoint they were "
                f"first used for ('{stored['method']} {stored['path']}' vs '{method} {path}'). "
                f"Try using a key other than '{key}' if you meant to execute a different request.",
                type="idempotency_error",
            )
        if stored["fingerprint"] != _fingerprint(params):
            raise StripeError(
                400,
                "Keys for idempotent requests can only be used with the same parameters they "
                f"were first used with. Try using a key other than '{key}' if you meant to "
                "execute a different request.",
                type="idempotency_error",
            )
        return stored

    @staticmethod
    def _store_idempotent(
        ns: Namespace,
        key: str,
        method: str,
        path: str,
        params: dict[str, Any],
        now: int,
        request_id: str,
        status: int,
        body: dict[str, Any],
    ) -> None:
        ns.idempotency[key] = {
            "method": method,
            "path": path,
            "fingerprint": _fingerprint(params),
            "created": now,
            "request_id": request_id,
            "status": status,
            "body": body,
        }

    # --- events and webhooks -----------------------------------------------------------

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
    ) -> dict[str, Any]:
        """Record an event in `ns` and queue it for every endpoint that wants it."""
        event: dict[str, Any] = {"id": new_id("evt"), "object": "event"}
        if ns.account:
            # Stripe only puts `account` on events that come from a connected account.
            event["account"] = ns.account
        data: dict[str, Any] = {"object": obj}
        if previous is not None:
            data["previous_attributes"] = previous
        event.update(
            {
                "api_version": API_VERSION,
                "created": at,
                "data": data,
                "livemode": ns.livemode,
                "pending_webhooks": 0,
                "request": {"id": request_id, "idempotency_key": idempotency_key},
                "type": type,
            }
        )
        targets = self._webhook_targets(ns, type)
        event["pending_webhooks"] = len(targets)
        ns.tables["events"][event["id"]] = event
        if targets:
            payload = json.dumps(event, indent=2)
            for endpoint in targets:
                self._outbox.append(
                    Delivery(
                        endpoint_id=endpoint["id"],
                        url=endpoint["url"],
                        secret=endpoint["secret"],
                        event_id=event["id"],
                        event_type=type,
                        namespace=ns.key,
                        payload=payload,
                    )
                )
        return event

    def _webhook_targets(self, ns: Namespace, type: str) -> list[dict[str, Any]]:
        connected = ns.account is not None

        def wants(ep: dict[str, Any]) -> bool:
            return (
                not ep.get("_deleted")
                and not ep.get("disabled")
                and any(platform.type_matches(t, type) for t in ep.get("enabled_events", ["*"]))
            )

        targets = [
            ep
            for ep in self.control_webhooks.values()
            if bool(ep.get("connect")) == connected and wants(ep)
        ]
        # Endpoints made through /v1/webhook_endpoints: the namespace's own endpoints, plus
        # the platform's Connect endpoints (same mode) for events of connected accounts.
        targets += [
            ep
            for ep in ns.tables["webhook_endpoints"].values()
            if (connected or not ep.get("connect")) and wants(ep)
        ]
        if connected:
            platform_ns = self.namespaces.get(Namespace.key_for(None, ns.livemode))
            if platform_ns is not None:
                targets += [
                    ep
                    for ep in platform_ns.tables["webhook_endpoints"].values()
                    if ep.get("connect") and wants(ep)
                ]
        return targets

    def delivery_result(self, delivery: Delivery, status: int | None, error: str | None) -> None:
        """Called by the dispatcher after each attempt."""
        with self.lock:
            self.deliveries.append(
                {
                    "event": delivery.event_id,
                    "type": delivery.event_type,
                    "endpoint": delivery.endpoint_id,
                    "url": delivery.url,
                    "attempt": delivery.attempts,
                    "status": status,
                    "error": error,
                    "time": int(time.time()),
                }
            )
            ns = self.namespaces.get(delivery.namespace)
            event = ns.tables["events"].get(delivery.event_id) if ns else None
            if event is not None and error is None and event["pending_webhooks"] > 0:
                event["pending_webhooks"] -= 1

    # --- faults ------------------------------------------------------------------------

    def _take_fault(self, method: str, path: str) -> dict[str, Any] | None:
        if not self.faults:
            return None
        with self.lock:
            for fault in self.faults:
                if fault.get("method") and fault["method"].upper() != method:
                    continue
                if fault.get("path_prefix") and not path.startswith(fault["path_prefix"]):
                    continue
                fault["remaining"] -= 1
                if fault["remaining"] <= 0:
                    self.faults.remove(fault)
                return dict(fault)
        return None

    def _fault_response(
        self,
        fault: dict[str, Any],
        method: str,
        path: str,
        hdrs: dict[str, str],
        request_id: str,
    ) -> Response:
        err = fault_error(
            fault["status"],
            type=fault.get("type"),
            code=fault.get("code"),
            message=fault.get("message"),
        )
        with self.lock:
            self.requests.append(
                {
                    "id": request_id,
                    "time": self.clock.now(),
                    "method": method,
                    "path": path,
                    "account": hdrs.get("stripe-account"),
                    "livemode": False,
                    "idempotency_key": hdrs.get("idempotency-key"),
                    "status": fault["status"],
                    "replayed": False,
                    "fault": True,
                    "error": err.code or err.type,
                }
            )
        headers = {"Request-Id": request_id, "Stripe-Version": API_VERSION}
        if path.startswith("/oauth/"):
            body: dict[str, Any] = {"error": "server_error", "error_description": err.message}
            return Response(fault["status"], body, headers)
        return Response(fault["status"], err.body(request_id, False, self.clock.now()), headers)

    # --- clock -------------------------------------------------------------------------

    def _advance_to(self, target: int) -> int:
        count = 0
        for ns in list(self.namespaces.values()):
            call = Call(self, ns, {}, self.clock.now(), None, None)
            count += subscriptions.advance(call, target)
        return count

    def advance(self, seconds: int) -> dict[str, Any]:
        """Move the clock forward and apply every transition that became due."""
        if seconds < 0:
            raise ValueError("seconds must not be negative")
        with self.lock:
            before = {key: len(ns.tables["events"]) for key, ns in self.namespaces.items()}
            transitions = self._advance_to(self.clock.now() + seconds)
            self.clock.advance(seconds)
            events = []
            for key, ns in self.namespaces.items():
                events += list(ns.tables["events"])[before.get(key, 0) :]
            self.save()
            outbox, self._outbox = self._outbox, []
        if self.deliver:
            for delivery in outbox:
                self.deliver(delivery)
        return {
            "now": self.clock.now(),
            "offset": self.clock.offset,
            "transitions": transitions,
            "events": events,
        }

    # --- OAuth (Connect) ---------------------------------------------------------------

    def _authorize(self, query: dict[str, str]) -> Response:
        """Stands in for the user clicking "Connect" on Stripe's authorize page."""
        code = "ac_" + token(24)
        with self.lock:
            self.oauth_codes[code] = {
                "account": None,
                "scope": query.get("scope") or "read_write",
                "email": query.get("stripe_user[email]"),
                "business_name": query.get("stripe_user[business_name]"),
                "used": False,
            }
            self.save()
        redirect = query.get("redirect_uri")
        if not redirect:
            page = (
                "<!doctype html><title>Stripe emulator: authorize</title>"
                f"<p>Authorization code: <code>{code}</code></p>"
            )
            return Response(200, page, {"Content-Type": "text/html; charset=utf-8"})
        args = {"code": code, "scope": query.get("scope") or "read_write"}
        if "state" in query:
            args["state"] = query["state"]
        sep = "&" if "?" in redirect else "?"
        return Response(302, "", {"Location": f"{redirect}{sep}{urlencode(args)}"})

    def mint_code(self, **profile: Any) -> dict[str, str]:
        """A fresh authorization code bound to a new (or given) account."""
        with self.lock:
            acct_id = profile.get("account") or new_id("acct")
            code = "ac_" + token(24)
            self.oauth_codes[code] = {
                "account": acct_id,
                "scope": profile.get("scope") or "read_write",
                "email": profile.get("email"),
                "business_name": profile.get("business_name"),
                "used": False,
            }
            self.save()
        return {"code": code, "account": acct_id}

    def _oauth(
        self,
        method: str,
        path: str,
        params: dict[str, Any],
        hdrs: dict[str, str],
        entry: dict[str, Any],
        headers: dict[str, str],
    ) -> Response:
        if method != "POST" or path not in ("/oauth/token", "/oauth/deauthorize"):
            raise unrecognized_url(method, path)
        secret = params.get("client_secret") or _api_key(hdrs)
        if not secret:
            raise OAuthError(
                "invalid_client",
                "No authentication was provided. Send your secret API key using the "
                "Authorization header, or as a client_secret POST parameter.",
                401,
            )
        if not _KEY.match(secret) or secret in self.access_tokens:
            raise OAuthError("invalid_client", f"Invalid API Key provided: {_mask(secret)}", 401)
        livemode = secret.split("_")[1] == "live"
        entry["livemode"] = livemode
        body = (
            self._token(params, livemode)
            if path == "/oauth/token"
            else self._deauthorize(params, livemode, entry["id"])
        )
        entry["status"] = 200
        self.save()
        return Response(200, body, headers)

    def _token(self, params: dict[str, Any], livemode: bool) -> dict[str, Any]:
        grant = params.get("grant_type")
        if not grant:
            raise OAuthError("invalid_request", "No grant type specified")
        if grant == "refresh_token":
            refresh = params.get("refresh_token")
            held = self.refresh_tokens.get(refresh or "")
            if held is None or self.accounts.get(held["account"], {}).get("deauthorized"):
                raise OAuthError("invalid_grant", f"Invalid refresh token: {refresh}")
            return self._issue_token(held["account"], held["scope"], livemode, refresh)
        if grant != "authorization_code":
            raise OAuthError("unsupported_grant_type", f"Unsupported grant type: {grant}")
        code = params.get("code")
        if not code:
            raise OAuthError("invalid_request", "No authorization code provided")
        held = self.oauth_codes.get(code)
        if held is None:
            if not code.startswith("ac_"):
                raise OAuthError("invalid_grant", f"Invalid authorization code: {code}")
            # Any unseen ac_ code is accepted, so a browser demo needs no setup.
            held = self.oauth_codes[code] = {"account": None, "scope": "read_write", "used": False}
        if held.get("used"):
            raise OAuthError("invalid_grant", f"Authorization code already used: {code}")
        held["used"] = True
        acct_id = held.get("account") or new_id("acct")
        held["account"] = acct_id
        acct = self.accounts.setdefault(acct_id, {"id": acct_id, "created": self.clock.now()})
        acct.update(
            {
                "connected": True,
                "deauthorized": False,
                "email": held.get("email")
                or acct.get("email")
                or f"owner+{acct_id[5:13]}@example.com",
                "business_name": held.get("business_name") or acct.get("business_name"),
            }
        )
        self.namespace(acct_id, livemode)
        return self._issue_token(acct_id, held.get("scope") or "read_write", livemode, None)

    def _issue_token(
        self, acct_id: str, scope: str, livemode: bool, refresh: str | None
    ) -> dict[str, Any]:
        mode = "live" if livemode else "test"
        access = f"sk_{mode}_{secret_token(40)}"
        refresh = refresh or f"rt_{secret_token(40)}"
        self.access_tokens[access] = {"account": acct_id, "livemode": livemode}
        self.refresh_tokens[refresh] = {"account": acct_id, "scope": scope}
        return {
            "access_token": access,
            "livemode": livemode,
            "refresh_token": refresh,
            "scope": scope,
            "stripe_publishable_key": f"pk_{mode}_{secret_token(40)}",
            "stripe_user_id": acct_id,
            "token_type": "bearer",
        }

    def _deauthorize(
        self, params: dict[str, Any], livemode: bool, request_id: str
    ) -> dict[str, Any]:
        client_id = params.get("client_id")
        acct_id = params.get("stripe_user_id")
        if not client_id:
            raise OAuthError("invalid_request", "No client_id provided")
        if not acct_id:
            raise OAuthError("invalid_request", "No stripe_user_id provided")
        acct = self.accounts.get(acct_id)
        if acct is None or acct.get("platform") or acct.get("deauthorized"):
            raise OAuthError(
                "invalid_client",
                f"This application is not connected to stripe account {acct_id}, or that "
                "account does not exist.",
            )
        acct["deauthorized"] = True
        for grant in self.access_tokens.values():
            if grant["account"] == acct_id:
                grant["revoked"] = True
        for held in list(self.refresh_tokens):
            if self.refresh_tokens[held]["account"] == acct_id:
                del self.refresh_tokens[held]
        application = {"id": client_id, "object": "application", "name": None}
        self.emit(
            self.namespace(acct_id, livemode),
            "account.application.deauthorized",
            application,
            at=self.clock.now(),
            request_id=request_id,
        )
        return {"stripe_user_id": acct_id}

    # --- control API -------------------------------------------------------------------

    def _control(
        self,
        method: str,
        path: str,
        query: Any,
        body: Any,
        hdrs: dict[str, str],
    ) -> Response:
        try:
            data = {**_flat(query), **_control_body(body)}
            result = self._control_route(method, path.rstrip("/"), data)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            message = str(exc) if not isinstance(exc, KeyError) else f"missing field {exc}"
            return Response(
                400, {"error": {"type": "invalid_request_error", "message": message}}, {}
            )
        if result is None:
            return Response(
                404,
                {
                    "error": {
                        "type": "invalid_request_error",
                        "message": f"Unknown control endpoint {method} {path}",
                    }
                },
                {},
            )
        outbox: list[Delivery] = []
        with self.lock:
            outbox, self._outbox = self._outbox, []
        if self.deliver:
            for delivery in outbox:
                self.deliver(delivery)
        return Response(200, result, {})

    def _control_route(self, method: str, path: str, data: dict[str, Any]) -> Any:
        if (method, path) == ("GET", "/_emulator/health"):
            return {"ok": True, "api_version": API_VERSION, "now": self.clock.now()}
        if (method, path) == ("POST", "/_emulator/reset"):
            self.reset()
            return {"ok": True}
        if (method, path) == ("GET", "/_emulator/clock"):
            return {"now": self.clock.now(), "offset": self.clock.offset}
        if (method, path) == ("POST", "/_emulator/clock/advance"):
            if "to" in data:
                seconds = int(data["to"]) - self.clock.now()
            else:
                seconds = int(data.get("seconds", 0))
            return self.advance(seconds)
        if path == "/_emulator/faults":
            return self._control_faults(method, data)
        if (method, path) == ("POST", "/_emulator/payment_failures"):
            livemode = str(data.get("livemode", "")).lower() in ("1", "true")
            with self.lock:
                ns = self.namespace(data.get("account") or None, livemode)
                result = charges.payments_fail(ns, data["customer"], int(data.get("count", 1)))
                self.save()
            return result
        if (method, path) == ("POST", "/_emulator/customer_discounts"):
            # What the Dashboard does: a coupon on the customer, for all its subscriptions.
            livemode = str(data.get("livemode", "")).lower() in ("1", "true")
            with self.lock:
                ns = self.namespace(data.get("account") or None, livemode)
                result = catalog.customer_discount_set(
                    ns, data["customer"], data["coupon"], self.clock.now()
                )
                self.save()
            return result
        if path == "/_emulator/webhooks" or path.startswith("/_emulator/webhooks/"):
            return self._control_webhooks(method, path, data)
        if (method, path) == ("POST", "/_emulator/oauth/codes"):
            return self.mint_code(
                **{k: data.get(k) for k in ("account", "email", "business_name", "scope")}
            )
        if (method, path) == ("GET", "/_emulator/state"):
            with self.lock:
                return {
                    "now": self.clock.now(),
                    **json.loads(json.dumps(self.to_json())),
                    "faults": list(self.faults),
                }
        if path == "/_emulator/requests":
            if method == "DELETE":
                with self.lock:
                    self.requests.clear()
                return {"ok": True}
            if method == "GET":
                with self.lock:
                    rows = list(self.requests)
                for key in ("method", "path", "account", "idempotency_key"):
                    if data.get(key):
                        rows = [r for r in rows if str(r.get(key)) == str(data[key])]
                if data.get("path_prefix"):
                    rows = [r for r in rows if r["path"].startswith(data["path_prefix"])]
                return {"object": "list", "data": rows}
        return None

    def _control_faults(self, method: str, data: dict[str, Any]) -> Any:
        with self.lock:
            if method == "GET":
                return {"data": list(self.faults)}
            if method == "DELETE":
                self.faults.clear()
                return {"ok": True}
            if method != "POST":
                return None
            status = int(data["status"]) if data.get("status") not in (None, "") else None
            delay = int(data["delay_ms"]) if data.get("delay_ms") not in (None, "") else None
            if status is None and delay is None:
                status = 500
            fault = {
                "id": new_id("flt", 12),
                "remaining": int(data.get("count", 1)),
                "status": status,
                "delay_ms": delay,
                "path_prefix": data.get("path_prefix"),
                "method": data.get("method"),
                "type": data.get("type"),
                "code": data.get("code"),
                "message": data.get("message"),
            }
            if fault["remaining"] < 1:
                raise ValueError("count must be at least 1")
            self.faults.append(fault)
            return fault

    def _control_webhooks(self, method: str, path: str, data: dict[str, Any]) -> Any:
        with self.lock:
            if path == "/_emulator/webhooks" and method == "GET":
                return {
                    "data": list(self.control_webhooks.values()),
                    "deliveries": list(self.deliveries),
                }
            if path == "/_emulator/webhooks" and method == "POST":
                url = str(data["url"])
                if not url.startswith(("http://", "https://")):
                    raise ValueError("url must start with http:// or https://")
                events = data.get("enabled_events") or ["*"]
                if isinstance(events, str):
                    events = [events]
                if isinstance(events, dict):
                    events = list(events.values())
                endpoint = {
                    "id": new_id("we"),
                    "url": url,
                    "secret": data.get("secret") or "whsec_" + secret_token(32),
                    "connect": _truthy(data.get("connect")),
                    "enabled_events": events,
                }
                self.control_webhooks[endpoint["id"]] = endpoint
                self.save()
                return endpoint
            if method == "DELETE":
                endpoint_id = path.rsplit("/", 1)[1]
                if endpoint_id == "webhooks":
                    self.control_webhooks.clear()
                else:
                    self.control_webhooks.pop(endpoint_id, None)
                self.save()
                return {"ok": True}
        return None


# --- helpers ---------------------------------------------------------------------------


def _api_key(hdrs: dict[str, str]) -> str | None:
    auth = hdrs.get("authorization", "").strip()
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    if scheme.lower() == "basic":
        # curl -u sk_test_x: sends the key as the Basic user name.
        try:
            return base64.b64decode(value).decode().split(":", 1)[0] or None
        except ValueError:
            return None
    return None


def _flat(query: Any) -> dict[str, str]:
    if not query:
        return {}
    if isinstance(query, Mapping):
        return {str(k): v for k, v in query.items()}
    return dict(parse_qsl(str(query), keep_blank_values=True))


def _params(method: str, query: Any, body: Any) -> dict[str, Any]:
    """Decoded parameters from the query string and (for any method) a form body."""
    params = _decode(query)
    params.update(_decode(body))
    return params


def _decode(raw: Any) -> dict[str, Any]:
    if not raw:
        return {}
    if isinstance(raw, Mapping):
        return decode_form(encode_params(raw))
    return decode_form(raw)


def _control_body(body: Any) -> dict[str, Any]:
    if not body:
        return {}
    if isinstance(body, Mapping):
        return dict(body)
    text = body.decode() if isinstance(body, bytes) else str(body)
    if text.lstrip().startswith("{"):
        return json.loads(text)
    return decode_pairs(parse_qsl(text, keep_blank_values=True))


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.lower() in ("1", "true", "yes", "on")
    return bool(value)


def _fingerprint(params: dict[str, Any]) -> str:
    return json.dumps(params, sort_keys=True)
