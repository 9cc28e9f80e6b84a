"""Handing hub work to Celery by task name.

Services queue work through these functions and never import ``hub.tasks``: the tasks
call the services, and the names below are the contract between the two.
"""

from __future__ import annotations

from django.db import transaction

from mrrx.celery import app

HUB_ACTION_EXECUTE = "hub.tasks.hub_action_execute"
HUB_ACTIONS_REQUEUE_STUCK = "hub.tasks.hub_actions_requeue_stuck"
# Stripe writes run on the actions queue, beside the cancel flow's.
ACTIONS_QUEUE = "actions"


def hub_action_execute_enqueue(action_id: str) -> None:
    app.send_task(HUB_ACTION_EXECUTE, args=(action_id,), queue=ACTIONS_QUEUE)


def hub_action_execute_enqueue_on_commit(action_id: str) -> None:
    """Queue the action once the transaction that claimed it commits (a worker must see it)."""
    transaction.on_commit(lambda: hub_action_execute_enqueue(action_id))
