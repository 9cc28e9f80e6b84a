from __future__ import annotations

import logging

from celery import shared_task

from . import services

logger = logging.getLogger(__name__)


@shared_task(name="audit.tasks.audit_entries_prune")
def audit_entries_prune() -> int:
    pruned = services.audit_entries_prune()
    if pruned:
        logger.info("deleted %d audit log entries past their retention", pruned)
    return pruned
