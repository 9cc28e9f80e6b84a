"""Handing session work to Celery by task name.

Services queue work through these functions and never import ``sessions_app.tasks``:
the tasks call the services, and the names below are the contract between the two.
"""

from __future__ import annotations

from django.db import transaction

from mrrx.celery import app

SESSION_EXECUTE = "sessions_app.tasks.session_execute"
SESSIONS_EXPIRE = "sessions_app.tasks.sessions_expire"
SESSIONS_REQUEUE_STUCK = "sessions_app.tasks.sessions_requeue_stuck"
RECEIPT_SEND = "sessions_app.tasks.receipt_send"
RECEIPTS_DISPATCH_DUE = "sessions_app.tasks.receipts_dispatch_due"
PAUSES_END_DUE = "sessions_app.tasks.pauses_end_due"


def session_execute_enqueue(session_id: str) -> None:
    app.send_task(SESSION_EXECUTE, args=(session_id,))


def session_execute_enqueue_on_commit(session_id: str) -> None:
    """Queue the action once the transaction that chose it commits (a worker must see it)."""
    transaction.on_commit(lambda: session_execute_enqueue(session_id))


def receipt_send_enqueue(receipt_id: str) -> None:
    app.send_task(RECEIPT_SEND, args=(receipt_id,), queue="default")


def receipt_send_enqueue_on_commit(receipt_id: str) -> None:
    """Queue the receipt once the session's completion commits.

    ``robust``: a broker that is down must not turn a completed session into an error;
    the receipt's row is already written, and the dispatcher queues it later.
    """
    transaction.on_commit(lambda: receipt_send_enqueue(receipt_id), robust=True)
