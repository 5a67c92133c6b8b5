"""The report's statistics against published worked examples and hand-computed values."""

from __future__ import annotations

import pytest

from streams.report import SegmentReport, VariantMetrics, difference_interval, wilson_interval
from streams.report.metrics import format_report


def test_wilson_interval_matches_newcombes_single_proportion_example() -> None:
    # Newcombe (1998), "Two-sided confidence intervals for the single proportion": 81/263.
    interval = wilson_interval(81, 263)
    assert interval.estimate == pytest.approx(0.3080, abs=1e-4)
    assert (interval.low, interval.high) == pytest.approx((0.2553, 0.3662), abs=1e-4)


def test_wilson_interval_stays_inside_zero_and_one() -> None:
    assert wilson_interval(0, 10).low == 0.0
    assert wilson_interval(10, 10).high == pytest.approx(1.0)
    assert wilson_interval(10, 10).low == pytest.approx(1 - 0.2775, abs=1e-4)
    assert wilson_interval(0, 10).high == pytest.approx(0.2775, abs=1e-4)


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ((56, 70, 48, 80), (0.0524, 0.3339)),
        ((9, 10, 3, 10), (0.1705, 0.8090)),
        ((6, 7, 2, 7), (0.0582, 0.8062)),
        ((5, 56, 0, 29), (-0.0381, 0.1926)),
    ],
)
def test_difference_interval_matches_newcombes_method_10_table(
    counts: tuple[int, int, int, int], expected: tuple[float, float]
) -> None:
    # Newcombe (1998), "Interval estimation for the difference between independent
    # proportions", Table II, method 10 (hybrid score, no continuity correction).
    a, n, b, m = counts
    interval = difference_interval(a, n, b, m)
    assert interval.estimate == pytest.approx(a / n - b / m)
    assert (interval.low, interval.high) == pytest.approx(expected, abs=1e-4)


def test_a_rate_needs_trials() -> None:
    with pytest.raises(ValueError, match="trials > 0"):
        wilson_interval(0, 0)
    with pytest.raises(ValueError, match="successes <= trials"):
        wilson_interval(3, 2)


def test_segment_report_ratios_and_lift() -> None:
    treatment = VariantMetrics(
        members=90, reached=100, purchasers=30, orders=40, revenue_cents=400_000
    )
    control = VariantMetrics(members=18, reached=20, purchasers=4, orders=4, revenue_cents=20_000)
    report = SegmentReport("vip", treatment, control)
    assert treatment.conversion == 0.3
    assert treatment.average_order_value == 100.0
    assert treatment.revenue_per_member == 40.0
    assert control.revenue_per_member == 10.0
    assert report.relative_lift() == pytest.approx(0.5)
    assert report.revenue_per_member_lift() == pytest.approx(30.0)
    lift = report.conversion_lift()
    assert lift is not None
    assert lift == difference_interval(30, 100, 4, 20)
    text = format_report([report])
    assert "+10.0 pp" in text
    assert "4,000.00" in text


def test_no_control_group_means_no_lift() -> None:
    report = SegmentReport("vip", VariantMetrics(members=1, reached=1), VariantMetrics())
    assert report.conversion_lift() is None
    assert report.relative_lift() is None
    assert report.to_json()["conversion_lift"] is None
    assert "no control group" in format_report([report])
