"""Which arm a session is in: stable for a subscription, split as the weights say, and
only ever from the workspace's own running experiment in the session's mode."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from experiments.models import Arm, Experiment
from experiments.selectors import arm_pick
from experiments.services import experiment_create, experiment_stop
from sessions_app.models import Session
from sessions_app.services import sessions_expire_due

from .conftest import connect, seed, start_experiment, three_arms

N = 10_000
TOLERANCE = 0.025


def _arms(weights: list[int]) -> list[Arm]:
    return [Arm(key=f"arm{n}", weight=w, position=n) for n, w in enumerate(weights)]


def _created(shop, **body) -> dict:  # type: ignore[no-untyped-def]
    """The session as ``GET /api/v1/sessions/<id>`` shows it, just created."""
    created = (shop.client.post("/api/v1/sessions", body) if body else shop.create()).json()
    return shop.client.get(f"/api/v1/sessions/{created['id']}").json()


def _shares(weights: list[int], experiment_id: str = "exp_split") -> dict[str, float]:
    arms = _arms(weights)
    counts = Counter(
        arm_pick(experiment_id=experiment_id, arms=arms, subscription_id=f"sub_{n:08d}").key
        for n in range(N)
    )
    return {key: count / N for key, count in counts.items()}


@pytest.mark.parametrize("weights", [[1, 1, 1], [2, 1], [1, 1, 2], [3, 1, 1, 5]])
def test_ten_thousand_subscriptions_split_as_the_weights_say(weights):
    shares = _shares(weights)
    total = sum(weights)
    for n, weight in enumerate(weights):
        assert shares[f"arm{n}"] == pytest.approx(weight / total, abs=TOLERANCE), shares


def test_one_to_one_to_one_within_two_and_a_half_points_for_other_experiments_too():
    for experiment_id in ("exp_a", "exp_b", "exp_0kz3v5x2w1q0a9b8c7d6e5f4h"):
        for share in _shares([1, 1, 1], experiment_id).values():
            assert abs(share - 1 / 3) <= TOLERANCE


def test_a_subscription_always_gets_the_same_arm():
    arms = _arms([1, 1, 1])
    for n in range(500):
        first = arm_pick(experiment_id="exp_x", arms=arms, subscription_id=f"sub_{n}")
        again = arm_pick(experiment_id="exp_x", arms=list(arms), subscription_id=f"sub_{n}")
        assert first is again


def test_the_next_experiment_splits_independently_of_the_last():
    arms = _arms([1, 1])
    same = sum(
        arm_pick(experiment_id="exp_1", arms=arms, subscription_id=f"sub_{n}").key
        == arm_pick(experiment_id="exp_2", arms=arms, subscription_id=f"sub_{n}").key
        for n in range(N)
    )
    assert same / N == pytest.approx(0.5, abs=TOLERANCE)


def test_an_arm_of_weight_zero_takes_no_one_and_no_weight_assigns_nothing():
    assert "arm1" not in _shares([1, 0, 1])
    assert arm_pick(experiment_id="e", arms=_arms([0, 0]), subscription_id="sub_1") is None


# --- sessions ---------------------------------------------------------------------------------


pytestmark = pytest.mark.django_db


def test_a_new_session_records_its_experiment_and_arm(shop):
    experiment = start_experiment(shop.tenant, weights=(0, 1, 0))
    body = _created(shop)
    assert body["experiment"] == {"id": experiment.pk, "arm": "pct30"}
    session = Session.objects.get(pk=body["id"])
    assert (session.experiment_id, session.experiment_arm) == (experiment.pk, "pct30")


def test_a_returning_subscriber_stays_in_their_arm(shop):
    experiment = start_experiment(shop.tenant, weights=(1, 1, 1))
    expected = arm_pick(
        experiment_id=experiment.pk,
        arms=list(experiment.arms.all()),
        subscription_id=shop.seeded.subscription_id,
    ).key
    arms = []
    for _ in range(3):
        body = _created(shop)
        arms.append(body["experiment"]["arm"])
        sessions_expire_due(now=timezone.now() + timedelta(days=2))  # they leave; it ends
    assert arms == [expected] * 3
    assert Session.objects.filter(experiment_arm=expected).count() == 3


def test_another_workspaces_running_experiment_never_assigns(shop, emulator, other_tenant):
    connect(other_tenant)
    start_experiment(other_tenant, weights=(1, 1, 1))
    body = _created(shop)
    assert body["experiment"] is None
    assert Session.objects.get(pk=body["id"]).experiment_id == ""


def test_draft_stopped_and_other_mode_experiments_never_assign(shop):
    experiment_create(tenant=shop.tenant, livemode=False, name="draft", arms=three_arms())
    start_experiment(shop.tenant, livemode=True)  # live mode; the shop's sessions are test
    assert _created(shop)["experiment"] is None
    sessions_expire_due(now=timezone.now() + timedelta(days=2))

    stopped = start_experiment(shop.tenant, weights=(0, 0, 1))
    experiment_stop(experiment=stopped)
    assert _created(shop)["experiment"] is None
    assert Experiment.objects.get(pk=stopped.pk).status == "stopped"


def test_a_stopped_experiment_keeps_its_sessions_arms(shop):
    experiment = start_experiment(shop.tenant, weights=(0, 0, 1))
    session_id = shop.create().json()["id"]
    experiment_stop(experiment=experiment)
    body = shop.client.get(f"/api/v1/sessions/{session_id}").json()
    assert body["experiment"] == {"id": experiment.pk, "arm": "holdout"}


def test_each_subscription_of_a_workspace_is_assigned_by_its_own_id(emulator, shop):
    experiment = start_experiment(shop.tenant, weights=(1, 1, 1))
    arms = list(experiment.arms.all())
    for _ in range(4):
        other = seed(emulator, email="another@example.com")
        body = _created(shop, customer_id=other.customer_id, subscription_id=other.subscription_id)
        expected = arm_pick(
            experiment_id=experiment.pk, arms=arms, subscription_id=other.subscription_id
        )
        assert body["experiment"] == {"id": experiment.pk, "arm": expected.key}
