"""Instants and ages as people read them."""

from __future__ import annotations

from streams.timefmt import age_text, utc_text, when_text


def test_utc_text_is_a_date_and_time_in_utc() -> None:
    assert utc_text(0) == "1970-01-01 00:00:00 UTC"


def test_ages_read_in_the_unit_that_fits() -> None:
    assert [age_text(s) for s in (-3, 0.42, 42, 1020, 5.2 * 3600, 12 * 86400)] == [
        "0.0 s", "0.4 s", "42 s", "17 min", "5.2 h", "12 d",
    ]  # fmt: skip


def test_when_text_has_both() -> None:
    assert when_text(60, now_s=120) == "1970-01-01 00:01:00 UTC (60 s ago)"
