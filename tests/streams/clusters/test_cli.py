"""``segstream clusters evaluate`` on small histories, its refusals, and ``show``'s formatting."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from models.snapshot import Cluster, ClusterSnapshot, Scaler
from streams.cli import main
from streams.clusters.cli import format_show, show_json
from streams.replay.cdnow import DEFAULT_PATH
from streams.traffic import generate

SMALL_TRAINER = {
    "SEGSTREAM_CLUSTER_SAMPLE_RATE": "1.0",
    "SEGSTREAM_CLUSTER_MIN_SAMPLES": "100",
    "SEGSTREAM_CLUSTER_PUBLISH_EVERY": "100",
    "SEGSTREAM_CLUSTER_RESERVOIR_SIZE": "500",
}
CDNOW_FEATURES = "log:avg_order_value,log:orders_lifetime,log:items_lifetime/orders_lifetime"


@pytest.fixture
def small_trainer(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SMALL_TRAINER.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(scope="module")
def cdnow_slice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 3,000 purchases of CDNOW (the file is sorted by customer: ~1,000 customers)."""
    path = tmp_path_factory.mktemp("cdnow") / "CDNOW_master.txt"
    with DEFAULT_PATH.open() as source:
        path.write_text("".join(line for _, line in zip(range(3001), source, strict=False)))
    return path


@pytest.fixture(scope="module")
def events(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("events") / "events.jsonl"
    lines = [json.dumps(e.payload) for e in generate(100, seed=2, start=1.79e9, days=6)]
    path.write_text("\n".join([*lines, "{not an event"]) + "\n")
    return path


@pytest.mark.usefixtures("small_trainer")
def test_evaluate_cdnow_slice_as_json(
    cdnow_slice: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["clusters", "evaluate", "--cdnow", str(cdnow_slice), "--k", "3..4"]
    assert main([*argv, "--features", CDNOW_FEATURES, "--json"]) == 0
    out, err = capsys.readouterr()
    body = json.loads(out)
    assert body["source"] == "CDNOW"
    assert body["features"] == [spec.strip() for spec in CDNOW_FEATURES.split(",")]
    assert body["silhouette"]["sample"] == min(2000, body["customers"])
    assert [row["k"] for row in body["rows"]] == [3, 4]
    for row in body["rows"]:
        for model in (row["offline"], row["online"]):
            assert sum(model["sizes"]) == body["customers"]
            assert len(model["sizes"]) == len(model["descriptions"]) == row["k"]
            assert -1 <= model["silhouette"] <= 1
        assert row["sse_ratio"] >= 0.99  # offline k-means is (about) the least SSE there is
    assert body["suggestion"]["k"] in (3, 4)
    assert "k = 4: offline silhouette" in err  # progress on stderr, not in the JSON


@pytest.mark.usefixtures("small_trainer")
def test_evaluate_events_file_as_text(events: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["clusters", "evaluate", "--events", str(events), "--k", "2..3"]) == 0
    out, err = capsys.readouterr()
    assert "(1 invalid, skipped)" in err
    assert "silhouette on a seeded sample of" in out
    assert "suggested k = " in out
    assert "  online:" in out  # the trainer published on this history


def test_unknown_feature_is_one_line_listing_the_valid_ones(
    events: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["clusters", "evaluate", "--events", str(events), "--features", "orders_30d,bogus"]
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert "'bogus' is not a numeric profile feature" in err
    assert "valid features: age, avg_order_value," in err


@pytest.mark.parametrize(
    "argv",
    [
        ["clusters", "evaluate", "--cdnow", "--events", "x.jsonl"],  # two histories
        ["clusters", "evaluate", "--cdnow", "--k", "1..4"],
        ["clusters", "evaluate", "--cdnow", "--k", "5..4"],
        ["clusters", "evaluate", "--cdnow", "--k", "three"],
        ["clusters"],
    ],
)
def test_bad_arguments_are_usage_errors(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2


def test_no_history_missing_file_and_too_few_customers_are_one_line_exit_2(
    events: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["clusters", "evaluate", "--events", str(tmp_path / "absent.jsonl")]) == 2
    assert main(["clusters", "evaluate", "--cdnow", str(tmp_path / "absent.txt")]) == 2
    tiny = tmp_path / "tiny.jsonl"
    tiny.write_bytes(b"\n".join(events.read_bytes().splitlines()[:50]))
    assert main(["clusters", "evaluate", "--events", str(tiny), "--k", "60..64"]) == 2
    assert main(["clusters", "evaluate", "--k", "3..12"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].endswith("absent.jsonl: no such file")
    assert err[1].endswith("absent.txt: no such file")
    assert err[-2].endswith("too few for k up to 64")
    assert err[-1] == "segstream: give the history to replay: --cdnow [PATH] or --events FILE"


SNAPSHOT = ClusterSnapshot(
    version=4,
    created_at=0.0,
    features=("log:avg_order_value", "orders_lifetime"),
    scaler=Scaler(100, (2.0, 1.6), (0.25, 1.0)),
    clusters=(
        Cluster("c1", "cluster_big_spenders", "big_spenders", (1.0, 2.5), 20, 20, 0.1, "frequent"),
        Cluster("c2", "cluster_c2", None, (-0.25, -0.6), 80, 80, 0.0, "infrequent"),
    ),
    samples_learned=5000,
)


def test_show_gives_centroids_in_own_units_and_top_differences() -> None:
    body = show_json(SNAPSHOT, SNAPSHOT.features)
    first = body["clusters"][0]
    assert first["share"] == 0.2
    assert first["name"] == "big_spenders"
    assert first["centroid"]["orders_lifetime"] == pytest.approx(4.1)
    assert first["centroid"]["avg_order_value"] == pytest.approx(2.718281828**2.5 - 1)
    assert first["differences"][0]["feature"] == "orders_lifetime"
    assert body["overall"]["orders_lifetime"] == 1.6
    text = format_show(SNAPSHOT, SNAPSHOT.features)
    assert "orders_lifetime 4.1 vs 1.6 overall" in text
    assert "c1 (big_spenders) cluster_big_spenders: 20 customers (20.0%)" in text
    assert "warning" not in text


def test_show_warns_when_workers_ignore_the_model() -> None:
    assert not show_json(SNAPSHOT, ("orders_lifetime",))["features_as_configured"]
    assert "workers ignore it" in format_show(SNAPSHOT, ("orders_lifetime",))
