"""The pipeline with clusters: the cluster is a segment, rules see it, samples flow."""

from __future__ import annotations

from pathlib import Path

from models.features import FeatureExtractor
from models.segments import ClusterSegments
from models.snapshot import Cluster, ClusterSnapshot, Scaler
from rules import RuleSet
from rules.loader import load_rules
from streams.pipeline.batch import BatchProcessor
from streams.pipeline.cache import ProfileCache
from tests.streams.events.malformed_corpus import MAX_EVENT_BYTES
from tests.streams.pipeline.test_batch import NOW, DictStore, event, purchase, record

SNAPSHOT = ClusterSnapshot(
    3, 0.0, ("avg_order_value",), Scaler(10, (50.0,), (100.0,)),
    (
        Cluster("c1", "cluster_c1", None, (-1.0,), 1, 1, 0.0, "small baskets"),
        Cluster("c2", "cluster_whales", "whales", (2.0,), 1, 1, 0.0, "big baskets"),
    ),
)  # fmt: skip


class Current:
    def __init__(self, snapshot: ClusterSnapshot | None) -> None:
        self.snapshot = snapshot


def processor(
    store: DictStore, current: Current, rules: RuleSet, rate: float = 1.0, holdout: float = 0.0
) -> BatchProcessor[None]:
    clusters = ClusterSegments(
        FeatureExtractor.parse("avg_order_value"),
        min_sessions=0,
        sample_rate=rate,
        current=lambda: current.snapshot,
    )
    return BatchProcessor(
        store=store,
        rules=lambda: rules,
        max_event_bytes=MAX_EVENT_BYTES,
        cache=ProfileCache(100),
        clusters=clusters,
        cluster_holdout=holdout,
    )


def whale_rules(tmp_path: Path) -> RuleSet:
    path = tmp_path / "r.yaml"
    path.write_text(
        "segments:\n"
        "  - {id: whale_fans, name: W, description: d,"
        " condition: \"in_segment('cluster_whales') and orders_lifetime >= 1\"}\n"
    )
    return load_rules([path])


def test_cluster_segment_is_published_with_its_model_and_rules_see_it(tmp_path: Path) -> None:
    store, current = DictStore(), Current(SNAPSHOT)
    outcome = processor(store, current, whale_rules(tmp_path)).process(
        [record("c1", purchase(1, "90.00"), 0)], NOW
    )
    [change] = outcome.changes
    assert change.segments.keys() == {"cluster_whales", "whale_fans"}
    assert change.entered == {"cluster_whales", "whale_fans"}
    assert change.model_version == "clusters-v3"
    assert change.variants["cluster_whales"] == "treatment"
    assert [vector for _, vector in outcome.samples] == [(90.0,)]
    assert set(store.profile("c1").segments) == {"cluster_whales", "whale_fans"}


def test_a_new_model_moves_the_customer_when_next_touched(tmp_path: Path) -> None:
    store, current = DictStore(), Current(SNAPSHOT)
    pipeline = processor(store, current, whale_rules(tmp_path))
    pipeline.process([record("c1", purchase(1, "90.00"), 0)], NOW)
    flipped = tuple(
        Cluster(c.id, c.segment_id, c.name, (-c.centroid[0],), 1, 1, 0.0, c.description)
        for c in SNAPSHOT.clusters
    )
    current.snapshot = ClusterSnapshot(4, 1.0, SNAPSHOT.features, SNAPSHOT.scaler, flipped)
    outcome = pipeline.process([record("c1", event("page_view", 2, url="/"), 1)], NOW)
    [change] = outcome.changes
    assert change.entered == {"cluster_c1"}
    assert change.exited == {"cluster_whales", "whale_fans"}
    assert change.model_version == "clusters-v4"


def test_without_a_model_nothing_changes_and_samples_still_flow(tmp_path: Path) -> None:
    store, current = DictStore(), Current(SNAPSHOT)
    pipeline = processor(store, current, whale_rules(tmp_path))
    pipeline.process([record("c1", purchase(1, "90.00"), 0)], NOW)
    current.snapshot = None  # e.g. a restarted worker before the model arrived
    outcome = pipeline.process([record("c1", purchase(2, "1.00"), 1)], NOW)
    assert outcome.changes == []
    assert set(store.profile("c1").segments) == {"cluster_whales", "whale_fans"}
    assert [vector for _, vector in outcome.samples] == [(45.5,)]


def test_opting_out_withdraws_the_cluster_too(tmp_path: Path) -> None:
    store, current = DictStore(), Current(SNAPSHOT)
    pipeline = processor(store, current, whale_rules(tmp_path), rate=0.0)
    pipeline.process([record("c1", purchase(1, "90.00"), 0)], NOW)
    outcome = pipeline.process(
        [record("c1", event("consent", 2, personalization=False), 1)], NOW + 1
    )
    [change] = outcome.changes
    assert change.segments == {}
    assert change.exited == {"cluster_whales", "whale_fans"}
    assert outcome.samples == []


def test_a_cluster_holdout_keeps_a_stable_share_of_each_cluster_in_control(tmp_path: Path) -> None:
    """Issue 19: cluster segments had no control group, so the report could show no lift."""
    rules = whale_rules(tmp_path)
    held = processor(DictStore(), Current(SNAPSHOT), rules, holdout=0.3)
    customers = [f"c{n:05d}" for n in range(2000)]
    variants = [held.variant_of("cluster_whales", c) for c in customers]
    assert 0.25 < variants.count("control") / len(customers) < 0.35
    # The same customer stays where it is (another worker, a restart, the next model version).
    again = processor(DictStore(), Current(None), rules, holdout=0.3)
    assert [again.variant_of("cluster_whales", c) for c in customers] == variants
    # Rule segments keep their own holdout (none here); no holdout: everyone is treated.
    assert {held.variant_of("whale_fans", c) for c in customers} == {"treatment"}
    none = processor(DictStore(), Current(SNAPSHOT), rules)
    assert {none.variant_of("cluster_whales", c) for c in customers} == {"treatment"}


def test_a_held_out_member_is_published_as_control(tmp_path: Path) -> None:
    store = DictStore()
    pipeline = processor(store, Current(SNAPSHOT), whale_rules(tmp_path), holdout=0.5)
    controlled = next(
        c
        for c in (f"c{n}" for n in range(100))
        if pipeline.variant_of("cluster_whales", c) == "control"
    )
    outcome = pipeline.process([record(controlled, purchase(1, "90.00"), 0)], NOW)
    [change] = outcome.changes
    assert change.variants["cluster_whales"] == "control"
