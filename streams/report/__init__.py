"""Segment success metrics: what ``segstream report`` shows marketers."""

from streams.report.metrics import SegmentReport, VariantMetrics, format_report, read_report
from streams.report.stats import Interval, difference_interval, wilson_interval

__all__ = [
    "Interval",
    "SegmentReport",
    "VariantMetrics",
    "difference_interval",
    "format_report",
    "read_report",
    "wilson_interval",
]
