"""95% confidence intervals for the difference between two arms, and "not enough data".

Pure functions of counts and sums; nothing here reads the database.

- Rates (save rate, saves retained at 30/60/90 days per session): the difference of two
  proportions with **Newcombe's hybrid score interval** (Newcombe 1998, method 10), built
  from each arm's Wilson score interval. Unlike the Wald interval it stays honest when a
  rate is 0 or 1, which is the usual case here: a holdout is shown no offers, so its save
  rate is 0 by design, and Wald would give that arm no uncertainty at all.
- Means (MRR retained at 90 days per session started, each session counting its
  retained monthly amount or 0): the difference of means with **Welch's interval**
  (unequal variances, Welch-Satterthwaite degrees of freedom). Its t quantile comes from
  the Cornish-Fisher expansion: within 0.001 of the exact value from 5 degrees of freedom
  up and within 0.00001 from 29, the least the minimum sample allows.
- **Not enough data**: no interval is given while either arm has fewer than
  ``MIN_SESSIONS_PER_ARM`` (30) sessions (for the save rate: completed sessions). There is
  no minimum count of saves, since a holdout has none.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

CONFIDENCE = 0.95
MIN_SESSIONS_PER_ARM = 30

Z = NormalDist().inv_cdf(1 - (1 - CONFIDENCE) / 2)  # 1.959964...


@dataclass(frozen=True)
class Interval:
    """``estimate`` (arm a minus arm b) and its 95% interval [``low``, ``high``]."""

    estimate: float
    low: float
    high: float

    def contains_zero(self) -> bool:
        return self.low <= 0 <= self.high


@dataclass(frozen=True)
class Sample:
    """One arm's values summarised: count, mean and sample variance (n - 1)."""

    n: int
    mean: float
    variance: float

    @classmethod
    def from_sums(cls, *, n: int, total: float, squares: float) -> Sample:
        """From the count, the sum and the sum of squares of the values; values not listed
        (sessions that kept nothing) count as 0."""
        if n <= 0:
            return cls(n=0, mean=0.0, variance=0.0)
        mean = total / n
        variance = max(squares - total * total / n, 0.0) / (n - 1) if n > 1 else 0.0
        return cls(n=n, mean=mean, variance=variance)


def enough_data(*ns: int) -> bool:
    """Whether every arm has at least ``MIN_SESSIONS_PER_ARM`` sessions."""
    return all(n >= MIN_SESSIONS_PER_ARM for n in ns)


def wilson_interval(successes: int, n: int) -> tuple[float, float]:
    """The Wilson score 95% interval of one proportion, ``successes`` of ``n``."""
    if n <= 0 or not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n and n > 0 (got {successes} of {n})")
    z2 = Z * Z
    centre = (successes + z2 / 2) / (n + z2)
    half = Z * math.sqrt(successes * (n - successes) / n + z2 / 4) / (n + z2)
    return max(centre - half, 0.0), min(centre + half, 1.0)


def newcombe_interval(*, successes_a: int, n_a: int, successes_b: int, n_b: int) -> Interval:
    """p_a - p_b with Newcombe's hybrid score interval, whatever the sample sizes."""
    p_a, p_b = successes_a / n_a, successes_b / n_b
    low_a, high_a = wilson_interval(successes_a, n_a)
    low_b, high_b = wilson_interval(successes_b, n_b)
    estimate = p_a - p_b
    return Interval(
        estimate=estimate,
        low=estimate - math.sqrt((p_a - low_a) ** 2 + (high_b - p_b) ** 2),
        high=estimate + math.sqrt((high_a - p_a) ** 2 + (p_b - low_b) ** 2),
    )


def two_proportion_interval(
    *, successes_a: int, n_a: int, successes_b: int, n_b: int
) -> Interval | None:
    """p_a - p_b with its 95% interval (Newcombe), or None: not enough data."""
    if not enough_data(n_a, n_b):
        return None
    return newcombe_interval(successes_a=successes_a, n_a=n_a, successes_b=successes_b, n_b=n_b)


def t_quantile(df: float) -> float:
    """The two-sided 95% quantile of Student's t with ``df`` degrees of freedom."""
    z = Z
    if math.isinf(df):
        return z
    return (
        z
        + (z**3 + z) / (4 * df)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * df**3)
        + (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / (92160 * df**4)
    )


def welch_interval(*, a: Sample, b: Sample) -> Interval:
    """mean_a - mean_b with Welch's 95% interval (both arms need n >= 2)."""
    if a.n < 2 or b.n < 2:
        raise ValueError("Welch's interval needs at least two values in each arm")
    se2_a, se2_b = a.variance / a.n, b.variance / b.n
    estimate = a.mean - b.mean
    if se2_a + se2_b == 0:
        return Interval(estimate=estimate, low=estimate, high=estimate)
    df = (se2_a + se2_b) ** 2 / (se2_a**2 / (a.n - 1) + se2_b**2 / (b.n - 1))
    margin = t_quantile(df) * math.sqrt(se2_a + se2_b)
    return Interval(estimate=estimate, low=estimate - margin, high=estimate + margin)


def mean_difference_interval(*, a: Sample, b: Sample) -> Interval | None:
    """mean_a - mean_b with its 95% interval (Welch), or None: not enough data."""
    if not enough_data(a.n, b.n):
        return None
    return welch_interval(a=a, b=b)
