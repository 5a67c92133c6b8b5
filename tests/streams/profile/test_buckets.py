"""Time buckets: which bucket an instant falls in, what a window sums, what is kept and dropped.

Semantics pinned here:
- a bucket ``i`` of a tier of width ``w`` holds the instants ``i*w <= ts < (i+1)*w``, so an event
  exactly on a boundary opens the new bucket;
- a window of ``k`` buckets at ``now`` sums the bucket holding ``now`` and the ``k - 1`` before it,
  never a bucket after ``now``;
- a tier keeps the watermark's bucket and ``keep`` buckets before it, and never creates an older
  one.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from streams.profile import buckets as b
from streams.profile.buckets import Buckets

MIDNIGHT = datetime(2026, 3, 10, tzinfo=UTC).timestamp()  # a day, hour and minute boundary
NOW = MIDNIGHT + 12 * 3600 + 30 * 60  # 12:30:00


def tiers() -> list[Buckets]:
    return [{} for _ in b.TIERS]


def add(state: list[Buckets], watermark: float, ts: float, counter: int = b.ORDERS) -> None:
    for row in b.rows_for(state, watermark, ts):
        row[counter] += 1


def test_tiers_and_windows_are_as_documented() -> None:
    assert [(t.name, t.width_s, t.keep) for t in b.TIERS] == [
        ("minute", 60, 60),
        ("hour", 3600, 24),
        ("day", 86_400, 90),
    ]
    assert [(w.name, w.tier.name, w.buckets, w.seconds) for w in b.WINDOWS] == [
        ("1h", "minute", 60, 3600),
        ("24h", "hour", 24, 86_400),
        ("7d", "day", 7, 7 * 86_400),
        ("30d", "day", 30, 30 * 86_400),
        ("90d", "day", 90, 90 * 86_400),
    ]
    assert b.COUNTER_NAMES[b.SPEND_CENTS] == "spend_cents"
    assert b.N_COUNTERS == len(b.COUNTER_NAMES) == 6


@pytest.mark.parametrize("window", b.WINDOWS, ids=lambda w: w.name)
def test_every_window_fits_in_what_its_tier_keeps(window: b.Window) -> None:
    # Otherwise pruning relative to the watermark could drop a bucket the window still sums.
    assert b.TIERS[window.tier_position] is window.tier
    assert window.buckets <= window.tier.keep
    assert b.WINDOWS_BY_NAME[window.name] is window


def test_an_event_lands_in_one_bucket_per_tier() -> None:
    state = tiers()
    rows = b.rows_for(state, NOW, NOW)
    assert len(rows) == 3
    assert [list(tier) for tier in state] == [
        [int(NOW // 60)],
        [int(NOW // 3600)],
        [int(NOW // 86_400)],
    ]
    assert all(row == [0] * b.N_COUNTERS for row in rows)


def test_the_same_bucket_is_returned_not_recreated() -> None:
    state = tiers()
    add(state, NOW, NOW)
    add(state, NOW, NOW + 59 - (NOW % 60))  # last second of the same minute
    assert [len(tier) for tier in state] == [1, 1, 1]
    assert [row[b.ORDERS] for tier in state for row in tier.values()] == [2, 2, 2]


def test_an_event_on_a_boundary_opens_the_new_bucket() -> None:
    state = tiers()
    add(state, MIDNIGHT, MIDNIGHT - 1)  # 23:59:59 the day before
    add(state, MIDNIGHT, MIDNIGHT)  # 00:00:00
    day = int(MIDNIGHT // 86_400)
    assert state[2] == {day - 1: [1, 0, 0, 0, 0, 0], day: [1, 0, 0, 0, 0, 0]}
    assert set(state[1]) == {day * 24 - 1, day * 24}
    assert set(state[0]) == {day * 1440 - 1, day * 1440}


@pytest.mark.parametrize(("tier_position", "tier"), list(enumerate(b.TIERS)))
def test_a_late_event_gets_a_bucket_only_while_its_tier_keeps_it(
    tier_position: int, tier: b.Tier
) -> None:
    watermark = NOW
    oldest_kept = (int(watermark // tier.width_s) - tier.keep) * tier.width_s
    state = tiers()
    add(state, watermark, oldest_kept)  # first instant of the oldest bucket kept: counted
    add(state, watermark, oldest_kept - 1)  # last instant before it: no bucket in this tier
    assert list(state[tier_position]) == [oldest_kept // tier.width_s]
    # Coarser tiers still keep the older instant.
    for coarser in range(tier_position + 1, len(b.TIERS)):
        assert sum(row[b.ORDERS] for row in state[coarser].values()) == 2


def test_rows_for_never_creates_more_buckets_than_a_tier_keeps() -> None:
    state = tiers()
    for hour in range(100 * 24):  # a hundred days of one event an hour, in order
        ts = NOW + hour * 3600
        add(state, ts, ts)
        b.prune(state, ts)
    # Hourly events: the minute tier holds the newest minute and the one exactly keep=60 back.
    assert [len(kept) for kept in state] == [2, 25, 91]
    for minute in range(2 * 60):  # then two hours of one event a minute
        ts = NOW + 100 * 86_400 + minute * 60
        add(state, ts, ts)
        b.prune(state, ts)
    assert [len(kept) for kept in state] == [tier.keep + 1 for tier in b.TIERS]


def test_prune_keeps_the_oldest_reachable_bucket_and_drops_older() -> None:
    for tier_position, tier in enumerate(b.TIERS):
        newest = int(NOW // tier.width_s)
        state = tiers()
        state[tier_position].update(
            {newest - tier.keep - 1: [1] * 6, newest - tier.keep: [2] * 6, newest: [3] * 6}
        )
        b.prune(state, NOW)
        assert sorted(state[tier_position]) == [newest - tier.keep, newest], tier.name


def test_prune_since_the_last_watermark_keeps_what_a_full_prune_keeps() -> None:
    """Skipping tiers whose newest bucket did not move changes nothing, in or out of order."""
    offsets = [0, 59, 61, 3500, 3700, 3650, 86_000, 86_500, 40 * 86_400, 40 * 86_400 - 7200]
    offsets += [95 * 86_400 + 3 * 3600 + 17, 95 * 86_400 + 3 * 3600 + 1, 200 * 86_400]
    full, incremental = tiers(), tiers()
    watermark: float | None = None
    for offset in offsets:
        ts = NOW + offset
        previous, watermark = watermark, ts if watermark is None else max(watermark, ts)
        add(full, watermark, ts)
        add(incremental, watermark, ts)
        b.prune(full, watermark)
        b.prune(incremental, watermark, previous)
        assert incremental == full, offset


def test_prune_of_empty_tiers_is_a_no_op() -> None:
    state = tiers()
    b.prune(state, NOW)
    assert state == tiers()


def _one_event_state(ts: float) -> list[Buckets]:
    state = tiers()
    add(state, max(ts, NOW), ts, b.SPEND_CENTS)
    return state


@pytest.mark.parametrize(
    ("window", "first_instant"),
    [
        ("1h", NOW - 59 * 60),  # 11:31:00: the minute holding now and the 59 before
        ("24h", NOW - 23 * 3600 - 30 * 60),  # 13:00:00 yesterday: this hour and the 23 before
        ("7d", MIDNIGHT - 6 * 86_400),  # 00:00 six days ago: today and the 6 days before
        ("30d", MIDNIGHT - 29 * 86_400),
        ("90d", MIDNIGHT - 89 * 86_400),
    ],
)
def test_a_window_starts_at_the_first_instant_of_its_oldest_bucket(
    window: str, first_instant: float
) -> None:
    spec = b.WINDOWS_BY_NAME[window]
    inside = b.window_totals(_one_event_state(first_instant), spec, NOW)
    outside = b.window_totals(_one_event_state(first_instant - 1), spec, NOW)
    assert inside[b.SPEND_CENTS] == 1
    assert outside[b.SPEND_CENTS] == 0


def test_a_window_ends_with_the_bucket_holding_now_and_ignores_later_buckets() -> None:
    state = tiers()
    end_of_minute = NOW + 59
    add(state, NOW + 3600, end_of_minute)  # same minute as now, later second
    add(state, NOW + 3600, NOW + 60)  # next minute: after now
    totals = b.window_totals(state, b.WINDOWS_BY_NAME["1h"], NOW)
    assert totals[b.ORDERS] == 1


def test_window_totals_sum_every_counter() -> None:
    state = tiers()
    for row in b.rows_for(state, NOW, NOW):
        for position in range(b.N_COUNTERS):
            row[position] += position + 1
    for row in b.rows_for(state, NOW, NOW - 600):
        row[b.SPEND_CENTS] += 1000
    assert b.window_totals(state, b.WINDOWS_BY_NAME["1h"], NOW) == [1, 1002, 3, 4, 5, 6]
    assert b.window_totals(state, b.WINDOWS_BY_NAME["1h"], NOW + 3600) == [0] * 6


def test_merge_adds_bucket_by_bucket_without_sharing_rows() -> None:
    mine, theirs = tiers(), tiers()
    add(mine, NOW, NOW)
    add(theirs, NOW, NOW)
    add(theirs, NOW, NOW - 1800)
    b.merge(mine, theirs)
    minute = int(NOW // 60)
    assert mine[0][minute][b.ORDERS] == 2
    assert mine[0][minute - 30][b.ORDERS] == 1
    assert mine[1][int(NOW // 3600)][b.ORDERS] == 3  # 12:00 and 12:30 share the hour
    theirs[0][minute - 30][b.ORDERS] += 100  # the merged profile owns its rows
    assert mine[0][minute - 30][b.ORDERS] == 1
