"""Everything that writes webhook endpoints, events and deliveries (SPEC section 6).

The delivery pipeline:
1. ``event_emit`` writes the event and one pending delivery per subscribed endpoint in the
   caller's transaction, and queues each first attempt once that transaction commits.
2. ``delivery_attempt`` (task ``webhooks.tasks.delivery_attempt``) claims one attempt with
   a conditional update, signs, sends, logs it and schedules the next one in
   ``next_attempt_at``; ``deliveries_attempt`` (task ``webhooks.tasks.deliveries_attempt``)
   does the same for the up to ``WEBHOOK_ATTEMPT_BATCH`` attempts queued in one message,
   with one claim and one log statement for all of them.
3. ``deliveries_dispatch_due`` (Celery beat, every few seconds) queues every attempt that
   is due: retries, and anything whose message the broker never got or lost.
Messages carry the attempt number they are for; a duplicate or stale one finds the
delivery moved on and does nothing, and nothing sends a finished delivery again.
"""

from .attempts import deliveries_attempt, delivery_attempt
from .dispatch import deliveries_dispatch_due
from .emit import event_emit, event_emit_many, event_emit_select
from .endpoints import (
    endpoint_create,
    endpoint_disable,
    endpoint_enable,
    endpoint_rotate_secret,
    endpoint_update,
    endpoint_validate,
)
from .resend import endpoint_resend_failed, event_resend

__all__ = [
    "deliveries_attempt",
    "deliveries_dispatch_due",
    "delivery_attempt",
    "endpoint_create",
    "endpoint_disable",
    "endpoint_enable",
    "endpoint_resend_failed",
    "endpoint_rotate_secret",
    "endpoint_update",
    "endpoint_validate",
    "event_emit",
    "event_emit_many",
    "event_emit_select",
    "event_resend",
]
