"""The intervals of ``experiments.stats`` against figures worked by hand (and, for the
two-proportion interval, against the published examples of Newcombe 1998, Table II)."""

from __future__ import annotations

import pytest

from experiments.stats import (
    MIN_SESSIONS_PER_ARM,
    Sample,
    mean_difference_interval,
    newcombe_interval,
    t_quantile,
    two_proportion_interval,
    welch_interval,
    wilson_interval,
)


def test_wilson_interval_worked_by_hand():
    # z = 1.959964, z^2 = 3.841459, n + z^2 = 43.841459.
    # 12 of 40: centre = (12 + 1.920729) / 43.841459 = 0.317526;
    #   half = 1.959964 * sqrt(12 * 28 / 40 + 0.960365) / 43.841459
    #        = 1.959964 * sqrt(9.360365) / 43.841459 = 1.959964 * 3.059471 / 43.841459
    #        = 0.136775  ->  [0.180751, 0.454300]
    low, high = wilson_interval(12, 40)
    assert low == pytest.approx(0.180751, abs=5e-6)
    assert high == pytest.approx(0.454300, abs=5e-6)
    # 0 of 40: centre = 1.920729 / 43.841459 = 0.043811; half = 1.959964 * sqrt(0.960365)
    #   / 43.841459 = 1.920729 / 43.841459 = 0.043811  ->  [0, 0.087622]
    low, high = wilson_interval(0, 40)
    assert low == 0
    assert high == pytest.approx(0.087622, abs=5e-6)


def test_variant_against_a_holdout_that_saves_nothing():
    # The holdout is shown no offer, so its save rate is 0 of 40. Variant: 12 of 40.
    # d = 0.3 - 0 = 0.3
    # low  = d - sqrt((0.3 - 0.180751)^2 + (0.087622 - 0)^2)
    #      = 0.3 - sqrt(0.014220 + 0.007678) = 0.3 - 0.147981 = 0.152019
    # high = d + sqrt((0.454300 - 0.3)^2 + (0 - 0)^2) = 0.3 + 0.154300 = 0.454300
    # (Wald would say 0.3 +- 1.96 * sqrt(0.3 * 0.7 / 40) = [0.158, 0.442], as if the
    # holdout's 0 were known exactly.)
    interval = two_proportion_interval(successes_a=12, n_a=40, successes_b=0, n_b=40)
    assert interval is not None
    assert interval.estimate == pytest.approx(0.3)
    assert interval.low == pytest.approx(0.152019, abs=5e-6)
    assert interval.high == pytest.approx(0.454300, abs=5e-6)
    assert not interval.contains_zero()


@pytest.mark.parametrize(
    ("a", "b", "low", "high"),
    [
        # Newcombe (1998), Statistics in Medicine 17:873-890, Table II, method 10.
        ((56, 70), (48, 80), 0.0524, 0.3339),
        ((9, 10), (3, 10), 0.1705, 0.8090),
        ((5, 56), (0, 29), -0.0381, 0.1926),
        ((0, 10), (0, 20), -0.1611, 0.2775),
        ((10, 10), (0, 20), 0.6791, 1.0000),
    ],
)
def test_newcombe_interval_matches_the_published_examples(a, b, low, high):
    interval = newcombe_interval(successes_a=a[0], n_a=a[1], successes_b=b[0], n_b=b[1])
    assert interval.low == pytest.approx(low, abs=5e-5)
    assert interval.high == pytest.approx(high, abs=5e-5)


def test_below_thirty_sessions_in_either_arm_is_not_enough_data():
    assert MIN_SESSIONS_PER_ARM == 30
    assert two_proportion_interval(successes_a=10, n_a=29, successes_b=0, n_b=500) is None
    assert two_proportion_interval(successes_a=10, n_a=500, successes_b=0, n_b=29) is None
    assert two_proportion_interval(successes_a=10, n_a=30, successes_b=0, n_b=30) is not None
    few = Sample.from_sums(n=29, total=100, squares=1000)
    many = Sample.from_sums(n=100, total=100, squares=1000)
    assert mean_difference_interval(a=few, b=many) is None
    assert mean_difference_interval(a=many, b=few) is None


def test_sample_from_sums_worked_by_hand():
    # 40 sessions: 20 kept 10 (a monthly amount), 20 kept nothing.
    # total = 200, squares = 20 * 10^2 = 2000; mean = 200 / 40 = 5;
    # variance = (2000 - 200^2 / 40) / 39 = (2000 - 1000) / 39 = 25.641026
    sample = Sample.from_sums(n=40, total=200, squares=2000)
    assert sample.mean == 5
    assert sample.variance == pytest.approx(25.641026, abs=1e-6)
    assert Sample.from_sums(n=0, total=0, squares=0) == Sample(n=0, mean=0.0, variance=0.0)


def test_welch_interval_against_a_holdout_that_kept_nothing():
    # a: the sample above (mean 5, variance 25.641026, n 40); b: 40 sessions, all 0.
    # se^2_a = 25.641026 / 40 = 0.641026; se^2_b = 0
    # df = 0.641026^2 / (0.641026^2 / 39) = 39; t(0.975, 39) = 2.022691
    # margin = 2.022691 * sqrt(0.641026) = 2.022691 * 0.800641 = 1.619449
    # -> 5 +- 1.619449 = [3.380551, 6.619449]
    interval = mean_difference_interval(
        a=Sample.from_sums(n=40, total=200, squares=2000),
        b=Sample.from_sums(n=40, total=0, squares=0),
    )
    assert interval is not None
    assert interval.estimate == 5
    assert interval.low == pytest.approx(3.380551, abs=1e-5)
    assert interval.high == pytest.approx(6.619449, abs=1e-5)


def test_welch_interval_with_unequal_variances_worked_by_hand():
    # a: as above (mean 5, se^2 0.641026, n 40).
    # b: 30 sessions, total 60, squares 360: mean 2; variance = (360 - 60^2 / 30) / 29
    #    = (360 - 120) / 29 = 8.275862; se^2_b = 8.275862 / 30 = 0.275862
    # se^2 = 0.641026 + 0.275862 = 0.916888; se = 0.957543
    # df = 0.916888^2 / (0.641026^2 / 39 + 0.275862^2 / 29)
    #    = 0.840683 / (0.010536 + 0.002624) = 0.840683 / 0.013160 = 63.88
    # t(0.975, 63.88) = 1.997802; margin = 1.997802 * 0.957543 = 1.912981
    # -> 3 +- 1.912981 = [1.087019, 4.912981]
    interval = welch_interval(
        a=Sample.from_sums(n=40, total=200, squares=2000),
        b=Sample.from_sums(n=30, total=60, squares=360),
    )
    assert interval.estimate == 3
    assert interval.low == pytest.approx(1.087019, abs=1e-5)
    assert interval.high == pytest.approx(4.912981, abs=1e-5)


@pytest.mark.parametrize(
    ("df", "exact"),
    # Student's t, 97.5th percentile, from the tables (to six places).
    [(29, 2.045230), (39, 2.022691), (63.88, 1.997802), (100, 1.983972), (float("inf"), 1.959964)],
)
def test_t_quantile_from_the_minimum_sample_up(df, exact):
    assert t_quantile(df) == pytest.approx(exact, abs=2e-5)


def test_identical_arms_give_a_zero_width_interval_at_zero():
    same = Sample.from_sums(n=50, total=0, squares=0)
    interval = mean_difference_interval(a=same, b=same)
    assert interval is not None and (interval.low, interval.high) == (0, 0)


def test_impossible_counts_are_refused():
    with pytest.raises(ValueError):
        wilson_interval(41, 40)
    with pytest.raises(ValueError):
        wilson_interval(0, 0)
