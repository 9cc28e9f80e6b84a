"""A workspace connected to the emulator (the sessions' fixtures) and a "20% vs 30% off vs
holdout" experiment: the workspace's own offer for too_expensive is 20% off, the pct30 arm
replaces it with 30% off, the holdout shows nothing."""

from __future__ import annotations

from collections.abc import Sequence

from experiments.models import Experiment
from experiments.services import experiment_create, experiment_start
from offers.selectors import flow_config_get
from offers.services import offer_update
from tenants.models import Tenant
from tests.sessions.conftest import (  # noqa: F401 - the shared fixtures
    FlowClient,
    connect,
    emulator,
    seed,
    shop,
    stripe_emulator,
    stripe_subscription,
    trial_shop,
)

PCT30 = {"action": "discount", "params": {"percent_off": 30, "duration_months": 3}}


def configure_twenty_percent(tenant: Tenant, *, livemode: bool = False) -> None:
    config = flow_config_get(tenant=tenant, livemode=livemode)
    for offer in config.offers.filter(reason="too_expensive", action="discount"):
        offer_update(offer=offer, params={"percent_off": 20, "duration_months": 3})


def three_arms(weights: Sequence[int] = (1, 1, 1)) -> list[dict]:
    pct20, pct30, holdout = weights
    return [
        {"key": "pct20", "name": "20% off (configured)", "kind": "variant", "weight": pct20},
        {"key": "pct30", "name": "30% off", "kind": "variant", "weight": pct30,
         "offers": {"too_expensive": [PCT30]}},
        {"key": "holdout", "name": "Holdout", "kind": "holdout", "weight": holdout},
    ]  # fmt: skip


def start_experiment(
    tenant: Tenant, *, weights: Sequence[int] = (1, 1, 1), livemode: bool = False
) -> Experiment:
    configure_twenty_percent(tenant, livemode=livemode)
    experiment = experiment_create(
        tenant=tenant, livemode=livemode, name="20% vs 30% vs holdout", arms=three_arms(weights)
    )
    return experiment_start(experiment=experiment)


from tests.dashboard.conftest import merchant_client  # noqa: E402, F401 - admin sign-ins
