"""Lag arithmetic and catch-up estimates, without Kafka."""

from __future__ import annotations

import pytest

from streams.ops.lag import (
    CatchUp,
    GroupLag,
    estimate_catch_up,
    format_lag,
    group_lag,
    lag_json,
    watched_groups,
)
from streams.settings import Settings


def test_lag_counts_from_the_commit_or_from_the_log_start() -> None:
    lag = group_lag("g", "t", ends={0: 100, 1: 50, 2: 7}, starts={0: 0, 1: 20, 2: 0},
                    committed={0: 90, 2: 9})  # fmt: skip
    assert [(p.partition, p.committed, p.lag) for p in lag.partitions] == [
        (0, 90, 10),
        (1, None, 30),  # never committed: everything still in the log
        (2, 9, 0),  # a commit past the end (a truncated topic) is no negative lag
    ]
    assert lag.total == 40
    assert lag.end_total == 157


def reading(end: int, lag: int) -> GroupLag:
    return group_lag("g", "t", {0: end}, {0: 0}, {0: end - lag})


def test_catch_up_time_is_lag_over_how_fast_it_shrinks() -> None:
    estimate = estimate_catch_up(reading(1000, 600), reading(1100, 400), elapsed_s=10)
    assert estimate.produce_rate == 10
    assert estimate.consume_rate == 30
    assert estimate.seconds == 20  # 400 left, shrinking by 20/s
    assert "caught up in about 20 s" in estimate.describe(400)


def test_growing_lag_is_never_caught_up_and_no_lag_is_caught_up() -> None:
    growing = estimate_catch_up(reading(1000, 100), reading(1200, 250), elapsed_s=5)
    assert growing.seconds is None
    assert growing.describe(250).startswith("not catching up")
    idle = estimate_catch_up(reading(1000, 0), reading(1000, 0), elapsed_s=5)
    assert idle.seconds == 0
    assert idle.describe(0).startswith("caught up (")
    with pytest.raises(ValueError, match="elapsed"):
        estimate_catch_up(reading(1, 0), reading(1, 0), elapsed_s=0)


def test_a_group_that_keeps_up_is_caught_up_though_some_lag_is_in_flight() -> None:
    # Steady traffic: 200 events/s in, 199/s committed, 40 then 45 events not yet committed.
    steady = estimate_catch_up(reading(1000, 40), reading(2000, 45), elapsed_s=5)
    assert steady.seconds == 0
    assert steady.describe(45).startswith("caught up: lag 45 is in flight")
    # A stopped group does not catch up, however small its lag.
    stopped = estimate_catch_up(reading(1000, 5), reading(1000, 5), elapsed_s=5)
    assert stopped.seconds is None
    assert stopped.describe(5).startswith("not catching up")


def test_long_estimates_read_in_minutes_and_hours() -> None:
    assert "about 10 min" in CatchUp(2, 1, 600).describe(600)
    assert "about 2.0 h" in CatchUp(2, 1, 7200).describe(7200)


def test_watched_groups_follow_the_app_id() -> None:
    settings = Settings(app_id="shop", events_topic="shop-events")
    assert watched_groups(settings) == [("shop-ingest", "shop-events"), ("shop", "shop-batches")]


def test_table_and_json_show_every_partition_and_the_totals() -> None:
    groups = [reading(1000, 600), group_lag("h", "u", {0: 5, 1: 5}, {}, {0: 5, 1: 5})]
    estimates = [estimate_catch_up(reading(1000, 700), groups[0], 10), None]
    text = format_lag(groups, estimates)
    assert "g: total lag 600; caught up in about 60 s" in text
    assert "h: total lag 0" in text
    assert text.endswith("total lag 600")
    answer = lag_json(groups, estimates)
    assert answer["total"] == 600
    assert answer["groups"][0]["partitions"] == [
        {"partition": 0, "end": 1000, "committed": 400, "lag": 600}
    ]
    assert answer["groups"][0]["catch_up"]["seconds"] == 60
    assert answer["groups"][1]["catch_up"] is None
