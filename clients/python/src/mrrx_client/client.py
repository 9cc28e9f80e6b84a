"""``Mrrx``, the API client, and ``MrrxFlow``, the flow API for one session's token."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime
from typing import Any, cast
from urllib.parse import quote

import httpx

from .errors import (
    IdempotencyInProgressError,
    MrrxConnectionError,
    MrrxError,
    RateLimitedError,
    error_from_response,
    retry_after_seconds,
)
from .types import (
    Action,
    Analytics,
    AnalyticsGroupBy,
    AnalyticsSource,
    CustomerErasure,
    CustomerExport,
    CustomOutcome,
    CustomSession,
    CustomSessionList,
    Flow,
    Health,
    HubSession,
    HubSessionCreated,
    Mrr,
    OfferShown,
    Reason,
    Session,
    SessionContext,
    SessionCreated,
    SessionList,
    VerifiedResult,
    Workspace,
)

__version__ = "1.0.0"

DEFAULT_BASE_URL = "http://localhost:8000"  # what ``make run`` serves
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_RETRIES = 3
# Answers worth another try: the request did not take effect, or an Idempotency-Key makes
# a second one safe (the server keeps no record of a 5xx, so the retry runs afresh).
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
FINISHED = ("completed", "failed")

TimeParam = datetime | int | str


class _Requester:
    """One HTTP connection pool and the retry policy, shared by ``Mrrx`` and the
    ``MrrxFlow`` objects it hands out."""

    def __init__(
        self,
        *,
        base_url: str,
        timeout: float,
        max_retries: int,
        backoff: float,
        max_backoff: float,
        max_retry_after: float,
        transport: httpx.BaseTransport | None,
        http_client: httpx.Client | None,
    ) -> None:
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_retry_after = max_retry_after
        self._owns_http = http_client is None
        self.http = http_client or httpx.Client(
            base_url=base_url.rstrip("/"),
            timeout=timeout,
            transport=transport,
            headers={"User-Agent": f"mrrx-python/{__version__}", "Accept": "application/json"},
        )

    def close(self) -> None:
        if self._owns_http:
            self.http.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        credential: str | None,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        retry_safe: bool,
        accept_statuses: Sequence[int] = (),
    ) -> httpx.Response:
        """Send one logical call, retrying within bounds.

        ``retry_safe``: whether a call that may have reached the server can be sent again
        (a read, or a write carrying an Idempotency-Key). Others are retried only when
        the server certainly did not act: a 429, or a connection that never opened.
        """
        sent_headers = dict(headers or {})
        if credential:
            sent_headers["Authorization"] = f"Bearer {credential}"
        if idempotency_key:
            sent_headers["Idempotency-Key"] = idempotency_key
        attempt = 0
        while True:
            try:
                response = self.http.request(
                    method, path, params=params, json=json, headers=sent_headers
                )
            except httpx.TransportError as exc:
                never_sent = isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout))
                if attempt < self.max_retries and (retry_safe or never_sent):
                    time.sleep(self._backoff(attempt))
                    attempt += 1
                    continue
                raise MrrxConnectionError(
                    f"connection_error: {method} {path} got no answer ({exc})."
                ) from exc
            if response.status_code < 400 or response.status_code in accept_statuses:
                return response
            error = error_from_response(response)
            delay = self._retry_delay(error, attempt, retry_safe)
            if delay is None:
                raise error
            time.sleep(delay)
            attempt += 1

    def _retry_delay(self, error: MrrxError, attempt: int, retry_safe: bool) -> float | None:
        """Seconds to wait before the next try, or None to give up with ``error``."""
        # A 429 is refused before anything runs, so it is always safe to send again.
        worth_it = isinstance(error, RateLimitedError) or (
            retry_safe
            and (error.status in RETRY_STATUSES or isinstance(error, IdempotencyInProgressError))
        )
        if attempt >= self.max_retries or not worth_it:
            return None
        asked = retry_after_seconds(error.headers)
        if asked is None:
            return self._backoff(attempt)
        # A wait longer than we are prepared to block for is the caller's to decide.
        return asked if asked <= self.max_retry_after else None

    def _backoff(self, attempt: int) -> float:
        # Exponential, with jitter so that clients that failed together do not return
        # together.
        ceiling = min(self.max_backoff, self.backoff * 2.0**attempt)
        return ceiling / 2 + random.uniform(0, ceiling / 2)


def _time_param(value: TimeParam) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _time_body(value: TimeParam) -> str | int:
    return value.isoformat() if isinstance(value, datetime) else value


def _without_none(**fields: Any) -> dict[str, Any]:
    """A request body of the fields given: ``None`` means "not sent", so that an update
    keeps what it does not mention."""
    return {name: value for name, value in fields.items() if value is not None}


def _segment(value: str) -> str:
    """``value`` as one path segment: a customer id of the merchant's own may hold ``/``
    or ``?``."""
    if not value:
        raise ValueError("A customer id is required.")
    return quote(value, safe="")


def new_idempotency_key() -> str:
    return f"mrrx-py-{uuid.uuid4().hex}"


class Mrrx:
    """The MRRX API, with a workspace's API key.

    >>> mrrx = Mrrx("mrrx_test_...", base_url="https://mrrx.example.com")
    >>> session = mrrx.create_session(customer_id="cus_...", return_url="https://...")
    >>> redirect(session["url"])

    Every call raises a subclass of ``MrrxError`` on failure. Each POST carries an
    ``Idempotency-Key`` (yours, or one made for the call) that its retries reuse, so a
    retried create acts once. 429s are retried after their ``Retry-After`` and 5xx with
    exponential backoff, ``max_retries`` times at most; ``max_retries=0`` turns that off.
    ``api_key`` may be left out for ``verify_result`` and ``health``, which need none.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
        max_retry_after: float = 60.0,
        transport: httpx.BaseTransport | None = None,
        http_client: httpx.Client | None = None,
    ) -> None:
        self.api_key = api_key
        self.base_url = base_url.rstrip("/")
        self._requester = _Requester(
            base_url=self.base_url,
            timeout=timeout,
            max_retries=max_retries,
            backoff=backoff,
            max_backoff=max_backoff,
            max_retry_after=max_retry_after,
            transport=transport,
            http_client=http_client,
        )

    def __enter__(self) -> Mrrx:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._requester.close()

    # --- Any endpoint ---------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> Any:
        """Call ``path`` (``/api/v1/...``) with the API key and this client's errors and
        retries, for an endpoint this version has no method for. Returns the JSON body."""
        method = method.upper()
        if method == "POST":
            idempotency_key = idempotency_key or new_idempotency_key()
        response = self._requester.request(
            method,
            path,
            credential=self.api_key,
            params=params,
            json=json,
            headers=headers,
            idempotency_key=idempotency_key,
            retry_safe=method in ("GET", "HEAD") or idempotency_key is not None,
        )
        return response.json() if response.content else None

    def _get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        return self.request("GET", path, params=params)

    def _post(self, path: str, body: dict[str, Any], idempotency_key: str | None) -> Any:
        return self.request("POST", path, json=body, idempotency_key=idempotency_key)

    # --- Sessions -------------------------------------------------------------------------
    def create_session(
        self,
        *,
        customer_id: str | None = None,
        customer_email: str | None = None,
        subscription_id: str | None = None,
        return_url: str | None = None,
        metadata: Mapping[str, str] | None = None,
        context: SessionContext | None = None,
        idempotency_key: str | None = None,
    ) -> SessionCreated:
        """A cancellation session: redirect the subscriber to its ``url``. Give
        ``customer_id`` or ``customer_email``; ``subscription_id`` may be left out when the
        customer has exactly one live subscription."""
        body = _without_none(
            customer_id=customer_id,
            customer_email=customer_email,
            subscription_id=subscription_id,
            return_url=return_url,
            metadata=dict(metadata) if metadata is not None else None,
            context=context,
        )
        return cast(SessionCreated, self._post("/api/v1/sessions", body, idempotency_key))

    def get_session(self, session_id: str) -> Session:
        return cast(Session, self._get(f"/api/v1/sessions/{session_id}"))

    def list_sessions(
        self,
        *,
        limit: int | None = None,
        cursor: str | None = None,
        status: str | Sequence[str] | None = None,
        customer_id: str | None = None,
        subscription_id: str | None = None,
        created_gte: TimeParam | None = None,
        created_lt: TimeParam | None = None,
    ) -> SessionList:
        """One page of sessions, newest first; ``pagination.next_cursor`` is the next
        page's ``cursor``. ``iter_sessions`` walks every page."""
        params = _without_none(
            limit=str(limit) if limit is not None else None,
            cursor=cursor,
            status=status if isinstance(status, str) or status is None else ",".join(status),
            customer_id=customer_id,
            subscription_id=subscription_id,
        )
        if created_gte is not None:
            params["created[gte]"] = _time_param(created_gte)
        if created_lt is not None:
            params["created[lt]"] = _time_param(created_lt)
        return cast(SessionList, self._get("/api/v1/sessions", params))

    def iter_sessions(
        self,
        *,
        page_size: int = 100,
        status: str | Sequence[str] | None = None,
        customer_id: str | None = None,
        subscription_id: str | None = None,
        created_gte: TimeParam | None = None,
        created_lt: TimeParam | None = None,
    ) -> Iterator[Session]:
        """Every session that matches, newest first, fetching pages as it goes."""
        cursor: str | None = None
        while True:
            page = self.list_sessions(
                limit=page_size,
                cursor=cursor,
                status=status,
                customer_id=customer_id,
                subscription_id=subscription_id,
                created_gte=created_gte,
                created_lt=created_lt,
            )
            yield from page["data"]
            cursor = page["pagination"]["next_cursor"]
            if not page["pagination"]["has_more"] or cursor is None:
                return

    # --- Direct cancel --------------------------------------------------------------------
    def cancel_subscription(
        self,
        subscription_id: str,
        *,
        reason: Reason | str | None = None,
        reason_other: str | None = None,
        feedback: str | None = None,
        at_period_end: bool | None = None,
        customer_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> Session:
        """Cancel on Stripe now, recorded as a completed session of source ``api``. Needs
        a key with the ``subscriptions:write`` scope."""
        body = _without_none(
            reason=reason,
            reason_other=reason_other,
            feedback=feedback,
            at_period_end=at_period_end,
            customer_id=customer_id,
        )
        path = f"/api/v1/subscriptions/{subscription_id}/cancel"
        return cast(Session, self._post(path, body, idempotency_key))

    # --- Custom sessions ------------------------------------------------------------------
    def upsert_custom_session(
        self,
        *,
        external_id: str,
        customer_id: str,
        started_at: TimeParam,
        subscription_id: str | None = None,
        reason: Reason | None = None,
        reason_other: str | None = None,
        offers_shown: Sequence[OfferShown] | None = None,
        outcome: CustomOutcome | None = None,
        mrr: Mrr | None = None,
        metadata: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> CustomSession:
        """Record a cancellation from your own flow, or update the one with this
        ``external_id``: fields given replace those stored, ``None`` ones are kept."""
        body = _without_none(
            external_id=external_id,
            customer_id=customer_id,
            started_at=_time_body(started_at),
            subscription_id=subscription_id,
            reason=reason,
            reason_other=reason_other,
            offers_shown=list(offers_shown) if offers_shown is not None else None,
            outcome=outcome,
            mrr=mrr,
            metadata=dict(metadata) if metadata is not None else None,
        )
        return cast(CustomSession, self._post("/api/v1/custom_sessions", body, idempotency_key))

    def get_custom_session(self, custom_session_id: str) -> CustomSession:
        return cast(CustomSession, self._get(f"/api/v1/custom_sessions/{custom_session_id}"))

    def list_custom_sessions(
        self,
        *,
        limit: int | None = None,
        cursor: str | None = None,
        customer_id: str | None = None,
        external_id: str | None = None,
    ) -> CustomSessionList:
        params = _without_none(
            limit=str(limit) if limit is not None else None,
            cursor=cursor,
            customer_id=customer_id,
            external_id=external_id,
        )
        return cast(CustomSessionList, self._get("/api/v1/custom_sessions", params))

    def iter_custom_sessions(
        self,
        *,
        page_size: int = 100,
        customer_id: str | None = None,
        external_id: str | None = None,
    ) -> Iterator[CustomSession]:
        cursor: str | None = None
        while True:
            page = self.list_custom_sessions(
                limit=page_size, cursor=cursor, customer_id=customer_id, external_id=external_id
            )
            yield from page["data"]
            cursor = page["pagination"]["next_cursor"]
            if not page["pagination"]["has_more"] or cursor is None:
                return

    # --- Hub sessions ---------------------------------------------------------------------
    def create_hub_session(
        self,
        *,
        customer_id: str | None = None,
        customer_email: str | None = None,
        return_url: str | None = None,
        metadata: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> HubSessionCreated:
        """The customer's subscription hub (resume, change plan, cancel through the
        retention flow): redirect them to its ``url``, which lasts an hour. Name them by
        ``customer_id`` or ``customer_email`` (both: they must agree)."""
        body = _without_none(
            customer_id=customer_id,
            customer_email=customer_email,
            return_url=return_url,
            metadata=dict(metadata) if metadata is not None else None,
        )
        return cast(HubSessionCreated, self._post("/api/v1/hub_sessions", body, idempotency_key))

    def get_hub_session(self, hub_session_id: str) -> HubSession:
        """The visit: when it was opened, what the customer did, the cancellation
        sessions it opened."""
        return cast(HubSession, self._get(f"/api/v1/hub_sessions/{hub_session_id}"))

    # --- Customers' data (export and erasure) ---------------------------------------------
    def export_customer(self, customer_id: str) -> CustomerExport:
        """Everything MRRX holds about ``customer_id`` in the key's workspace and mode, as
        one document (the same keys, empty, for a customer it holds nothing about). Needs
        the ``privacy:write`` scope; recorded in the audit log.

        The server ignores ``Idempotency-Key`` here (it never stores the customer's data
        for a replay), so none is sent; exporting again changes nothing but adds an audit
        entry, so an export whose answer was lost is retried like a read."""
        response = self._requester.request(
            "POST",
            f"/api/v1/customers/{_segment(customer_id)}/export",
            credential=self.api_key,
            json={},
            retry_safe=True,
        )
        return cast(CustomerExport, response.json())

    def erase_customer(
        self, customer_id: str, *, idempotency_key: str | None = None
    ) -> CustomerErasure:
        """Replace the customer's personal details with ``[erased]`` wherever MRRX holds
        them in the key's workspace and mode; ids, statuses and figures stay. ``counts``
        are the rows changed by this call (all zero when erased already); sends the
        ``customer.erased`` webhook. Needs the ``privacy:write`` scope."""
        path = f"/api/v1/customers/{_segment(customer_id)}/erase"
        return cast(CustomerErasure, self._post(path, {}, idempotency_key))

    # --- Analytics ------------------------------------------------------------------------
    def get_analytics(
        self,
        *,
        from_: date | str | None = None,
        to: date | str | None = None,
        group_by: AnalyticsGroupBy | None = None,
        source: AnalyticsSource | None = None,
    ) -> Analytics:
        """The analytics page's figures for the key's workspace and mode over the UTC days
        ``from_`` to ``to`` (inclusive; default the last 30 days, at most 366), optionally
        split by ``group_by``; with the retention of saves at 30, 60 and 90 days and the
        results of the experiments that ran, each variant against the holdout with its 95%
        interval. Every figure's key is its definition's key in ``definitions``. Needs the
        ``analytics:read`` scope."""
        params = {
            name: value.isoformat() if isinstance(value, date) else value
            for name, value in (("from", from_), ("to", to), ("group_by", group_by),
                                ("source", source))
            if value is not None
        }  # fmt: skip
        return cast(Analytics, self._get("/api/v1/analytics", params))

    # --- Results, workspace, health -------------------------------------------------------
    def verify_result(self, token: str) -> VerifiedResult:
        """The trusted outcome behind the ``#result_token=`` of the return redirect.
        Raises ``InvalidTokenError`` for a forged, tampered or expired token."""
        response = self._requester.request(
            "POST",
            "/api/v1/results/verify",
            credential=None,
            json={"token": token},
            retry_safe=True,  # a read: verifying twice changes nothing
        )
        return cast(VerifiedResult, response.json())

    def get_workspace(self) -> Workspace:
        """The workspace, mode and scopes of this client's API key."""
        return cast(Workspace, self._get("/api/v1/workspace"))

    def health(self, *, deep: bool = False) -> Health:
        """The service's health; ``deep=True`` also checks the database, broker, cache
        and Stripe. An unhealthy answer (503) is returned, not raised."""
        response = self._requester.request(
            "GET",
            "/api/v1/health",
            credential=None,
            params={"deep": "1"} if deep else None,
            retry_safe=True,
            accept_statuses=(503,),
        )
        body = response.json() if response.content else None
        if not isinstance(body, dict) or "status" not in body:
            raise error_from_response(response)
        return cast(Health, body)

    # --- The flow API ---------------------------------------------------------------------
    def flow(self, token: str) -> MrrxFlow:
        """The flow API for the session whose ``token`` ``create_session`` returned,
        on this client's connection and retry settings."""
        return MrrxFlow(token, _requester=self._requester)


class MrrxFlow:
    """The flow API (headless cancel flow) for one session, with its session token.

    ``get`` -> ``survey`` -> ``execute``, then ``wait`` for the outcome. The flow API
    ignores ``Idempotency-Key``: a repeated ``execute`` answers 409 rather than acting
    twice, so ``execute`` is never retried once it may have reached the server.
    """

    def __init__(
        self,
        token: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        transport: httpx.BaseTransport | None = None,
        _requester: _Requester | None = None,
    ) -> None:
        self.token = token
        self._requester = _requester or _Requester(
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            backoff=0.5,
            max_backoff=8.0,
            max_retry_after=60.0,
            transport=transport,
            http_client=None,
        )

    def _call(self, method: str, path: str, body: Any, *, explain: bool, safe: bool) -> Flow:
        response = self._requester.request(
            method,
            path,
            credential=self.token,
            params={"explain": "1"} if explain else None,
            json=body,
            retry_safe=safe,
        )
        return cast(Flow, response.json())

    def get(self, *, explain: bool = False) -> Flow:
        """The session as the subscriber sees it (opening it marks it viewed)."""
        return self._call("GET", "/api/v1/flow", None, explain=explain, safe=True)

    def survey(
        self, reason: Reason | str, *, reason_other: str | None = None, explain: bool = False
    ) -> Flow:
        """Why they are leaving; the answer lists the offers for that reason."""
        body = _without_none(reason=reason, reason_other=reason_other)
        # Answering the same reason again changes nothing: safe to retry.
        return self._call("POST", "/api/v1/flow/survey", body, explain=explain, safe=True)

    def execute(
        self,
        action: Action,
        *,
        offer_id: str | None = None,
        pause_duration_days: int | None = None,
        feedback: str | None = None,
    ) -> Flow:
        """Take an offer (its ``action`` and ``id``) or ``"cancel"``. Answers with the
        session ``executing``; ``wait`` for the outcome. A ``contact`` or ``redirect``
        offer answers ``completed`` at once: show ``outcome["details"]`` (the message and
        links), or open ``redirect_url``."""
        body = _without_none(
            action=action,
            offer_id=offer_id,
            pause_duration_days=pause_duration_days,
            feedback=feedback,
        )
        return self._call("POST", "/api/v1/flow/execute", body, explain=False, safe=False)

    def wait(self, *, interval: float = 3.0, timeout: float = 60.0) -> Flow:
        """Poll ``get`` until the session is ``completed`` or ``failed``. Each session may
        make 10 calls a minute, so keep ``interval`` at 3 seconds or more."""
        deadline = time.monotonic() + timeout
        while True:
            flow = self.get()
            if flow["status"] in FINISHED:
                return flow
            if time.monotonic() + interval > deadline:
                raise TimeoutError(
                    f"Session {flow['id']} is still {flow['status']} after {timeout} s."
                )
            time.sleep(interval)
