from __future__ import annotations

import logging

from celery import shared_task

from billing.gateway import StripeGatewayError
from mrrx.logging import session_id_bound

from . import execution, jobs, pauses, receipts, services

logger = logging.getLogger(__name__)

# Transient Stripe errors retry after 2, 4, 8, 16, 32 s; then the session fails.
MAX_RETRIES = 5


@shared_task(name=jobs.SESSION_EXECUTE, bind=True, max_retries=MAX_RETRIES)
def session_execute(self, session_id: str) -> str | None:  # type: ignore[no-untyped-def]
    with session_id_bound(session_id):
        try:
            session = execution.session_execute(session_id=session_id)
        except StripeGatewayError as exc:
            if self.request.retries >= MAX_RETRIES:
                from .models import Session

                session = Session.objects.select_related("tenant").get(id=session_id)
                execution.session_fail(session=session, error=exc)
                logger.info("session %s executed %s: failed", session_id, session.selected_action)
                return "failed"
            raise self.retry(countdown=2 ** (self.request.retries + 1), exc=exc) from exc
        if session is None:
            logger.info("session %s: not found, nothing executed", session_id)
            return None
        logger.info(
            "session %s executed %s: %s", session_id, session.selected_action, session.status
        )
        return session.status


@shared_task(name=jobs.SESSIONS_EXPIRE)
def sessions_expire() -> dict[str, int]:
    ended = services.sessions_expire_due()
    if any(ended.values()):
        logger.info(
            "expired %d unopened and abandoned %d opened sessions",
            ended["expired"],
            ended["abandoned"],
        )
    return ended


@shared_task(name=jobs.SESSIONS_REQUEUE_STUCK)
def sessions_requeue_stuck() -> int:
    requeued = execution.sessions_requeue_stuck()
    if requeued:
        logger.info("requeued %d sessions stuck in executing", requeued)
    return requeued


@shared_task(name=jobs.RECEIPT_SEND)
def receipt_send(receipt_id: str) -> str | None:
    receipt = receipts.receipt_send(receipt_id=receipt_id)
    if receipt is None:
        logger.debug("receipt %s: nothing to send", receipt_id)
        return None
    with session_id_bound(receipt.session_id):
        logger.info(
            "receipt %s of session %s to %s: %s",
            receipt.id, receipt.session_id, receipts.email_mask(receipt.to_email), receipt.status,
        )  # fmt: skip
    return receipt.status


@shared_task(name=jobs.RECEIPTS_DISPATCH_DUE)
def receipts_dispatch_due() -> dict[str, int]:
    counts = receipts.receipts_dispatch_due()
    if any(counts.values()):
        logger.info(
            "queued %d due receipts; %d interrupted mid-send marked failed",
            counts["queued"], counts["interrupted"],
        )  # fmt: skip
    return counts


@shared_task(name=jobs.PAUSES_END_DUE)
def pauses_end_due() -> dict[str, int]:
    return pauses.pauses_end_due()
