from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(name="billing.tasks.oauth_states_prune")
def oauth_states_prune() -> int:
    return services.oauth_states_prune()
