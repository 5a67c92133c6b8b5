"""Snapshots are immutable data that round-trip through JSON and refuse anything else."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from models.snapshot import Cluster, ClusterSnapshot, Scaler, SnapshotError


def snapshot() -> ClusterSnapshot:
    return ClusterSnapshot(
        version=4,
        created_at=1.79e9,
        features=("a", "b"),
        scaler=Scaler(50, (1.0, 2.0), (4.0, 0.0)),
        clusters=(
            Cluster("c1", "cluster_c1", None, (0.5, 0.0), 10, 30, 0.01, "high a"),
            Cluster("c3", "cluster_vips", "vips", (-0.5, 0.0), 5, 20, None, "low a"),
        ),
        samples_learned=50,
        source_offsets={0: 17},
        next_id=4,
        reseeded=True,
    )


def test_round_trip_keeps_every_field() -> None:
    snap = snapshot()
    assert ClusterSnapshot.from_json(snap.to_json()) == snap
    assert snap.label == "clusters-v4"
    assert snap.max_shift == 0.01
    assert snap.cluster("c3") is snap.clusters[1]


def test_scaler_scales_and_unscales_and_a_constant_feature_scales_to_zero() -> None:
    scaler = snapshot().scaler
    assert scaler.scale((3.0, 7.0)) == (1.0, 0.0)
    assert scaler.unscale((1.0, 0.0)) == (3.0, 2.0)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda body: body.update(format=2), "format 2"),
        (lambda body: body["clusters"][0].update(centroid=[1.0]), "expected 2 finite numbers"),
        (lambda body: body["scaler"].update(mean=[1.0, float("nan")]), "finite"),
        (lambda body: body.update(clusters=[]), "at least one cluster"),
        (lambda body: body.pop("version"), "not a cluster snapshot"),
    ],
)
def test_malformed_snapshots_are_refused(mutate: object, message: str) -> None:
    body = json.loads(snapshot().to_json())
    mutate(body)  # type: ignore[operator]
    with pytest.raises(SnapshotError, match=message):
        ClusterSnapshot.from_json(json.dumps(body).encode())


def test_not_json_is_refused() -> None:
    with pytest.raises(SnapshotError):
        ClusterSnapshot.from_json(b"\x00garbage")


def test_the_line_fields_round_trip_and_snapshots_from_before_elections_still_read() -> None:
    elected = replace(snapshot(), parent=3, trainer="host-12-ab34cd", epoch=7)
    assert ClusterSnapshot.from_json(elected.to_json()) == elected
    body = json.loads(snapshot().to_json())
    for name in ("parent", "trainer", "epoch"):
        del body[name]
    old = ClusterSnapshot.from_json(json.dumps(body).encode())
    assert (old.parent, old.trainer, old.epoch) == (None, "", 0)
