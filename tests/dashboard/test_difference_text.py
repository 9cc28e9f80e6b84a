"""A variant's difference against the holdout carries its sign, in money as in points."""

from __future__ import annotations

import pytest

from dashboard.experiment_results import Comparison
from dashboard.retention_page import difference_text
from experiments.stats import Interval


@pytest.mark.parametrize(
    ("arm", "holdout", "low", "high", "expected"),
    [
        (1450.0, 0.0, 899.0, 2001.0, ("+14.50 USD", "+8.99 to +20.01")),
        (300.0, 420.0, -310.0, 70.0, ("-1.20 USD", "-3.10 to +0.70")),
        (500.0, 500.0, -40.0, 40.0, ("+0.00 USD", "-0.40 to +0.40")),
    ],
)
def test_money_differences_are_signed(arm, holdout, low, high, expected):
    comparison = Comparison(
        figure="mrr_retained_90_per_session",
        currency="usd",
        arm_value=arm,
        holdout_value=holdout,
        interval=Interval(estimate=arm - holdout, low=low, high=high),
    )
    assert difference_text(comparison) == expected


def test_a_yen_difference_has_no_cents():
    comparison = Comparison(
        figure="mrr_retained_90_per_session", currency="jpy", arm_value=100.0,
        holdout_value=1600.0, interval=None,
    )  # fmt: skip
    assert difference_text(comparison) == ("-1500 JPY", "not enough data")
