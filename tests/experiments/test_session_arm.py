"""The session's experiment and arm wherever the session is shown: the sessions API, the
webhooks that carry it (delivered and verified), and the sessions CSV in admin."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from standardwebhooks import Webhook

from experiments.services import experiment_stop
from sessions_app import execution
from sessions_app.models import Session
from sessions_app.services import sessions_expire_due
from tests.webhooks.conftest import make_endpoint, receiver  # noqa: F401
from webhooks.models import Delivery, Event
from webhooks.services import delivery_attempt

from .conftest import connect, seed, start_experiment

pytestmark = pytest.mark.django_db


def _data(event: Event) -> dict:
    return json.loads(event.body)["data"]


def test_the_api_shows_the_arm_on_get_and_list(shop):
    experiment = start_experiment(shop.tenant, weights=(0, 1, 0))
    session_id = shop.create().json()["id"]
    one = shop.client.get(f"/api/v1/sessions/{session_id}").json()
    assert one["experiment"] == {"id": experiment.pk, "arm": "pct30"}
    [listed] = shop.client.get("/api/v1/sessions").json()["data"]
    assert listed["experiment"] == {"id": experiment.pk, "arm": "pct30"}


def test_webhooks_carry_the_arm_and_verify(shop, make_endpoint, receiver, emulator, settings):  # noqa: F811
    settings.WEBHOOK_ALLOW_LOOPBACK = True  # the receiver listens on 127.0.0.1
    experiment = start_experiment(shop.tenant, weights=(0, 0, 1))
    _endpoint, secret = make_endpoint(shop.tenant)
    body = shop.create().json()
    created = Event.objects.get(type="session.created", session_id=body["id"])
    assert _data(created)["experiment"] == {"id": experiment.pk, "arm": "holdout"}

    delivery_attempt(delivery_id=Delivery.objects.get(event=created).pk)
    [got] = receiver.to("/hook")
    verified = Webhook(secret).verify(got.body, got.headers)
    assert verified["data"]["experiment"] == {"id": experiment.pk, "arm": "holdout"}

    # Walked to the end (the holdout: reason, then cancel), session.completed says it too.
    subscriber = f"Bearer {body['token']}"
    shop.client.client.credentials(HTTP_AUTHORIZATION=subscriber)
    shop.client.post("/api/v1/flow/survey", {"reason": "other", "reason_other": "Moving"})
    shop.client.post("/api/v1/flow/execute", {"action": "cancel"})
    execution.session_execute(session_id=body["id"])
    completed = Event.objects.get(type="session.completed", session_id=body["id"])
    assert _data(completed)["experiment"] == {"id": experiment.pk, "arm": "holdout"}


def test_expired_sessions_events_carry_the_arm_and_others_null(shop, emulator):
    experiment = start_experiment(shop.tenant, weights=(1, 0, 0))
    in_arm = shop.create().json()["id"]
    sessions_expire_due(now=timezone.now() + timedelta(days=2))
    expired = Event.objects.get(type="session.expired", session_id=in_arm)
    assert _data(expired)["experiment"] == {"id": experiment.pk, "arm": "pct20"}

    experiment_stop(experiment=experiment)
    outside = shop.create().json()["id"]
    sessions_expire_due(now=timezone.now() + timedelta(days=2))
    assert (
        _data(Event.objects.get(type="session.expired", session_id=outside))["experiment"] is None
    )


def test_the_sessions_csv_has_the_arm_and_only_this_workspace(
    shop, emulator, merchant_client, other_tenant
):
    experiment = start_experiment(shop.tenant, weights=(0, 1, 0))
    session_id = shop.create().json()["id"]
    connect(other_tenant)
    start_experiment(other_tenant, weights=(0, 1, 0))
    theirs = seed(emulator, email="theirs@example.com")
    Session.objects.create(
        tenant=other_tenant,
        livemode=False,
        customer_id=theirs.customer_id,
        subscription_id=theirs.subscription_id,
        experiment_id="exp_theirs",
        experiment_arm="pct30",
        expires_at=timezone.now() + timedelta(hours=1),
    )
    viewer = merchant_client(shop.tenant, "viewer")
    listing = viewer.get(reverse("admin:sessions_app_session_changelist"))
    assert 'id="sessions-export"' in listing.content.decode()

    response = viewer.get(
        reverse("admin:sessions_app_session_export"), {"experiment_id": experiment.pk}
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(r["id"], r["experiment_id"], r["experiment_arm"]) for r in rows] == [
        (session_id, experiment.pk, "pct30")
    ]
    everything = viewer.get(reverse("admin:sessions_app_session_export"))
    ids = [r["id"] for r in csv.DictReader(io.StringIO(
        b"".join(everything.streaming_content).decode()))]  # fmt: skip
    assert ids == [session_id]

    bad = viewer.get(reverse("admin:sessions_app_session_export"), {"nonsense__in": "x"})
    assert bad.status_code == 400
