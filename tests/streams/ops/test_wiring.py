"""What a worker's web server exposes, checked on the Faust app before it starts (no Kafka)."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import generate_latest

from streams.app import Segstream
from streams.ops.scrape import Scrape
from streams.pipeline.batch import BatchOutcome, MembershipChange
from streams.settings import Settings


def worker(tmp_path: Path, **settings: object) -> Segstream:
    return Segstream(Settings(data_dir=tmp_path / "worker", **settings))  # type: ignore[arg-type]


def served_prefixes(segstream: Segstream) -> set[str]:
    return {prefix for prefix, _ in segstream.app.web.blueprints._enabled}


def test_the_web_server_binds_loopback_and_hides_table_contents_by_default(
    tmp_path: Path,
) -> None:
    segstream = worker(tmp_path)
    conf = segstream.app.conf
    assert conf.web_bind == "127.0.0.1"
    assert conf.web_tables_enabled is False
    assert "/table" not in served_prefixes(segstream)
    assert "/router" in served_prefixes(segstream)  # segstream explain routes through it
    assert conf.web_stats_enabled is False  # sensor counters and partition assignment
    assert conf.web_graph_enabled is False


def test_table_views_and_another_address_are_opt_in(tmp_path: Path) -> None:
    segstream = worker(
        tmp_path, web_host="0.0.0.0", web_advertised_host="worker-3", web_tables_enabled=True
    )
    conf = segstream.app.conf
    assert conf.web_bind == "0.0.0.0"
    assert str(conf.canonical_url) == "http://worker-3:6066"  # what status and peers use
    assert "/table" in served_prefixes(segstream)


def test_a_worker_is_not_ready_before_its_first_table_recovery(tmp_path: Path) -> None:
    segstream = worker(tmp_path)
    metrics = Scrape(generate_latest(segstream.ops.metrics.registry).decode())
    assert metrics.value("segstream_table_recovering") == 1
    assert metrics.value("segstream_ready") == 0
    assert metrics.value("segstream_dead_letters_total", reason="too_large") == 0


def test_settled_batches_add_their_segments_to_those_whose_size_is_read(tmp_path: Path) -> None:
    segstream = worker(tmp_path)
    change = MembershipChange(
        "c1", {"cluster_c3": 1.0}, {}, frozenset({"cluster_c3"}), frozenset(), 1, "v", "event"
    )
    segstream.ops.settled(BatchOutcome(changes=[change], event_times=[1.0]), 0.002)
    assert segstream.ops.watched_segments() == ["big_spenders", "cluster_c3"]
    metrics = Scrape(generate_latest(segstream.ops.metrics.registry).decode())
    assert metrics.value("segstream_redis_write_seconds_count") == 1
    assert metrics.value("segstream_event_freshness_seconds_count") == 1
