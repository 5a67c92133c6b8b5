"""The report table: numbers of any size stay in their own columns."""

from __future__ import annotations

from streams.report import SegmentReport, VariantMetrics, format_report


def test_large_numbers_never_run_into_each_other() -> None:
    # The field report: 5,845 orders and 2,826,385.55 of revenue printed as `58452,826,385.55`.
    big = VariantMetrics(members=123_456, reached=1_234_567, purchasers=234_567, orders=5845,
                         revenue_cents=282_638_555)  # fmt: skip
    small = VariantMetrics(members=3, reached=4, purchasers=1, orders=1, revenue_cents=500)
    lines = format_report([SegmentReport("vip", big, small)]).splitlines()
    assert lines[0] == "vip"
    header, treatment, control = lines[1:4]
    cells = header.split()
    assert cells == ["variant", "members", "reached", "buyers", "conv", "orders", "revenue",
                     "AOV", "rev/member"]  # fmt: skip
    assert treatment.split() == ["treatment", "123,456", "1,234,567", "234,567", "19.0%",
                                 "5,845", "2,826,385.55", "483.56", "2.29"]  # fmt: skip
    assert len(control.split()) == len(cells)
    # Right-aligned under their headers: every row is as long as the header.
    assert len(treatment) == len(header) == len(control)


def test_no_segment_yet() -> None:
    assert format_report([]) == "no segment has had members yet"
