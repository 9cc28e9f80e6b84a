from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(name="billing.tasks.oauth_states_prune")
def oauth_states_prune() -> int:
    return services.oauth_states_prune()


@shared_task(name="billing.tasks.stripe_events_process_stale")
def stripe_events_process_stale() -> int:
    return services.stripe_events_process_stale()
