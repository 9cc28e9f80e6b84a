from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from mrrx.api.idempotency import idempotency_prune
from mrrx.models import IdempotencyRecord
from tenants.models import ApiKey

pytestmark = [pytest.mark.urls("tests.api_test_urls"), pytest.mark.smoke]


def _things(tenant, name):  # type: ignore[no-untyped-def]
    return ApiKey.objects.filter(tenant=tenant, name=name).count()


@pytest.mark.django_db
def test_same_key_same_body_replays_the_first_answer(api):
    first = api.post("/api/v1/things", {"name": "a"}, HTTP_IDEMPOTENCY_KEY="k-1")
    again = api.post("/api/v1/things", {"name": "a"}, HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert _things(api.tenant, "a") == 1


@pytest.mark.django_db
def test_same_key_different_body_is_422(api):
    api.post("/api/v1/things", {"name": "a"}, HTTP_IDEMPOTENCY_KEY="k-2")
    response = api.post("/api/v1/things", {"name": "b"}, HTTP_IDEMPOTENCY_KEY="k-2")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "idempotency_key_reused"
    assert _things(api.tenant, "b") == 0


@pytest.mark.django_db
def test_failed_validation_is_not_stored(api):
    bad = api.post("/api/v1/things", {"name": ""}, HTTP_IDEMPOTENCY_KEY="k-3")
    assert bad.status_code == 400
    assert not IdempotencyRecord.objects.filter(key="k-3").exists()
    good = api.post("/api/v1/things", {"name": "fixed"}, HTTP_IDEMPOTENCY_KEY="k-3")
    assert good.status_code == 201


@pytest.mark.django_db
def test_keys_are_scoped_to_workspace_and_mode(make_client, tenant, other_tenant):
    test_client = make_client(tenant)
    live_client = make_client(tenant, livemode=True)
    other = make_client(other_tenant)
    ids = {
        c.post("/api/v1/things", {"name": "s"}, HTTP_IDEMPOTENCY_KEY="shared").json()["id"]
        for c in (test_client, live_client, other)
    }
    assert len(ids) == 3


@pytest.mark.django_db
def test_in_progress_key_is_409(api):
    now = timezone.now()
    IdempotencyRecord.objects.create(
        tenant=api.tenant,
        livemode=False,
        key="k-4",
        request_hash="x" * 64,
        created_at=now,
        locked_at=now,
    )
    from mrrx.api.idempotency import request_fingerprint

    IdempotencyRecord.objects.filter(key="k-4").update(
        request_hash=request_fingerprint(method="POST", path="/api/v1/things", data={"name": "a"})
    )
    response = api.post("/api/v1/things", {"name": "a"}, HTTP_IDEMPOTENCY_KEY="k-4")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_in_progress"
    assert _things(api.tenant, "a") == 0


@pytest.mark.django_db
def test_records_older_than_24_hours_are_pruned_and_the_key_reusable(api):
    api.post("/api/v1/things", {"name": "old"}, HTTP_IDEMPOTENCY_KEY="k-5")
    IdempotencyRecord.objects.filter(key="k-5").update(
        created_at=timezone.now() - timedelta(hours=25)
    )
    response = api.post("/api/v1/things", {"name": "new"}, HTTP_IDEMPOTENCY_KEY="k-5")
    assert response.status_code == 201 and "Idempotent-Replayed" not in response
    IdempotencyRecord.objects.filter(key="k-5").update(
        created_at=timezone.now() - timedelta(hours=25)
    )
    assert idempotency_prune() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicates_have_exactly_one_effect(make_client, tenant):
    client = make_client(tenant)
    answers: list[tuple[int, dict]] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def call() -> None:
        local = APIClient()
        local.credentials(HTTP_AUTHORIZATION=f"Bearer {client.plaintext}")
        start.wait()
        response = local.post(
            "/api/v1/things",
            {"name": "once", "sleep_ms": 300},
            format="json",
            HTTP_IDEMPOTENCY_KEY="race",
        )
        with lock:
            answers.append((response.status_code, response.json()))
        connection.close()

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert _things(tenant, "once") == 1
    statuses = sorted(status for status, _ in answers)
    assert statuses.count(201) >= 1
    assert set(statuses) <= {201, 409}
    created_ids = {body["id"] for status, body in answers if status == 201}
    assert len(created_ids) == 1
    for status, body in answers:
        if status == 409:
            assert body["error"]["code"] == "idempotency_in_progress"
