"""GET /metrics: off without a token, refused without the right one, and with it every
process's counts in Prometheus' text format, a session completed in a Celery worker
included; HTTP requests under their URL pattern, never a path that carries a token."""

from __future__ import annotations

import logging
import os
import re
import runpy
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

import httpx
import pytest
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from mrrx.celery import app as celery_app
from sessions_app.models import Session
from tests.billing.conftest import emulator, gw, seed, stripe_subscription  # noqa: F401
from tests.sessions.conftest import FlowClient, shop  # noqa: F401
from tests.stripe_emulator_fixture import stripe_emulator  # noqa: F401
from tests.test_make_run import _banner, make_run
from tests.webhooks.conftest import make_endpoint, receiver  # noqa: F401
from tests.worker_fixture import WorkerProcess, configure_broker, isolated_broker, start_worker
from webhooks.models import Delivery
from webhooks.services import event_emit

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "metrics-test-token-7f3a9c2e41d8b605"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture(autouse=True)
def _metrics_on(settings) -> None:
    settings.METRICS_TOKEN = TOKEN


def scrape(client: Client | None = None) -> Samples:
    response = (client or Client()).get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200, response.content[:500]
    return parse(response.content.decode())


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(value for (n, have), value in samples.items() if n == name and wanted <= have)


def present(samples: Samples, name: str) -> dict[frozenset[tuple[str, str]], float]:
    return {labels: value for (n, labels), value in samples.items() if n == name}


# --- The endpoint --------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["get", "post"])
def test_metrics_is_not_found_while_no_token_is_set(client, settings, method):
    settings.METRICS_TOKEN = ""
    response = getattr(client, method)("/metrics", HTTP_AUTHORIZATION="Bearer anything")
    assert response.status_code == 404


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token", f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", f"Basic {TOKEN}",
     f"Token {TOKEN}", "Bearer", "Bearer é"],
)  # fmt: skip
def test_a_missing_or_wrong_token_is_refused_with_a_bearer_challenge(client, authorization):
    headers = {} if authorization is None else {"HTTP_AUTHORIZATION": authorization}
    response = client.get("/metrics", **headers)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert b"mrrx_" not in response.content


@pytest.mark.django_db
def test_the_right_token_gets_the_text_format(client):
    client.get("/api/v1/health")
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    text = response.content.decode()
    assert "# TYPE mrrx_http_requests_total counter" in text
    assert "# TYPE mrrx_http_request_duration_seconds histogram" in text
    samples = parse(text)
    assert total(samples, "mrrx_http_requests_total", route="api/v1/health", status="200") >= 1


@pytest.mark.django_db
def test_the_token_never_reaches_the_log(client, caplog):
    caplog.set_level(logging.DEBUG)
    client.get("/metrics", HTTP_AUTHORIZATION="Bearer a-wrong-token-0123456789")
    client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert "/metrics" in caplog.text
    assert TOKEN not in caplog.text and "a-wrong-token-0123456789" not in caplog.text


# --- HTTP requests -------------------------------------------------------------------------
@pytest.mark.django_db
def test_requests_are_counted_under_their_url_pattern_never_their_path(client):
    flow_token = "eyJhbGciOiJIUzI1NiJ9.eyJzaWQiOiJzZXNfbm90aGVyZSJ9.c2lnbmF0dXJlLXNlY3JldA"
    before = scrape(client)
    status = client.get(f"/c/{flow_token}").status_code
    client.get("/no/such/page-with-secret-9d1e")
    client.generic("BREW", "/api/v1/health")
    assert client.get("/static/mrrx.js").status_code == 200
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    text = response.content.decode()
    after = parse(text)

    assert flow_token not in text and "eyJ" not in text and "page-with-secret" not in text
    flow = {"route": "c/<str:token>", "method": "GET", "status": str(status)}
    assert total(after, "mrrx_http_requests_total", **flow) == (
        total(before, "mrrx_http_requests_total", **flow) + 1
    )
    unmatched = {"route": "unmatched", "method": "GET", "status": "404"}
    assert total(after, "mrrx_http_requests_total", **unmatched) == (
        total(before, "mrrx_http_requests_total", **unmatched) + 1
    )
    assert total(after, "mrrx_http_requests_total", route="static", status="200") >= 1
    # A method Django passes through but no one defined is not a label of its own.
    assert total(after, "mrrx_http_requests_total", route="api/v1/health", method="other") >= 1
    assert total(after, "mrrx_http_request_duration_seconds_count", route="c/<str:token>") >= 1
    routes = {dict(labels)["route"] for labels in present(after, "mrrx_http_requests_total")}
    assert all(not route.startswith("/") for route in routes), routes


# --- Gauges read at scrape time ------------------------------------------------------------
@pytest.fixture
def own_broker() -> Iterator[None]:
    """A broker namespace no worker reads, so what is queued stays to be counted."""
    with isolated_broker():
        yield


@pytest.mark.django_db
def test_queue_depths_are_read_from_the_broker_at_scrape_time(client, own_broker):
    before = scrape(client)
    assert set(present(before, "mrrx_queue_depth")) == {
        frozenset({("queue", name)}) for name in ("actions", "webhooks", "default")
    }
    assert total(before, "mrrx_broker_up") == 1
    celery_app.send_task("mrrx.tasks.idempotency_prune", queue="default")
    celery_app.send_task("mrrx.tasks.idempotency_prune", queue="default")
    after = scrape(client)
    assert total(after, "mrrx_queue_depth", queue="default") == (
        total(before, "mrrx_queue_depth", queue="default") + 2
    )


@pytest.fixture
def dead_broker() -> Iterator[None]:
    """The app's broker is a port nothing listens on (connections are refused)."""
    saved_url = celery_app.conf.broker_url
    saved_options = dict(celery_app.conf.broker_transport_options or {})
    configure_broker(celery_app, "redis://127.0.0.1:1/0", {})
    try:
        yield
    finally:
        configure_broker(celery_app, saved_url, saved_options)


@pytest.mark.django_db
def test_a_dead_broker_is_reported_without_holding_up_the_scrape(client, dead_broker):
    client.get("/api/v1/health")
    started = time.monotonic()
    samples = scrape(client)
    assert time.monotonic() - started < 8
    assert total(samples, "mrrx_broker_up") == 0
    assert present(samples, "mrrx_queue_depth") == {}
    # Everything counted in the processes is still there.
    assert total(samples, "mrrx_http_requests_total", route="api/v1/health") >= 1


@pytest.mark.django_db
def test_the_oldest_due_delivery_age_is_read_at_scrape_time(
    client, tenant, make_endpoint, settings, own_broker
):
    settings.WEBHOOK_ALLOW_LOOPBACK = True
    samples = scrape(client)
    assert total(samples, "mrrx_webhook_oldest_due_delivery_age_seconds") == 0
    assert total(samples, "mrrx_webhook_deliveries_due") == 0

    make_endpoint(tenant)
    for _ in range(2):
        event_emit(tenant=tenant, livemode=False, type="session.created", data={})
    now = timezone.now()
    first, second = Delivery.objects.order_by("created_at")
    Delivery.objects.filter(pk=first.pk).update(next_attempt_at=now - timedelta(seconds=300))
    Delivery.objects.filter(pk=second.pk).update(next_attempt_at=now - timedelta(seconds=30))
    samples = scrape(client)
    assert 300 <= total(samples, "mrrx_webhook_oldest_due_delivery_age_seconds") < 330
    assert total(samples, "mrrx_webhook_deliveries_due") == 2


# --- Stripe calls --------------------------------------------------------------------------
@pytest.mark.django_db
def test_stripe_calls_are_counted_by_operation_and_result(emulator, gw):  # noqa: F811
    def calls(result: str) -> float:
        return total(scrape(), "mrrx_stripe_calls_total", operation="customers.retrieve",
                     result=result)  # fmt: skip

    customer_id = seed(emulator).customer_id
    ok, missing = calls("ok"), calls("resource_missing")
    assert gw.customer_exists(customer_id) is True
    assert gw.customer_exists("cus_nobody") is False
    assert calls("ok") == ok + 1
    assert calls("resource_missing") == missing + 1
    samples = scrape()
    assert total(samples, "mrrx_stripe_call_duration_seconds_count",
                 operation="customers.retrieve") >= 2  # fmt: skip


def test_every_stripe_call_names_its_operation():
    """Each ``stripe_errors(...)`` block in the gateway passes its operation first, so that
    none is counted as ``other``."""
    gateway = Path(__file__).resolve().parent.parent / "billing" / "gateway"
    unnamed = [
        f"{path.name}:{number}: {line.strip()}"
        for path in sorted(gateway.glob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"\bwith stripe_errors\((?!\"[a-z_]+\.[a-z_]+\")", line)
    ]
    assert unnamed == []


# --- Across processes: a session completed by a real Celery worker -------------------------
@pytest.fixture(scope="module")
def worker(
    django_db_setup,  # type: ignore[no-untyped-def]
    stripe_emulator,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[WorkerProcess]:
    """A Celery worker process of this module's own, on a broker namespace of its own."""
    env = {
        "WEBHOOK_ALLOW_LOOPBACK": "1",
        "STRIPE_API_BASE": stripe_emulator.base_url,
        "STRIPE_CONNECT_BASE": stripe_emulator.base_url,
        "MRRX_TEST_EMAIL_DIR": str(tmp_path_factory.mktemp("worker-mail")),
    }
    with (
        isolated_broker() as broker,
        start_worker(broker=broker, env=env, log_dir=tmp_path_factory.mktemp("celery")) as process,
    ):
        yield process


@pytest.mark.django_db(transaction=True)
def test_a_session_completed_in_a_worker_process_shows_in_the_web_scrape(
    worker, shop, emulator, receiver, make_endpoint, settings  # noqa: F811
):  # fmt: skip
    settings.WEBHOOK_ALLOW_LOOPBACK = True
    make_endpoint(shop.tenant)
    before = scrape()

    body = shop.create(return_url="https://app.example.com/account").json()
    path = urlsplit(body["url"]).path
    browser = FlowClient()
    browser.get(path)
    browser.post(path, {"step": "reason", "reason": "not_using_enough"})
    response = browser.post(path, {"step": "offer", "action": "pause", "pause_months": "1"})
    assert response.status_code == 302, response.content.decode()[:2000]
    browser.post(path, {"step": "feedback", "feedback": ""})
    assert browser.post(path, {"step": "confirm"}).status_code == 302
    session = worker.wait_until(
        lambda: (s := Session.objects.get(pk=body["id"])).status in ("completed", "failed") and s
    )
    assert session.status == "completed", session.failure
    assert stripe_subscription(emulator, shop.seeded.subscription_id)["pause_collection"]
    # session.created, session.completed, subscription.paused: sent by the worker.
    worker.wait_until(lambda: len(receiver.to("/hook")) >= 3)

    def moved(name: str, **labels: str) -> float:
        return total(scrape(), name, **labels) - total(before, name, **labels)

    # The attempt is counted just after the receiver answered it.
    worker.wait_until(lambda: moved("mrrx_webhook_attempts_total", result="2xx") >= 3)
    assert moved("mrrx_webhook_attempt_duration_seconds_count", result="2xx") >= 3
    completed = {"outcome": "pause", "source": "flow", "mode": "test"}
    assert moved("mrrx_sessions_completed_total", **completed) == 1
    assert moved("mrrx_sessions_created_total", source="flow", mode="test") == 1
    # Only the worker writes to Stripe here (the web process only read the subscription).
    assert moved("mrrx_stripe_calls_total", operation="subscriptions.update", result="ok") == 1
    assert moved("mrrx_stripe_calls_total", operation="subscriptions.retrieve", result="ok") >= 3
    # The worker's counts came from files of its own, added up by this process's scrape.
    metrics_dir = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    assert list(metrics_dir.glob(f"counter_{worker.pid}.db")), sorted(metrics_dir.iterdir())


# --- make run: gunicorn's workers, the Celery worker and the directory make prepares ------
def test_make_run_counts_every_process_in_one_scrape():
    with make_run(METRICS_TOKEN=TOKEN) as run:
        _, end, banner = _banner(run)
        cancel_url = re.search(r"Cancel URL: +(\S+)", banner).group(1)  # type: ignore[union-attr]
        base = f"http://127.0.0.1:{run.port}"
        # The demo subscriber cancels through the flow API; a worker carries it out.
        with httpx.Client(base_url=base, timeout=30) as http:
            flow = {"Authorization": f"Bearer {cancel_url.rsplit('/', 1)[1]}"}
            survey = http.post(
                "/api/v1/flow/survey", json={"reason": "too_expensive"}, headers=flow
            )
            assert survey.status_code == 200, survey.text
            execute = http.post("/api/v1/flow/execute", json={"action": "cancel"}, headers=flow)
            assert execute.status_code == 202, execute.text
            run.wait_for(r"worker\.1 .* executed cancel: completed$", after=end, timeout=60)
            response = http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status_code == 200, response.text[:500]
        samples = parse(response.text)
        # Created by the demo's process, completed by the worker's, scraped from gunicorn's.
        assert total(samples, "mrrx_sessions_created_total", source="flow") >= 1
        assert total(samples, "mrrx_sessions_completed_total", outcome="cancel", source="flow") == 1
        assert total(samples, "mrrx_http_requests_total", route="api/v1/flow/execute") == 1
        assert total(samples, "mrrx_queue_depth", queue="actions") == 0
        pids = {path.stem.rsplit("_", 1)[1] for path in (run.var_dir / "prometheus").glob("*.db")}
        assert len(pids) >= 3, pids


# --- gunicorn's master ---------------------------------------------------------------------
def test_gunicorn_drops_a_dead_workers_live_gauges_and_keeps_its_counts(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    config = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    live, counts = tmp_path / "gauge_livesum_4242.db", tmp_path / "counter_4242.db"
    live.touch()
    counts.touch()
    config["child_exit"](None, SimpleNamespace(pid=4242))
    assert not live.exists() and counts.exists()


def test_gunicorn_and_the_settings_default_to_the_same_directory(tmp_path):
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PROMETHEUS_MULTIPROC_DIR", "DATABASE_URL", "DJANGO_SETTINGS_MODULE")
    } | {"MRRX_VAR_DIR": str(tmp_path)}

    def run(code: str) -> str:
        return subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
            check=True,
        ).stdout.strip()  # fmt: skip

    from_gunicorn = run(
        "import os, runpy; runpy.run_path('gunicorn.conf.py');"
        "print(os.environ['PROMETHEUS_MULTIPROC_DIR'])"
    )
    from_settings = run("import mrrx.settings as s; print(s.PROMETHEUS_MULTIPROC_DIR)")
    assert Path(from_gunicorn) == Path(from_settings) == tmp_path / "prometheus"
