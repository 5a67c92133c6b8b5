"""Cluster vectors that age with the clock: a re-evaluation at the window edge re-places and
re-samples the customer, as an event would (issue 19)."""

from __future__ import annotations

from datetime import UTC, datetime

from models.features import FeatureExtractor
from models.segments import ClusterSegments
from models.snapshot import Cluster, ClusterSnapshot, Scaler
from rules import RuleSet
from rules.loader import load_rule_texts
from streams.pipeline.batch import BatchProcessor
from streams.pipeline.cache import ProfileCache
from streams.profile.features import FeatureView
from tests.streams.events.malformed_corpus import MAX_EVENT_BYTES
from tests.streams.pipeline.test_batch import NOW, DictStore, purchase, record, reevaluate

DAY_S = 86_400.0
# Active this month (one order in 30 days) or lapsed (none): the feature ages with the clock.
SNAPSHOT = ClusterSnapshot(
    1, 0.0, ("orders_30d",), Scaler(10, (0.5,), (0.25,)),
    (
        Cluster("c1", "cluster_active", None, (1.0,), 1, 1, 0.0, "bought this month"),
        Cluster("c2", "cluster_lapsed", None, (-1.0,), 1, 1, 0.0, "nothing this month"),
    ),
)  # fmt: skip
# A rule that never moves with the clock: any due instant comes from the clusters.
STATIC_RULES = (
    "segments:\n  - {id: buyers, name: B, description: d, condition: 'orders_lifetime >= 1'}\n"
)


def rules() -> RuleSet:
    return load_rule_texts({"r.yaml": STATIC_RULES})


def processor(
    store: DictStore, *, clusters: bool = True, min_sessions: int = 0
) -> BatchProcessor[None]:
    segments = ClusterSegments(
        FeatureExtractor.parse("orders_30d"),
        min_sessions=min_sessions,
        sample_rate=1.0,
        current=lambda: SNAPSHOT,
    )
    ruleset = rules()
    return BatchProcessor(
        store=store,
        rules=lambda: ruleset,
        max_event_bytes=MAX_EVENT_BYTES,
        cache=ProfileCache(100),
        clusters=segments if clusters else None,
    )


def bought_ten_days_ago(pipeline: BatchProcessor[None]) -> float | None:
    """A purchase stamped ten days before NOW, processed at NOW: its due instant."""
    ts = datetime.fromtimestamp(NOW - 10 * DAY_S, UTC).isoformat().replace("+00:00", "Z")
    outcome = pipeline.process([record("c1", purchase(1, "20.00") | {"ts": ts}, 0)], NOW)
    [change] = outcome.changes
    assert change.segments.keys() == {"cluster_active", "buyers"}
    return outcome.due["c1"]


def test_the_due_instant_is_when_the_order_leaves_the_30_day_window() -> None:
    store = DictStore()
    due = bought_ten_days_ago(processor(store))
    assert due is not None
    assert NOW < due < NOW + 21 * DAY_S
    profile = store.profile("c1")
    assert FeatureView(profile, due - 1.0)["orders_30d"] == 1
    assert FeatureView(profile, due)["orders_30d"] == 0


def test_the_re_evaluation_at_that_edge_re_places_and_re_samples_the_customer() -> None:
    store = DictStore()
    pipeline = processor(store)
    due = bought_ten_days_ago(pipeline)
    assert due is not None
    outcome = pipeline.process([reevaluate("c1")], due)
    [change] = outcome.changes
    assert change.reason == "elapsed"
    assert change.exited == {"cluster_active"}
    assert change.entered == {"cluster_lapsed"}
    assert [vector for _, vector in outcome.samples] == [(0.0,)]
    assert store.profile("c1").segments.keys() == {"cluster_lapsed", "buyers"}
    assert outcome.due["c1"] is None  # nothing left in any window: no further timer


def test_a_scan_reports_the_same_due_instant() -> None:
    store = DictStore()
    pipeline = processor(store)
    due = bought_ten_days_ago(pipeline)
    assert pipeline.assess(store.data["c1"], NOW) == (False, due)


def test_without_clusters_the_due_instants_are_the_rules_alone() -> None:
    store = DictStore()
    pipeline = processor(store, clusters=False)
    ts = datetime.fromtimestamp(NOW - 10 * DAY_S, UTC).isoformat().replace("+00:00", "Z")
    outcome = pipeline.process([record("c1", purchase(1, "20.00") | {"ts": ts}, 0)], NOW)
    assert outcome.due["c1"] is None
    assert pipeline.assess(store.data["c1"], NOW) == (False, None)


def test_a_customer_too_young_to_be_placed_gets_no_cluster_timer() -> None:
    store = DictStore()
    pipeline = processor(store, min_sessions=2)  # one purchase is one session
    ts = datetime.fromtimestamp(NOW - 10 * DAY_S, UTC).isoformat().replace("+00:00", "Z")
    outcome = pipeline.process([record("c1", purchase(1, "20.00") | {"ts": ts}, 0)], NOW)
    assert outcome.due["c1"] is None
