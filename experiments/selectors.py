"""Reads of experiments that other layers need: the running experiment, its arms, which
arm a subscription falls in, and what an arm offers for a reason.

Per-arm session counts live with the sessions (``sessions_app.selectors``), which sit
above this layer; the analytics page sums them itself (``dashboard.experiment_results``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from mrrx.recent import RecentReads
from offers.eligibility import ArmOffer

from .models import Arm, ArmKind, Experiment, ExperimentStatus


@dataclass(frozen=True)
class Assignment:
    """What a new session records: ``Session.experiment_id`` and ``experiment_arm``."""

    experiment_id: str
    arm_key: str
    holdout: bool


def experiment_running(*, tenant_id: str, livemode: bool) -> Experiment | None:
    """The workspace's running experiment in that mode (at most one, by constraint)."""
    return (
        Experiment.objects.filter(
            tenant_id=tenant_id, livemode=livemode, status=ExperimentStatus.RUNNING
        )
        .prefetch_related("arms")
        .first()
    )


# The running experiment (or None) by (workspace id, livemode), as this process read it
# lately: every session created asks. Arms and experiments saved or deleted here, and
# every start and stop, forget it.
RECENT_RUNNING: RecentReads[Experiment | None] = RecentReads()


def experiment_get(*, tenant_id: str, livemode: bool, experiment_id: str) -> Experiment | None:
    return (
        Experiment.objects.filter(tenant_id=tenant_id, livemode=livemode, pk=experiment_id)
        .prefetch_related("arms")
        .first()
    )


def experiment_arms(*, experiment: Experiment) -> list[Arm]:
    """Its arms in their order (position, then id): the order assignment walks."""
    return sorted(experiment.arms.all(), key=lambda arm: (arm.position, arm.pk))


def arm_pick(*, experiment_id: str, arms: Sequence[Arm], subscription_id: str) -> Arm | None:
    """The arm ``subscription_id`` falls in, the same every time for the same arms.

    The first 64 bits of SHA-256("<experiment id>:<subscription id>") are a point spread
    evenly over [0, 2^64); scaled onto the total weight, it lands in one arm's share of the
    line, the arms laid end to end in their order. Arms of weight 0 take no one. The
    experiment's id is in the hash so that one subscriber's arm in one experiment says
    nothing of their arm in the next. None when no arm has any weight.
    """
    weighted = [arm for arm in arms if arm.weight > 0]
    total = sum(arm.weight for arm in weighted)
    if not total:
        return None
    digest = hashlib.sha256(f"{experiment_id}:{subscription_id}".encode()).digest()
    point = (int.from_bytes(digest[:8], "big") * total) >> 64  # 0 <= point < total
    edge = 0
    for arm in weighted:
        edge += arm.weight
        if point < edge:
            return arm
    raise AssertionError("unreachable: point < total")  # pragma: no cover


def assignment_for(*, tenant_id: str, livemode: bool, subscription_id: str) -> Assignment | None:
    """The arm of the running experiment (if any) a new session for ``subscription_id``
    is in."""
    experiment = RECENT_RUNNING.get(
        (tenant_id, livemode),
        lambda: experiment_running(tenant_id=tenant_id, livemode=livemode),
    )
    if experiment is None:
        return None
    arm = arm_pick(
        experiment_id=experiment.pk,
        arms=experiment_arms(experiment=experiment),
        subscription_id=subscription_id,
    )
    if arm is None:
        return None
    return Assignment(
        experiment_id=experiment.pk, arm_key=arm.key, holdout=arm.kind == ArmKind.HOLDOUT
    )


def session_arm(*, tenant_id: str, livemode: bool, experiment_id: str, arm_key: str) -> Arm | None:
    """The arm a session was assigned to (it stays, whatever became of the experiment)."""
    if not experiment_id or not arm_key:
        return None
    return (
        Arm.objects.filter(
            experiment_id=experiment_id,
            experiment__tenant_id=tenant_id,
            experiment__livemode=livemode,
            key=arm_key,
        )
        .select_related("experiment")
        .first()
    )


def arm_offer_key(*, arm: Arm, reason: str, index: int) -> str:
    """Stable and unique everywhere: "<arm id>:<reason>:<n>", n counting from 1 (the
    session records the offer as "<action>:<this>")."""
    return f"{arm.pk}:{reason}:{index + 1}"


def arm_offers_for(*, arm: Arm, reason: str) -> list[ArmOffer] | None:
    """The offers ``arm`` shows for ``reason`` instead of the configured ones; None when
    it names none for that reason (the configured offers then stand)."""
    listed = (arm.offers or {}).get(reason)
    if listed is None:
        return None
    return [
        ArmOffer(
            key=arm_offer_key(arm=arm, reason=reason, index=index),
            action=item["action"],
            params=dict(item.get("params") or {}),
        )
        for index, item in enumerate(listed)
    ]
