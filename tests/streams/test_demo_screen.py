"""The demo's screen fits 80 columns for realistic and extreme numbers and names."""

from __future__ import annotations

from streams.demo_screen import CLEAR, WIDTH, SegmentRow, Snapshot, frame, render

RULES = [
    SegmentRow("big_spenders", 412, "Spent over 500 in 90 days.", 0.4),
    SegmentRow("vip_big_spenders_in_dach", 38, "Big spenders in DE, AT or CH.", 0.0),
    SegmentRow("new_customers", 1_734, "First seen in the last 14 days.", 2.5),
    SegmentRow("window_shoppers", 0, "Many sessions, no order.", None),
]
CLUSTERS = [
    SegmentRow("cluster_c3", 210, "high discount share, many small baskets", -0.2),
    SegmentRow("cluster_bargain_hunters", 388, "frequent sessions, low order value", 1.0),
]


def realistic() -> Snapshot:
    return Snapshot(
        elapsed_s=724,
        customers=2_000,
        rules=RULES,
        clusters=CLUSTERS,
        model_version="m-0007",
        events_in=219_004,
        events_per_s=301.6,
        repeats=0,
    )


def worst_case() -> Snapshot:
    long = "x" * 300
    rows = [SegmentRow(long, 10**15, long, -(10**12)) for _ in range(3)]
    return Snapshot(
        elapsed_s=10**9,
        customers=10**12,
        rules=rows,
        clusters=rows,
        model_version=long,
        events_in=10**18,
        events_per_s=1e15,
        repeats=10**18,
    )


def test_every_line_fits_80_columns() -> None:
    for snapshot in (realistic(), worst_case(), Snapshot(0, 0, [])):
        lines = render(snapshot)
        assert all(len(line) <= WIDTH for line in lines), max(lines, key=len)


def test_the_frame_has_a_header_sizes_rates_totals_and_descriptions() -> None:
    text = "\n".join(render(realistic()))
    assert "up 12m04s" in text
    assert "2,000 simulated customers" in text
    assert "events in 219,004 (302/s)" in text
    assert "repeats dropped 0" in text
    row = next(line for line in text.splitlines() if line.startswith("new_customers "))
    assert row.split()[:4] == ["new_customers", "1,734", "86.7%", "+2.5"]
    assert "First seen in the last" in row
    assert "clusters (model m-0007)" in text
    assert "high discount share" in text
    assert "total: 2,782 memberships in 5 of 6 segments" in text


def test_long_segment_names_are_cut_visibly_and_columns_stay_aligned() -> None:
    lines = render(realistic())
    row = next(line for line in lines if line.startswith("vip_big_spenders_in_dach"))
    header = next(line for line in lines if line.startswith("rule segments"))
    assert row.index("38") + 2 == header.index("members") + len("members")
    [cut] = [line for line in render(worst_case()) if line.startswith("x")][:1]
    assert cut[:26].endswith("...")


def test_piped_frames_are_plain_text_and_a_terminal_is_cleared() -> None:
    lines = render(realistic())
    piped = frame(lines, tty=False)
    assert "\x1b" not in piped
    assert piped.endswith("\n")
    assert frame(lines, tty=True).startswith(CLEAR)
