"""Telling the layers above that a session's outcome was recorded.

Code above ``sessions_app`` (``retention``: a save to verify) registers a listener at
start-up with :func:`on_outcome_recorded`. The services that record an outcome call
:func:`outcome_recorded` inside their transaction; each listener runs after that
transaction commits, never inside it, so a listener's failure is logged and leaves the
outcome recorded. A listener must therefore not be the only way its work gets done (the
retention app's periodic pass finds any save still missing).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Literal

from django.db import transaction

Kind = Literal["session", "custom_session"]
Listener = Callable[..., None]  # listener(*, kind: Kind, record_id: str)
_listeners: list[Listener] = []


def on_outcome_recorded(listener: Listener) -> Listener:
    """Register ``listener(*, kind, record_id)``, called after each outcome commits."""
    if listener not in _listeners:
        _listeners.append(listener)
    return listener


def outcome_recorded(*, kind: Kind, record_id: str) -> None:
    """Schedule the listeners for a session (or custom session) whose outcome was just
    written in the current transaction."""
    for listener in list(_listeners):
        transaction.on_commit(partial(listener, kind=kind, record_id=record_id), robust=True)
