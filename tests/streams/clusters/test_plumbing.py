"""Cluster plumbing without Kafka: samples messages, the watcher's swap rule, reports, settings."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from models.snapshot import Cluster, ClusterSnapshot, Scaler
from streams.cli import format_cluster
from streams.clusters.messages import SamplesMessageError, decode_samples, encode_samples
from streams.clusters.trainer import drift_report
from streams.clusters.watcher import ModelWatcher
from streams.settings import Settings

FEATURES = ("avg_order_value",)


def snapshot(version: int, features: tuple[str, ...] = FEATURES) -> ClusterSnapshot:
    clusters = (
        Cluster("c1", "cluster_c1", None, (-1.0,), 30, 90, 0.012, "small baskets"),
        Cluster("c2", "cluster_whales", "whales", (2.0,), 10, 40, None, "big baskets"),
    )
    return ClusterSnapshot(version, 0.0, features, Scaler(1, (0.0,), (1.0,)), clusters)


def test_samples_messages_round_trip_and_bad_ones_are_refused() -> None:
    samples = [("k1", (1.0, 2.0)), ("k2", (3.0, 4.0))]
    assert decode_samples(encode_samples("f", samples)) == ("f", samples)
    bad = (
        b"",
        b"{}",
        None,
        b'{"fingerprint": "f", "samples": [["a", [1]], ["b", [1, 2]]]}',
        b'{"fingerprint": "f", "samples": [["a", [NaN]]]}',
        b'{"fingerprint": "f", "samples": [[1]]}',
    )
    for raw in bad:
        with pytest.raises(SamplesMessageError):
            decode_samples(raw)


def test_watcher_swaps_only_to_newer_snapshots_of_its_features() -> None:
    watcher = ModelWatcher(Settings(), FEATURES)
    swaps: list[tuple[int | None, int]] = []
    watcher.subscribe(lambda old, new: swaps.append((old.version if old else None, new.version)))
    assert watcher.offer(snapshot(2).to_json())
    assert not watcher.offer(snapshot(1).to_json())  # older: a stale message
    assert not watcher.offer(snapshot(3, ("orders_30d",)).to_json())
    assert not watcher.offer(b"not json")
    assert watcher.offer(snapshot(4).to_json())
    assert watcher.current is not None
    assert watcher.current.version == 4
    assert swaps == [(None, 2), (2, 4)]
    assert (watcher.received, watcher.rejected) == (5, 2)


def test_drift_report_lists_share_shift_and_description_per_cluster() -> None:
    lines = drift_report(snapshot(5)).splitlines()
    assert lines[0].startswith("published clusters-v5: 2 clusters")
    assert "max centroid shift 0.012" in lines[0]
    assert all(word in lines[1] for word in ("cluster_c1", "75.0%", "0.012"))
    assert all(word in lines[2] for word in ("cluster_whales", "new", "big baskets"))


def test_explain_formatting_of_the_cluster() -> None:
    text = format_cluster(
        {
            "status": "assigned",
            "segment_id": "cluster_whales",
            "model_version": "clusters-v5",
            "description": "big baskets",
            "distances": {"c1": 3.0, "c2": 0.5},
        }
    )
    assert all(word in text for word in ("cluster_whales", "clusters-v5", "big baskets"))
    assert text.index("c2 0.50") < text.index("c1 3.00")
    assert format_cluster({"status": "no model yet"}) == "  cluster: no model yet"
    held = format_cluster(
        {
            "status": "assigned",
            "segment_id": "cluster_whales",
            "model_version": "clusters-v5",
            "variant": "control",
            "description": "big baskets",
            "distances": {"c2": 0.5},
        }
    )
    assert "IN (control, clusters-v5)" in held  # held out, as rule verdicts say


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"cluster_features": "orders_30d, nope"}, "'nope' is not a numeric"),
        ({"cluster_count": 1}, "greater than or equal to 2"),
        ({"cluster_sample_rate": 0}, "greater than 0"),
        ({"cluster_count": 50, "cluster_min_samples": 100}, "at least 10 x"),
    ],
)
def test_cluster_settings_are_validated(values: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings(**values)  # type: ignore[arg-type]
