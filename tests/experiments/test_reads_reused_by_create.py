"""Creating a session reuses, for API_KEY_CACHE_SECONDS (off in the other tests), the rows
every create reads and that change rarely: the workspace's flow configuration, its segment
flows and its running experiment. A change made in the process is seen by its next
session at once; one made elsewhere once the time is up."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from experiments.services import experiment_stop
from offers.models import Flow
from offers.selectors import flow_config_get
from offers.services import flow_create
from sessions_app.models import Session
from sessions_app.services import sessions_expire_due

from .conftest import start_experiment

pytestmark = pytest.mark.django_db


@pytest.fixture
def reused(settings):  # type: ignore[no-untyped-def]
    from experiments.selectors import RECENT_RUNNING
    from offers.segments import RECENT_FLOWS
    from offers.selectors import RECENT_CONFIGS

    settings.API_KEY_CACHE_SECONDS = 60
    kept = (RECENT_RUNNING, RECENT_FLOWS, RECENT_CONFIGS)
    for reads in kept:
        reads.forget()
    yield
    for reads in kept:
        reads.forget()


def _create(shop) -> Session:  # type: ignore[no-untyped-def]
    """A session for the shop's subscriber (the one before it ended first)."""
    sessions_expire_due(now=timezone.now() + timedelta(days=2))
    response = shop.create()
    assert response.status_code == 201, response.content
    return Session.objects.get(pk=response.json()["id"])


def _an_everybody_flow(shop) -> Flow:  # type: ignore[no-untyped-def]
    config = flow_config_get(tenant=shop.tenant, livemode=False)
    return flow_create(config=config, name="Everybody", priority=1, rule={}, reasons=["other"])


def test_a_second_create_reads_no_configuration_flow_or_experiment(shop, reused):
    _an_everybody_flow(shop)
    start_experiment(shop.tenant, weights=(0, 1, 0))
    first = _create(shop)
    sessions_expire_due(now=timezone.now() + timedelta(days=2))
    with CaptureQueriesContext(connection) as queries:
        response = shop.create()
    assert response.status_code == 201, response.content
    second = Session.objects.get(pk=response.json()["id"])
    tables = ("offers_flowconfig", "offers_flow", "experiments_experiment", "experiments_arm")
    assert [q["sql"] for q in queries if any(t in q["sql"] for t in tables)] == []
    # And it was routed and assigned as the first was.
    assert (second.flow_id, second.experiment_arm) == (first.flow_id, "pct30") != ("", "")


def test_a_flow_added_or_disabled_here_routes_the_next_session_at_once(shop, reused):
    assert _create(shop).flow_id == ""
    flow = _an_everybody_flow(shop)
    assert _create(shop).flow_id == flow.pk
    flow.enabled = False
    flow.save()
    assert _create(shop).flow_id == ""


def test_an_experiment_started_or_stopped_here_assigns_the_next_session_at_once(shop, reused):
    assert _create(shop).experiment_id == ""
    experiment = start_experiment(shop.tenant, weights=(0, 0, 1))
    assigned = _create(shop)
    assert (assigned.experiment_id, assigned.experiment_arm) == (experiment.pk, "holdout")
    experiment_stop(experiment=experiment)
    assert _create(shop).experiment_id == ""


def test_a_change_made_elsewhere_is_seen_once_the_time_is_up(shop, reused, settings):
    flow = _an_everybody_flow(shop)
    assert _create(shop).flow_id == flow.pk
    # Changed behind the process's back (another process, a console): no signal here.
    Flow.objects.filter(pk=flow.pk).update(enabled=False)
    assert _create(shop).flow_id == flow.pk

    settings.API_KEY_CACHE_SECONDS = 0
    assert _create(shop).flow_id == ""
