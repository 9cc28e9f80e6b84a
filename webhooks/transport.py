"""The outbound HTTP of webhooks: one pooled ``httpx.Client`` per worker process, guarded.

``post`` resolves and checks the URL's host on every send (``webhooks.ssrf``), then the
connection pool's network backend connects to that checked address, never resolving the
name again; the URL keeps its hostname, so the Host header, SNI and certificate checks are
the hostname's. The same backend holds each request to a hard deadline (a receiver that
trickles bytes cannot outlast the timeout) and to a read budget (a receiver that streams
gigabytes costs at most ``MAX_READ_BYTES``). Redirects are never followed.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpcore
import httpx

from . import ssrf

MAX_READ_BYTES = 64 * 1024  # never read more than this from a receiver (headers included)
MAX_STORED_BODY_BYTES = 20 * 1024  # what the attempt log keeps of a response body


@dataclass
class _SendLimits:
    """What the network backend needs to know about the send under way in this thread."""

    host: str
    port: int
    address: str
    deadline: float
    budget: int = MAX_READ_BYTES
    exhausted: bool = False

    def remaining(self, timeout: float | None, error: type[Exception]) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise error("the webhook timeout elapsed")
        return left if timeout is None else min(timeout, left)


_local = threading.local()


def _limits() -> _SendLimits:
    limits = getattr(_local, "limits", None)
    if limits is None:
        # Only post() may open connections from this pool.
        raise ssrf.AddressRefused("connection attempted outside a checked send")
    return limits


class _GuardedStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        limits = _limits()
        if limits.budget <= 0:
            limits.exhausted = True
            raise httpcore.ReadError(f"response exceeds {MAX_READ_BYTES} bytes; stopped reading")
        data = self._stream.read(
            min(max_bytes, limits.budget), limits.remaining(timeout, httpcore.ReadTimeout)
        )
        limits.budget -= len(data)
        return data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _limits().remaining(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        # server_hostname is the URL's host, so the certificate is checked against it.
        stream = self._stream.start_tls(
            ssl_context, server_hostname, _limits().remaining(timeout, httpcore.ConnectTimeout)
        )
        return _GuardedStream(stream)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _GuardedBackend(httpcore.NetworkBackend):
    """Connects to the address ``post`` checked for this host, and nothing else."""

    def __init__(self) -> None:
        self._backend = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        limits = _limits()
        if (host, port) != (limits.host, limits.port):
            raise ssrf.AddressRefused(f"connection to {host}:{port} was not checked")
        stream = self._backend.connect_tcp(
            limits.address,
            port,
            timeout=limits.remaining(timeout, httpcore.ConnectTimeout),
            local_address=local_address,
            socket_options=socket_options,
        )
        return _GuardedStream(stream)

    def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
        raise ssrf.AddressRefused("unix sockets are not webhook receivers")

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


class _GuardedTransport(httpx.HTTPTransport):
    def __init__(self) -> None:
        super().__init__(trust_env=False)  # no proxy from the environment
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_GuardedBackend(),
            # Headers and body go out in separate writes; without this, Nagle's algorithm
            # and the receiver's delayed ACK stall each request by up to 40 ms.
            socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
        )


_client: httpx.Client | None = None
_client_lock = threading.Lock()


def client() -> httpx.Client:
    """This process's pooled client, made on first use."""
    global _client
    if _client is None:
        with _client_lock:
            if _client is None:
                _client = httpx.Client(
                    transport=_GuardedTransport(), follow_redirects=False, trust_env=False
                )
    return _client


def _forget_client() -> None:
    # A forked child must not share the parent's sockets; it makes its own pool.
    global _client, _client_lock
    _client, _client_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_client)


@dataclass
class SendResult:
    status_code: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""
    error: str = ""
    duration_ms: int = 0
    request_headers: dict[str, str] = field(default_factory=dict)


def post(
    url: str,
    *,
    body: bytes,
    headers: dict[str, str],
    timeout: float,
    allow_loopback: bool,
    require_https: bool,
) -> SendResult:
    """POST ``body`` to ``url`` once; never raises for anything the receiver or network does."""
    started = time.monotonic()
    result = SendResult(request_headers=dict(headers))
    try:
        _send(
            result,
            url,
            body=body,
            headers=headers,
            allow_loopback=allow_loopback,
            require_https=require_https,
            timeout=timeout,
            deadline=started + timeout,
        )
    except ssrf.AddressRefused as exc:
        result.error = exc.reason
    except httpx.TimeoutException:
        result.error = f"timed out after {timeout:g} s"
    except httpx.HTTPError as exc:
        result.error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    finally:
        _local.limits = None
        result.duration_ms = round((time.monotonic() - started) * 1000)
    return result


def _send(
    result: SendResult,
    url: str,
    *,
    body: bytes,
    headers: dict[str, str],
    allow_loopback: bool,
    require_https: bool,
    timeout: float,
    deadline: float,
) -> None:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise ssrf.AddressRefused(f"invalid URL: {exc}") from None
    if parsed.scheme not in ("http", "https") or not parsed.raw_host:
        raise ssrf.AddressRefused("only http and https URLs are webhook receivers")
    if require_https and parsed.scheme != "https":
        raise ssrf.AddressRefused("live-mode endpoints must use https")
    host = parsed.raw_host.decode("ascii")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    address = ssrf.resolve(host, port, allow_loopback=allow_loopback)
    limits = _SendLimits(host=host, port=port, address=address, deadline=deadline)
    _local.limits = limits

    http = client()
    request = http.build_request("POST", parsed, content=body, headers=headers, timeout=timeout)
    # As sent, with their casing (httpx adds Host, Accept, Connection, Content-Length).
    result.request_headers = {name.decode(): value.decode() for name, value in request.headers.raw}
    response = http.send(request, stream=True)
    kept = bytearray()
    try:
        for chunk in response.iter_raw():
            if len(kept) < MAX_STORED_BODY_BYTES:
                kept += chunk[: MAX_STORED_BODY_BYTES - len(kept)]
    except httpx.ReadError:
        if not limits.exhausted:
            raise
        result.error = (
            f"response body longer than the {MAX_READ_BYTES // 1024} KB read limit; truncated"
        )
    finally:
        response.close()
    result.status_code = response.status_code
    result.headers = dict(response.headers)
    result.body = kept.decode("utf-8", errors="replace")
