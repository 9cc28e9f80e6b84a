from __future__ import annotations

from celery import shared_task

from billing.gateway import StripeGatewayError

from . import execution, jobs, services

# Transient Stripe errors retry after 2, 4, 8, 16, 32 s; then the session fails.
MAX_RETRIES = 5


@shared_task(name=jobs.SESSION_EXECUTE, bind=True, max_retries=MAX_RETRIES)
def session_execute(self, session_id: str) -> str | None:  # type: ignore[no-untyped-def]
    try:
        session = execution.session_execute(session_id=session_id)
    except StripeGatewayError as exc:
        if self.request.retries >= MAX_RETRIES:
            from .models import Session

            session = Session.objects.select_related("tenant").get(id=session_id)
            execution.session_fail(session=session, error=exc)
            return "failed"
        raise self.retry(countdown=2 ** (self.request.retries + 1), exc=exc) from exc
    return session.status if session else None


@shared_task(name=jobs.SESSIONS_EXPIRE)
def sessions_expire() -> dict[str, int]:
    return services.sessions_expire_due()


@shared_task(name=jobs.SESSIONS_REQUEUE_STUCK)
def sessions_requeue_stuck() -> int:
    return execution.sessions_requeue_stuck()
