from __future__ import annotations

from celery import shared_task

from .weekly_reports import weekly_reports_send as _weekly_reports_send

WEEKLY_REPORTS_SEND = "dashboard.tasks.weekly_reports_send"


@shared_task(name=WEEKLY_REPORTS_SEND)
def weekly_reports_send() -> dict[str, int]:
    return _weekly_reports_send()
