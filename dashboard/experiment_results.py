"""Experiment results per arm, and each variant's difference against the holdout.

An experiment's results count every session assigned to it over its whole run (not only
a date range): a quarter after it started, the merchant reads which arm kept more revenue.
Sessions are summed by the analytics page's own code (``analytics._summarize``), the
retention of their saves comes from the ``SaveCheckpoint`` rows (found by the experiment
and arm each save copied from its session), and the intervals from ``experiments.stats``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, F, Q, Sum
from django.db.models.functions import Coalesce

from experiments import stats
from experiments.models import Arm, ArmKind, Experiment, ExperimentStatus
from retention.models import CHECKPOINT_DAYS, CheckpointStatus, SaveCheckpoint
from sessions_app.models import Session
from tenants.models import Tenant

from .analytics import COUNTS, Period, _breakdown
from .figures import summarize

EXPERIMENT_DEFINITIONS: list[tuple[str, str, str]] = [
    (
        "experiment_results",
        "Experiment results",
        "Every session assigned to the experiment over its whole run, per arm: sessions "
        "started, save rate, saves retained at 30, 60 and 90 days as a share of sessions "
        "started, and MRR retained at 90 days per session started.",
    ),
    (
        "difference_vs_holdout",
        "Difference against the holdout",
        "A variant's figure minus the holdout's, with its 95% confidence interval. Rates "
        "(save rate, retained at 30, 60, 90 days per session started) use Newcombe's hybrid "
        "score interval for a difference of two proportions, which stays honest when a rate "
        "is 0, as the holdout's save rate is; MRR retained at 90 days per session started, "
        "where each session counts its retained monthly amount or 0, uses Welch's interval "
        "for a difference of means, per currency. An interval that does not contain 0 is a "
        "difference the data support at the 95% level.",
    ),
    (
        "not_enough_data",
        "Not enough data",
        f"No interval is given until both arms have at least {stats.MIN_SESSIONS_PER_ARM} "
        "sessions started (for the save rate: completed sessions).",
    ),
]


@dataclass
class Comparison:
    """One figure of a variant against the holdout."""

    figure: str  # "save_rate", "retained_30", ..., "mrr_retained_90_per_session"
    currency: str
    arm_value: float | None
    holdout_value: float | None
    interval: stats.Interval | None  # None: not enough data

    @property
    def enough_data(self) -> bool:
        return self.interval is not None


@dataclass
class ArmResult:
    arm: Arm
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTS, 0))
    retained: dict[int, int] = field(default_factory=lambda: dict.fromkeys(CHECKPOINT_DAYS, 0))
    churned: dict[int, int] = field(default_factory=lambda: dict.fromkeys(CHECKPOINT_DAYS, 0))
    # Currency -> (sum, sum of squares) of the retained monthly amounts at 90 days.
    mrr_90: dict[str, tuple[int, int]] = field(default_factory=dict)
    comparisons: list[Comparison] = field(default_factory=list)

    @property
    def sessions(self) -> int:
        return self.counts["started"]

    @property
    def save_rate(self) -> float | None:
        return self.counts["saved"] / self.counts["completed"] if self.counts["completed"] else None

    def retained_rate(self, day: int) -> float | None:
        """Saves retained at ``day`` per session started."""
        return self.retained[day] / self.sessions if self.sessions else None

    def mrr_retained_90(self, currency: str) -> int:
        return self.mrr_90.get(currency, (0, 0))[0]

    def mrr_retained_90_per_session(self, currency: str) -> float | None:
        return self.mrr_retained_90(currency) / self.sessions if self.sessions else None

    @property
    def is_holdout(self) -> bool:
        return self.arm.kind == ArmKind.HOLDOUT


@dataclass
class ExperimentResult:
    experiment: Experiment
    arms: list[ArmResult]

    @property
    def holdout(self) -> ArmResult | None:
        return next((arm for arm in self.arms if arm.is_holdout), None)

    @property
    def currencies(self) -> list[str]:
        return sorted({currency for arm in self.arms for currency in arm.mrr_90})


def experiments_for(*, tenant: Tenant, livemode: bool, period: Period) -> list[Experiment]:
    """The experiments that ran at some time in ``period`` (running ones included)."""
    return list(
        Experiment.objects.filter(tenant=tenant, livemode=livemode, started_at__lt=period.end_at)
        .exclude(status=ExperimentStatus.DRAFT)
        .filter(Q(stopped_at__isnull=True) | Q(stopped_at__gte=period.start_at))
        .prefetch_related("arms")
        .order_by("-started_at", "id")
    )


def experiment_results(*, experiment: Experiment) -> ExperimentResult:
    """Every arm's figures and each variant's comparison with the holdout."""
    arms = {arm.key: ArmResult(arm=arm) for arm in experiment.arms.all()}
    sessions = Session.objects.filter(
        tenant_id=experiment.tenant_id, livemode=experiment.livemode, experiment_id=experiment.pk
    )
    parts: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in _breakdown(sessions, "experiment_arm", reasons=False):
        parts[row["experiment_arm"]].append(row)
    for key, rows in parts.items():
        if key in arms:
            arms[key].counts = summarize(rows).counts
    amount = Coalesce("mrr_amount", "save_record__mrr_amount")
    checkpoints = (
        SaveCheckpoint.objects.filter(
            save_record__tenant_id=experiment.tenant_id,
            save_record__livemode=experiment.livemode,
            save_record__experiment_id=experiment.pk,
        )
        .values("day", "status", "save_record__currency", arm=F("save_record__experiment_arm"))
        .annotate(n=Count("*"), mrr=Sum(amount), mrr_sq=Sum(amount * amount))
        .order_by()
    )
    for row in checkpoints:
        result = arms.get(row["arm"])
        if result is None or row["day"] not in CHECKPOINT_DAYS:
            continue
        if row["status"] == CheckpointStatus.RETAINED:
            result.retained[row["day"]] += row["n"]
            currency = (row["save_record__currency"] or "").lower()
            if row["day"] == 90 and currency and row["mrr"] is not None:
                total, squares = result.mrr_90.get(currency, (0, 0))
                result.mrr_90[currency] = (total + row["mrr"], squares + row["mrr_sq"])
        elif row["status"] == CheckpointStatus.CHURNED:
            result.churned[row["day"]] += row["n"]
    result = ExperimentResult(experiment=experiment, arms=list(arms.values()))
    _compare(result)
    return result


def _compare(result: ExperimentResult) -> None:
    holdout = result.holdout
    if holdout is None:
        return
    for arm in result.arms:
        if arm.is_holdout:
            continue
        arm.comparisons.append(
            _rates(
                "save_rate",
                (arm.counts["saved"], arm.counts["completed"]),
                (holdout.counts["saved"], holdout.counts["completed"]),
            )
        )
        for day in CHECKPOINT_DAYS:
            arm.comparisons.append(
                _rates(
                    f"retained_{day}",
                    (arm.retained[day], arm.sessions),
                    (holdout.retained[day], holdout.sessions),
                )
            )
        for currency in result.currencies:
            arm.comparisons.append(_means(currency, arm, holdout))


def _rates(figure: str, arm: tuple[int, int], holdout: tuple[int, int]) -> Comparison:
    return Comparison(
        figure=figure,
        currency="",
        arm_value=arm[0] / arm[1] if arm[1] else None,
        holdout_value=holdout[0] / holdout[1] if holdout[1] else None,
        interval=stats.two_proportion_interval(
            successes_a=arm[0], n_a=arm[1], successes_b=holdout[0], n_b=holdout[1]
        ),
    )


def _means(currency: str, arm: ArmResult, holdout: ArmResult) -> Comparison:
    """Each session's retained MRR at 90 days (0 for a session not retained, or in another
    currency): the mean is MRR retained per session started."""
    return Comparison(
        figure="mrr_retained_90_per_session",
        currency=currency,
        arm_value=arm.mrr_retained_90_per_session(currency),
        holdout_value=holdout.mrr_retained_90_per_session(currency),
        interval=stats.mean_difference_interval(
            a=stats.Sample.from_sums(
                n=arm.sessions, total=arm.mrr_90.get(currency, (0, 0))[0],
                squares=arm.mrr_90.get(currency, (0, 0))[1],
            ),
            b=stats.Sample.from_sums(
                n=holdout.sessions, total=holdout.mrr_90.get(currency, (0, 0))[0],
                squares=holdout.mrr_90.get(currency, (0, 0))[1],
            ),
        ),
    )  # fmt: skip
