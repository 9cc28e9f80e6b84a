"""What the webhook tasks write to the log: each attempt with its delivery id and answer,
and the dispatcher only when it queued something."""

from __future__ import annotations

import logging

import pytest
from django.utils import timezone

from webhooks.models import Delivery
from webhooks.tasks import deliveries_dispatch_due_task, delivery_attempt_task

from .conftest import Reply, emit_one

# The tasks drop database connections the way a request does, which ends a test's
# enclosing transaction: these tests commit.
pytestmark = pytest.mark.django_db(transaction=True)


def _task_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "webhooks.tasks"]


def test_each_attempt_logs_its_delivery_id_number_and_answer(
    tenant, receiver, make_endpoint, caplog, unconsumed_broker
):
    receiver.reply("/hook", Reply(status=500))
    make_endpoint(tenant)
    delivery = emit_one(tenant)
    caplog.set_level(logging.INFO, logger="webhooks.tasks")

    delivery_attempt_task(delivery.pk)
    delivery_attempt_task(delivery.pk)

    assert _task_lines(caplog) == [
        f"delivery {delivery.pk} attempt 1: 500",
        f"delivery {delivery.pk} attempt 2: 200",
    ]


def test_the_dispatcher_logs_only_when_it_queued_deliveries(
    tenant, make_endpoint, caplog, unconsumed_broker
):
    caplog.set_level(logging.INFO, logger="webhooks.tasks")
    deliveries_dispatch_due_task()
    assert _task_lines(caplog) == []

    make_endpoint(tenant)
    delivery = emit_one(tenant)
    # Queued on commit when emitted; due again once the broker is presumed to have lost it.
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    deliveries_dispatch_due_task()
    assert _task_lines(caplog) == ["dispatched 1 due deliveries"]
