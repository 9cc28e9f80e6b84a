from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from tests.factories import MembershipFactory, UserFactory
from tests.worker_fixture import (  # noqa: F401
    celery_broker,
    celery_worker_process,
    isolated_broker,
)
from webhooks.models import Delivery
from webhooks.services import endpoint_create, event_emit


@pytest.fixture(scope="package")
def celery_worker_env() -> dict[str, str]:
    # The receiver listens on 127.0.0.1.
    return {"WEBHOOK_ALLOW_LOOPBACK": "1"}


@pytest.fixture(autouse=True)
def _webhook_settings(settings, celery_broker):  # noqa: F811
    """Every test here: loopback receivers allowed, and a broker namespace of its own."""
    settings.WEBHOOK_ALLOW_LOOPBACK = True
    settings.WEBHOOK_TIMEOUT = 15.0


@dataclass
class Reply:
    """How the receiver answers one request."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b'{"received": true}'
    # Hold the answer until the test ends (a receiver that hangs).
    hang: bool = False
    # Send headers, then one byte of body every 0.1 s, forever (a slow-loris receiver).
    trickle: bool = False
    # Answer 200 with a body of this many bytes, streamed (a receiver that floods).
    stream_bytes: int = 0


@dataclass
class Received:
    path: str
    headers: dict[str, str]  # lower-cased names
    body: bytes
    at: float


class Receiver:
    """A threaded HTTP server on 127.0.0.1 that records every request, raw."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.replies: dict[str, list[Reply]] = {}
        self.default = Reply()
        self.released = threading.Event()
        self.bytes_streamed = 0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with receiver._lock:
                    receiver.requests.append(
                        Received(
                            path=self.path,
                            headers={k.lower(): v for k, v in self.headers.items()},
                            body=body,
                            at=time.time(),
                        )
                    )
                    queue = receiver.replies.get(self.path) or []
                    reply = queue.pop(0) if queue else receiver.default
                receiver._answer(self, reply)

            do_GET = do_POST

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def url(self, path: str = "/hook", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def reply(self, path: str, *replies: Reply) -> None:
        """Answer the next requests to ``path`` with ``replies``, in order."""
        with self._lock:
            self.replies.setdefault(path, []).extend(replies)

    def to(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def _answer(self, handler: BaseHTTPRequestHandler, reply: Reply) -> None:
        try:
            if reply.hang:
                self.released.wait(60)
                return
            handler.send_response(reply.status)
            headers = {"Content-Type": "application/json", **reply.headers}
            if reply.stream_bytes:
                headers["Content-Length"] = str(reply.stream_bytes)
            elif reply.trickle:
                headers["Content-Length"] = "1000000"
            else:
                headers["Content-Length"] = str(len(reply.body))
            for name, value in headers.items():
                handler.send_header(name, value)
            handler.end_headers()
            if reply.stream_bytes:
                chunk = b"x" * 65536
                sent = 0
                while sent < reply.stream_bytes and not self.released.is_set():
                    handler.wfile.write(chunk)
                    sent += len(chunk)
                    self.bytes_streamed = sent
            elif reply.trickle:
                while not self.released.wait(0.1):
                    handler.wfile.write(b"x")
                    handler.wfile.flush()
            else:
                handler.wfile.write(reply.body)
        except (BrokenPipeError, ConnectionResetError):
            handler.close_connection = True

    def close(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def make_endpoint(receiver: Receiver):
    """``make_endpoint(tenant, path="/hook", livemode=False, **fields) -> (endpoint, secret)``."""

    def make(tenant, path: str = "/hook", *, livemode: bool = False, url: str | None = None, **kw):
        return endpoint_create(
            tenant=tenant, livemode=livemode, url=url or receiver.url(path), **kw
        )

    return make


@pytest.fixture
def member(tenant):
    """An owner of ``tenant`` with an email address, and a member without one."""
    MembershipFactory(tenant=tenant, user=UserFactory(email=""))
    return MembershipFactory(tenant=tenant)


SESSION_DATA = {
    "session_id": "ses_test123",
    "subscription_id": "sub_123",
    "customer_id": "cus_123",
    "action": "pause",
    "outcome": {"action": "pause", "details": {"pause_duration_days": 30}},
    "survey_response": {"reason": "not_using_enough"},
    "metadata": {"plan": "pro"},
}


@pytest.fixture
def unconsumed_broker():
    """A broker namespace no worker reads, for tests that queue without wanting it run."""
    with isolated_broker() as namespace:
        yield namespace


class Clock:
    """``django.utils.timezone.now``, frozen and moved by hand."""

    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now

    def set(self, when):
        self.now = when

    def advance(self, **delta):
        self.now += timedelta(**delta)


@pytest.fixture
def clock(monkeypatch) -> Clock:
    frozen = Clock(timezone.now().replace(microsecond=0))
    monkeypatch.setattr(timezone, "now", frozen)
    return frozen


def emit_one(tenant, type: str = "session.completed", *, livemode: bool = False, data=None):
    """Emit an event (its on-commit message never runs in a test transaction) and return
    its one delivery."""
    event = event_emit(tenant=tenant, livemode=livemode, type=type, data=data or SESSION_DATA)
    return Delivery.objects.get(event=event)
