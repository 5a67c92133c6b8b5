"""Reading Prometheus text: values by label, and the names declared families will have."""

from __future__ import annotations

from streams.ops.scrape import Scrape

TEXT = """\
# HELP jobs_total Jobs.
# TYPE jobs_total counter
# HELP wait_seconds Waits.
# TYPE wait_seconds histogram
wait_seconds_bucket{le="1.0"} 2.0
wait_seconds_bucket{le="+Inf"} 3.0
wait_seconds_count 3.0
wait_seconds_sum 4.5
# HELP lag Lag.
# TYPE lag gauge
lag{group="a",partition="0"} 5.0
lag{group="a",partition="1"} 7.0
lag{group="b",partition="0"} 1.0
"""


def test_values_sum_the_samples_whose_labels_match() -> None:
    scrape = Scrape(TEXT)
    assert scrape.value("lag") == 13
    assert scrape.value("lag", group="a") == 12
    assert scrape.value("lag", group="a", partition="1") == 7
    assert scrape.value("lag", group="c") is None
    assert scrape.value("wait_seconds_bucket", le="+Inf") == 3
    assert scrape.labelled("lag", "group") == {"a": 7.0, "b": 1.0}  # the last sample per label


def test_names_include_what_declared_families_will_export() -> None:
    names = Scrape(TEXT).names
    assert {"jobs_total", "wait_seconds_bucket", "wait_seconds_count", "lag"} <= names
    assert "jobs_bucket" not in names
