"""Per segment and variant counters, read from Redis, and the treatment-versus-control report.

The counters are kept by ``write_customer.lua`` as versioned writes apply, so they are exact under
replays: ``reached`` counts distinct customers who were ever in the segment with that variant,
``purchasers`` those of them who bought while in it, ``orders`` and ``revenue_cents`` their
purchases while in it. Conversion is purchasers / reached: a customer who left the segment after
being shown it still counts, as in any holdout test.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import redis

from streams.report.stats import Interval, difference_interval
from streams.sink.aggregates import Metrics, read_metrics

FIELDS = ("members", "reached", "purchasers", "orders", "revenue_cents")


@dataclass(frozen=True, slots=True)
class VariantMetrics:
    members: int = 0  # now
    reached: int = 0  # ever
    purchasers: int = 0
    orders: int = 0
    revenue_cents: int = 0

    @property
    def conversion(self) -> float | None:
        return self.purchasers / self.reached if self.reached else None

    @property
    def revenue_per_member(self) -> float | None:
        return self.revenue_cents / 100 / self.reached if self.reached else None

    @property
    def average_order_value(self) -> float | None:
        return self.revenue_cents / 100 / self.orders if self.orders else None


@dataclass(frozen=True, slots=True)
class SegmentReport:
    segment_id: str
    treatment: VariantMetrics
    control: VariantMetrics

    def conversion_lift(self) -> Interval | None:
        """Treatment minus control conversion, with its 95% interval; None without both arms."""
        t, c = self.treatment, self.control
        if not t.reached or not c.reached:
            return None
        return difference_interval(t.purchasers, t.reached, c.purchasers, c.reached)

    def relative_lift(self) -> float | None:
        t, c = self.treatment.conversion, self.control.conversion
        return None if t is None or not c else (t - c) / c

    def revenue_per_member_lift(self) -> float | None:
        t, c = self.treatment.revenue_per_member, self.control.revenue_per_member
        return None if t is None or c is None else t - c

    def to_json(self) -> dict[str, Any]:
        lift = self.conversion_lift()
        return {
            "segment": self.segment_id,
            **{
                name: {
                    **asdict(metrics),
                    "conversion": metrics.conversion,
                    "revenue_per_member": metrics.revenue_per_member,
                    "average_order_value": metrics.average_order_value,
                }
                for name, metrics in (("treatment", self.treatment), ("control", self.control))
            },
            "conversion_lift": None if lift is None else asdict(lift),
            "relative_lift": self.relative_lift(),
            "revenue_per_member_lift": self.revenue_per_member_lift(),
        }


def _variant(counters: dict[str, int]) -> VariantMetrics:
    return VariantMetrics(**{name: counters.get(name, 0) for name in FIELDS})


def reports_of(metrics: Metrics) -> list[SegmentReport]:
    """Every segment that ever had a member, in id order."""
    return [
        SegmentReport(
            segment_id,
            _variant(metrics[segment_id].get("treatment", {})),
            _variant(metrics[segment_id].get("control", {})),
        )
        for segment_id in sorted(metrics)
    ]


def read_report(client: redis.Redis, prefix: str, partitions: int) -> list[SegmentReport]:
    """The report of ``partitions`` partitions' metrics, summed: one round trip."""
    return reports_of(read_metrics(client, prefix, partitions))


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _money(value: float | None) -> str:
    return "-" if value is None else f"{value:,.2f}"


def _lift(report: SegmentReport) -> str:
    lift = report.conversion_lift()
    if lift is None:
        return "no control group"
    return f"{lift.estimate * 100:+.1f} pp [{lift.low * 100:+.1f}, {lift.high * 100:+.1f}]"


COLUMNS = ("variant", "members", "reached", "buyers", "conv", "orders", "revenue", "AOV",
           "rev/member")  # fmt: skip


def _row(name: str, m: VariantMetrics) -> list[str]:
    return [
        name, f"{m.members:,}", f"{m.reached:,}", f"{m.purchasers:,}", _pct(m.conversion),
        f"{m.orders:,}", _money(m.revenue_cents / 100), _money(m.average_order_value),
        _money(m.revenue_per_member),
    ]  # fmt: skip


def _table(rows: list[list[str]]) -> list[str]:
    """Rows under COLUMNS, each column as wide as its widest cell, two spaces apart: numbers of
    any size never run into each other."""
    table = [list(COLUMNS), *rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(COLUMNS))]
    return [
        "  " + "  ".join(
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        )
        for row in table
    ]  # fmt: skip


def format_report(reports: list[SegmentReport]) -> str:
    """A table per segment: each variant's numbers, then the lift with its 95% interval."""
    lines: list[str] = []
    for report in reports:
        lines.append(report.segment_id)
        lines += _table([_row("treatment", report.treatment), _row("control", report.control)])
        rpm = report.revenue_per_member_lift()
        lines.append(
            f"  lift: conversion {_lift(report)} (95% Newcombe), relative "
            f"{_pct(report.relative_lift())}, revenue/member {_money(rpm)}"
        )
        lines.append("")
    return "\n".join(lines) if lines else "no segment has had members yet"
