"""The Celery application: three queues, JSON only, late acks (SPEC section 8)."""

from __future__ import annotations

import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mrrx.settings")

app = Celery("mrrx")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = [Queue("actions"), Queue("webhooks"), Queue("default")]
app.conf.task_routes = {
    "billing.tasks.*": {"queue": "actions"},
    "sessions_app.tasks.session_execute": {"queue": "actions"},
    "webhooks.tasks.*": {"queue": "webhooks"},
}
# Beat answers `celery inspect ping` as celerybeat@host, beside the workers: how `make run`
# knows that both are up before it prints the demo's key.
app.conf.beat_enable_remote_control = True
app.autodiscover_tasks()
