"""Logging: JSON lines on request, a request id on every line, and no secrets ever.

- ``RequestIdMiddleware`` gives each request an id (the caller's ``X-Request-ID`` when it
  looks sane, else a new one), returns it as ``X-Request-ID`` and binds it, with the
  cancellation session id where there is one, to every log line the request writes.
- ``bind_session_id()`` lets the hosted flow and the sessions API name their session;
  ``session_id_bound()`` does the same for a task, for as long as it runs.
- ``RedactSecretsFilter`` (on the handlers, so it sees every record) masks API keys,
  Stripe keys, webhook secrets and Authorization headers, in messages and tracebacks.
- ``JsonFormatter`` writes one JSON object per line (``LOG_FORMAT=json``).
- ``CeleryRoutineToDebug`` moves Celery's line-per-tick and line-per-task bookkeeping to
  DEBUG: each task logs what it did itself, so an idle worker and beat are quiet at INFO.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from celery.app.trace import LOG_RECEIVED, LOG_SUCCESS
from django.core.signals import request_finished
from django.http import HttpRequest, HttpResponse

from .metrics import record_http_request

request_id_var: ContextVar[str | None] = ContextVar("mrrx_request_id", default=None)
session_id_var: ContextVar[str | None] = ContextVar("mrrx_session_id", default=None)

REQUEST_ID_HEADER = "X-Request-ID"
# What an incoming id may look like to be kept: short, and nothing a log reader could trip on.
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{7,127}$")
_SESSION_ID = re.compile(r"^ses_[0-9a-z]{10,40}$")

REDACTED = "[REDACTED]"
_SECRET_PATTERNS = [
    # MRRX API keys, Stripe secret/restricted/publishable-less keys, webhook secrets.
    re.compile(r"\b(mrrx_(?:live|test)_)[A-Za-z0-9]+"),
    re.compile(r"\b((?:sk|rk)_(?:live|test)_)[A-Za-z0-9_]+"),
    re.compile(r"\b(whsec_)[A-Za-z0-9+/=_-]+"),
    # Signed tokens (JWTs): a hosted-flow link is a credential until it expires.
    re.compile(r"()\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+"),
    # Authorization headers however they are printed: "Authorization: Bearer x",
    # {'HTTP_AUTHORIZATION': 'Bearer x'}, authorization=Basic x.
    re.compile(
        r"""((?:HTTP_)?authorization['"]?\s*[:=]\s*['"]?)(?:(?:Bearer|Basic|Token)\s+)?[^\s'",;}]+""",
        re.IGNORECASE,
    ),
]


def redact(text: str) -> str:
    """``text`` with every secret it contains replaced by ``[REDACTED]``."""
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
    return text


def bind_session_id(session_id: str) -> None:
    """Name the cancellation session the current request (or task) is about."""
    session_id_var.set(session_id)


@contextmanager
def session_id_bound(session_id: str) -> Iterator[None]:
    """Name the session on every line logged inside the block, and forget it after: a
    worker process runs one task after another, and the next one is about something else."""
    token = session_id_var.set(session_id)
    try:
        yield
    finally:
        session_id_var.reset(token)


class RedactSecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: log what we have rather than nothing
            message = str(record.msg)
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class ContextFilter(logging.Filter):
    """Puts the request and session ids on the record, for any formatter to use."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get() or "-"
        record.session_id = session_id_var.get() or "-"
        return True


def _periodic_task_names() -> set[str]:
    from django.conf import settings

    return {entry["task"] for entry in getattr(settings, "CELERY_BEAT_SCHEDULE", {}).values()}


class CeleryRoutineToDebug(logging.Filter):
    """On Celery's loggers: beat's "Sending due task", the worker's "Task ... received" /
    "Task ... succeeded", and a periodic tick discarded as expired become DEBUG lines.

    Beat ticks every few seconds and most ticks find nothing to do, so at INFO these lines
    buried everything else. Every task logs its own line when it did something (naming the
    session or delivery), and Celery's retry and failure lines keep their level. The lines
    are told apart by Celery's format strings, which it logs unformatted.
    """

    _ROUTINE = (LOG_RECEIVED, LOG_SUCCESS, "Scheduler: Sending due task %s (%s)")
    # Also a periodic task's tick that expired before a worker got to it (its schedule
    # entry's ``expires``): the next tick does its work. Any other revoked task keeps INFO.
    _EXPIRED = "Discarding revoked task: %s[%s]"

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO:
            return True
        if record.msg == self._EXPIRED:
            if not record.args or record.args[0] not in _periodic_task_names():
                return True
        elif record.msg not in self._ROUTINE:
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("request_id", "session_id"):
            value = (
                getattr(record, key, None)
                or (request_id_var if key == "request_id" else session_id_var).get()
            )
            if value and value != "-":
                line[key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(self.formatException(record.exc_info))
        if record.exc_text:
            line["exc"] = record.exc_text
        if record.stack_info:
            line["stack"] = record.stack_info
        return json.dumps(line, default=str)


access_logger = logging.getLogger("mrrx.access")


class RequestIdMiddleware:
    """Tags the request, its log lines and its response with one id.

    The ids stay bound until the response is finished (``request_finished``), so that
    the lines Django writes after the middleware chain ("Not Found: ...") carry them.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = incoming if _SANE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        request_id_var.set(request_id)
        session_id_var.set(None)
        started = time.perf_counter()
        response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request_id
        elapsed = time.perf_counter() - started
        record_http_request(request=request, status=response.status_code, seconds=elapsed)
        # The access log, written here rather than by gunicorn so that it goes through the
        # redaction filter: hosted-flow paths carry a session's token.
        access_logger.info(
            "%s %s %s %.1fms", request.method, request.path, response.status_code, elapsed * 1000
        )
        return response

    def process_view(
        self, request: HttpRequest, view: Any, args: Any, kwargs: dict[str, Any]
    ) -> None:
        # The sessions API names its session in the URL (/api/v1/sessions/ses_...).
        for value in kwargs.values():
            if isinstance(value, str) and _SESSION_ID.match(value):
                bind_session_id(value)


def _forget_request(**_: Any) -> None:
    request_id_var.set(None)
    session_id_var.set(None)


request_finished.connect(_forget_request, dispatch_uid="mrrx.logging.forget_request")
