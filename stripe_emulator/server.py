"""The HTTP front end: a stdlib ThreadingHTTPServer around one `Emulator`."""

from __future__ import annotations

import json
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from . import Emulator
from .webhooks import WebhookDispatcher


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 keeps connections alive between stripe-python calls.
    protocol_version = "HTTP/1.1"
    server_version = "stripe-emulator"
    sys_version = ""
    emulator: Emulator
    verbose = False

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without TCP_NODELAY, Nagle plus the
        # client's delayed ACK adds ~40 ms to every keep-alive request.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path, _, query = self.path.partition("?")
        response = self.emulator.handle(self.command, path, query, body, dict(self.headers))
        if isinstance(response.body, dict):
            payload = json.dumps(response.body, indent=2).encode()
            content_type = "application/json"
        else:
            payload = response.body.encode()
            content_type = "text/plain; charset=utf-8"
        self.send_response(response.status)
        headers = dict(response.headers)
        headers.setdefault("Content-Type", content_type)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = _serve
    do_POST = _serve
    do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        if self.verbose:
            sys.stderr.write("stripe-emulator: " + (format % args) + "\n")


class EmulatorServer:
    """Binds 127.0.0.1:`port` (0 picks a free port) and serves until `shutdown()`."""

    def __init__(
        self, port: int = 12111, state_path: str | None = None, verbose: bool = False
    ) -> None:
        self.emulator = Emulator(state_path=state_path)
        self.dispatcher = WebhookDispatcher(on_result=self.emulator.delivery_result)
        self.emulator.deliver = self.dispatcher.submit
        handler = type("Handler", (_Handler,), {"emulator": self.emulator, "verbose": verbose})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.httpd.daemon_threads = True
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick, name="emulator-clock", daemon=True)

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _tick(self) -> None:
        # Real time passing also ends trials and renews periods, like Stripe would.
        while not self._stop.wait(1.0):
            try:
                self.emulator.tick()
            except Exception as exc:  # keep ticking; report instead of dying silently
                sys.stderr.write(f"stripe-emulator: clock tick failed: {exc!r}\n")

    def serve_forever(self) -> None:
        self._ticker.start()
        try:
            self.httpd.serve_forever(poll_interval=0.2)
        finally:
            self._stop.set()

    def start_background(self) -> threading.Thread:
        """Serve from a daemon thread (for in-process use)."""
        thread = threading.Thread(target=self.serve_forever, name="stripe-emulator", daemon=True)
        thread.start()
        return thread

    def shutdown(self) -> None:
        self._stop.set()
        self.httpd.shutdown()
        self.close()

    def close(self) -> None:
        self._stop.set()
        self.dispatcher.stop()
        with self.emulator.lock:
            self.emulator.save()
        self.httpd.server_close()
