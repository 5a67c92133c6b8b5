"""A worker's per-profile cluster step: gate, sample, assign, or keep the last cluster."""

from __future__ import annotations

from models.features import FeatureExtractor
from models.segments import ClusterSegments
from models.snapshot import Cluster, ClusterSnapshot, Scaler
from streams.profile import Profile
from streams.profile.features import FeatureView

NOW = 1_790_000_000.0
SNAPSHOT = ClusterSnapshot(
    7, 0.0, ("avg_order_value",), Scaler(10, (50.0,), (100.0,)),
    (
        Cluster("c1", "cluster_c1", None, (-1.0,), 5, 5, 0.0, "small baskets"),
        Cluster("c2", "cluster_whales", "whales", (2.0,), 5, 5, 0.0, "big baskets"),
    ),
)  # fmt: skip


def profile(sessions: int = 3, orders: int = 1, spend_cents: int = 9_000) -> Profile:
    p = Profile("c1")
    p.sessions, p.orders, p.spend_cents = sessions, orders, spend_cents
    return p


def segments(snapshot: ClusterSnapshot | None = SNAPSHOT, rate: float = 0.0) -> ClusterSegments:
    return ClusterSegments(
        FeatureExtractor.parse("avg_order_value"),
        min_sessions=2,
        sample_rate=rate or 1e-12,
        current=lambda: snapshot,
    )


def test_assigns_the_nearest_cluster_with_the_model_version() -> None:
    owner = segments()
    placement = owner.for_batch().place("c1", FeatureView(profile(), NOW), {})
    assert placement.segments == {"cluster_whales"}  # 90 is 4 std above 50: nearer c2 (2.0)
    assert placement.membership is not None
    assert placement.membership.model_version == "clusters-v7"
    assert placement.membership.distance == 2.0
    assert owner.stats.assigned == {"clusters-v7": 1}


def test_young_profiles_are_neither_sampled_nor_assigned() -> None:
    owner = segments(rate=1.0)
    placement = owner.for_batch().place("c1", FeatureView(profile(sessions=1), NOW), {})
    assert (placement.segments, placement.membership, placement.sample) == (frozenset(), None, None)
    assert owner.stats.too_young == 1


def test_without_a_model_the_last_published_cluster_is_kept() -> None:
    batch = segments(snapshot=None).for_batch()
    placement = batch.place("c1", FeatureView(profile(), NOW), {"cluster_c9": 1.0, "vip": 1.0})
    assert placement.segments == {"cluster_c9"}
    assert placement.membership is None


def test_a_snapshot_of_other_features_is_not_used() -> None:
    other = ClusterSnapshot(8, 0.0, ("orders_30d",), SNAPSHOT.scaler, SNAPSHOT.clusters)
    owner = segments(snapshot=other)
    assert owner.for_batch().assigner is None
    assert owner.for_batch().assigner is None
    assert owner.stats.incompatible_snapshots == 1
    assert owner.explain(FeatureView(profile(), NOW))["status"] == "model of other features"


def test_customers_are_sampled_deterministically_near_the_rate() -> None:
    owner = segments(rate=0.2)
    keys = [owner.sample_key(f"c{n}") for n in range(5000)]
    assert keys == [owner.sample_key(f"c{n}") for n in range(5000)]
    assert 900 < sum(key is not None for key in keys) < 1100
    assert len({key for key in keys if key}) == sum(key is not None for key in keys)
    batch = owner.for_batch()
    sampled = [batch.place(f"c{n}", FeatureView(profile(), NOW), {}).sample for n in range(50)]
    assert {s for s in sampled if s is not None} == {
        (owner.sample_key(f"c{n}"), (90.0,)) for n in range(50) if owner.sample_key(f"c{n}")
    }
    assert owner.stats.sampled == sum(s is not None for s in sampled)


def test_every_touch_of_a_sampled_customer_sends_its_current_vector_under_one_key() -> None:
    """Sessions were sampled until issue 19: a customer's key changed with every session, so the
    trainer could not tell one customer's new vector from another customer."""
    owner = segments(rate=1.0)
    batch = owner.for_batch()
    first = batch.place("c1", FeatureView(profile(sessions=3, orders=1), NOW), {}).sample
    again = batch.place("c1", FeatureView(profile(sessions=3, orders=2), NOW), {}).sample
    later = batch.place("c1", FeatureView(profile(sessions=4, orders=2), NOW), {}).sample
    other = batch.place("c2", FeatureView(profile(sessions=4, orders=2), NOW), {}).sample
    samples = [s for s in (first, again, later, other) if s is not None]
    assert [key for key, _ in samples] == [samples[0][0]] * 3 + [samples[3][0]]
    assert samples[0][0] != samples[3][0]
    assert (samples[0][1], samples[1][1]) == ((90.0,), (45.0,))


def test_explain_shows_the_cluster_its_distances_and_the_vector() -> None:
    answer = segments().explain(FeatureView(profile(), NOW))
    assert answer == {
        "status": "assigned",
        "segment_id": "cluster_whales",
        "cluster_id": "c2",
        "description": "big baskets",
        "distance": 2.0,
        "distances": {"c1": 5.0, "c2": 2.0},
        "model_version": "clusters-v7",
        "features": {"avg_order_value": 90.0},
    }
    young = segments().explain(FeatureView(profile(sessions=1), NOW))
    assert young == {"status": "too little activity (1 of 2 sessions)", "segment_id": None}
