"""Cluster quality, stability and assignment cost (issue 5), without Kafka.

    .venv/bin/python -m bench.clusters         (also run by scripts/bench.sh)

Writes to bench/results.json (merging):

* ``cluster_ari_online`` / ``cluster_ari_offline``: adjusted Rand index against the simulator's
  personas of the online model (trained on the vectors workers would have sampled while the
  traffic flowed, default settings) and of offline k-means (scikit-learn, same features, same k,
  10 restarts) on the final profiles.
* ``cluster_churn_pct``: on stationary data (draws from the final profiles), after two warm-up
  snapshots, the largest share of customers whose cluster changed between consecutive snapshots.
* ``cluster_trainer_samples_per_s``: samples a trainer learns per second on that stationary data,
  a refit of the population at every snapshot included.
* ``cluster_assign_us``: one nearest-centroid assignment from a snapshot (scaling included);
  ``cluster_vector_us`` adds reading the feature vector from a profile; the same-run baseline
  ``cluster_river_predict_us`` is river's ``KMeans.predict_one`` on the same model.
* ``cluster_ari_cdnow``: ARI between the online and the offline clustering of the final CDNOW
  profiles (no ground truth there), on basket value, order count and items per order, k = 4;
  ``cluster_ari_cdnow_offline_seeds`` is offline k-means against itself with another seed, the
  agreement to expect at best; ``cluster_ari_cdnow_basket`` leaves the order count out.
* ``cluster_sse_ratio_cdnow``: within-cluster sum of squares of the online partition of the final
  CDNOW vectors (standardized as offline k-means sees them, each cluster around its own mean)
  over offline k-means' inertia on the same vectors: 1.0 is as good as an analyst's k-means.
* ``cluster_min_share_cdnow_online`` / ``_offline``: the smallest cluster's share of customers.
* ``cluster_drift_follow_samples``: half of the simulated shoppers switch to the next persona
  half-way through the run; samples after the switch until the online model agrees with offline
  k-means on every customer's vector of that moment at ARI >= 0.9 and keeps agreeing at every
  later snapshot (``cluster_drift_min_ari_vs_offline``: the lowest agreement after the switch).
  ``cluster_drift_unmoved_ids_kept``: of the clusters before the switch whose centre is still
  there at the end (within 0.5 std; ``cluster_drift_unmoved_clusters`` of them), the share that
  kept its id.
* ``cluster_suggested_k_cdnow``: what ``segstream clusters evaluate --cdnow`` suggests for the
  default features (``SEGSTREAM_CLUSTER_FEATURES``, replayed with the workers' sample rate and
  minimum sessions) over k = 3..12 (:mod:`models.choose_k`: best offline silhouette, ties within
  0.01 to the smaller k); at the configured k (``SEGSTREAM_CLUSTER_COUNT``), the mean silhouette
  of the online model's partition of the final vectors, ``cluster_silhouette_cdnow_online``,
  beside offline k-means', ``cluster_silhouette_cdnow_offline`` (both on the same seeded sample
  of ``cluster_silhouette_sample`` customers), and its SSE ratio,
  ``cluster_sse_ratio_cdnow_default_features``.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import time
from collections import Counter
from collections.abc import Hashable, Sequence

from river import cluster
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score

from bench.harness import merge_results
from models import choose_k, evaluation
from models.assign import Assigner
from models.features import FeatureExtractor
from models.snapshot import ClusterSnapshot
from models.trainer import TrainerConfig
from streams.clusters.trainer import trainer_config
from streams.profile import Profile
from streams.profile.features import FeatureView
from streams.settings import Settings
from streams.traffic import PERSONAS

Vector = tuple[float, ...]
CDNOW_FEATURES = "log:avg_order_value, log:orders_lifetime, log:items_lifetime/orders_lifetime"
# Without the order count: features that do not grow with a customer's age.
CDNOW_BASKET_FEATURES = "log:avg_order_value, log:items_lifetime/orders_lifetime"
CDNOW_K = 4
FOLLOWED_ARI = 0.9  # agreement with offline k-means that counts as having followed a drift
UNMOVED = 0.5  # std units: a cluster whose centre moved less than this did not move


def config(settings: Settings, features: tuple[str, ...], k: int) -> TrainerConfig:
    """The trainer's configuration from settings, for these features and k."""
    return dataclasses.replace(trainer_config(settings), features=features, k=k)


def offline(vectors: Sequence[Vector], k: int, seed: int = 0) -> tuple[list[int], float]:
    """Offline k-means (scikit-learn, 10 restarts) on z-scores: labels and inertia."""
    model = KMeans(n_clusters=k, n_init=10, random_state=seed)
    labels = model.fit_predict(evaluation.standardize(vectors))
    return [int(label) for label in labels], float(model.inertia_)


def partition_sse(vectors: Sequence[Vector], labels: Sequence[Hashable]) -> float:
    """Within-cluster sum of squares of a partition, in the same z-scores as :func:`offline`."""
    return choose_k.inertia(evaluation.standardize(vectors), labels)


def smallest_share(labels: Sequence[Hashable]) -> float:
    return min(Counter(labels).values()) / len(labels)


def per_call_us(function: object, items: Sequence[object], rounds: int, repeats: int = 5) -> float:
    """Microseconds per call: the best of ``repeats`` timings of ``rounds`` passes over ``items``
    (the best, as timeit advises: the others measure the other processes of a shared machine)."""
    call = function  # a local name: the loop below is what is timed
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(rounds):
            for item in items:
                call(item)  # type: ignore[operator]
        timings.append((time.perf_counter() - started) / (rounds * len(items)) * 1e6)
    return min(timings)


def river_baseline(snapshot: ClusterSnapshot, vectors: Sequence[Vector]) -> float:
    """river's predict_one on the same centres and already scaled inputs (it has no scaler)."""
    model = cluster.KMeans(n_clusters=len(snapshot.clusters), halflife=0.5, seed=0)
    for index, c in enumerate(snapshot.clusters):
        model.centers[index].update(enumerate(c.centroid))
    scaled = [dict(enumerate(snapshot.scaler.scale(v))) for v in vectors]
    return per_call_us(model.predict_one, scaled, 3)


def simulated(settings: Settings, customers: int, days: float) -> dict[str, float]:
    extractor = FeatureExtractor.parse(settings.cluster_features)
    k = len(PERSONAS)
    population = evaluation.simulated_population(
        extractor, customers=customers, days=days, seed=3,
        sample_rate=settings.cluster_sample_rate, min_sessions=settings.cluster_min_sessions,
    )  # fmt: skip
    print(
        f"simulated: {population.events} events, {len(population.customers)} customers, "
        f"{len(population.samples)} samples",
        flush=True,
    )
    trainer_config = config(settings, extractor.names, k)
    snapshots = evaluation.train(trainer_config, population.samples)
    online = evaluation.assign_all(snapshots[-1], population.vectors)
    ari_online = adjusted_rand_score(population.truth, online)
    ari_offline = adjusted_rand_score(population.truth, offline(population.vectors, k)[0])
    print(f"ARI vs personas: online {ari_online:.3f}, offline k-means {ari_offline:.3f}")

    stationary = evaluation.stationary_samples(population.vectors, 20_000, seed=5)
    started = time.perf_counter()
    steady = evaluation.train(trainer_config, stationary)
    trainer_rate = len(stationary) / (time.perf_counter() - started)
    churn = evaluation.churn(steady[2:], population.vectors)
    print(f"churn between stationary snapshots (%): {[round(c, 2) for c in churn]}")

    final = steady[-1]
    assigner = Assigner(final)
    assign_us = per_call_us(assigner.nearest, population.vectors, 20)

    def vector_and_assign(profile: Profile) -> None:
        assigner.nearest(extractor.vector(FeatureView(profile, population.now)))

    vector_us = per_call_us(vector_and_assign, population.profiles, 5)
    river_us = river_baseline(final, population.vectors)
    print(
        f"assignment {assign_us:.2f} us, with feature vector {vector_us:.2f} us; "
        f"river KMeans.predict_one {river_us:.2f} us; trainer {trainer_rate:.0f} samples/s"
    )
    return {
        "cluster_ari_online": round(ari_online, 4),
        "cluster_ari_offline": round(ari_offline, 4),
        "cluster_ari_online_vs_offline_ratio": round(ari_online / ari_offline, 4),
        "cluster_churn_pct": round(max(churn), 3),
        "cluster_assign_us": round(assign_us, 3),
        "cluster_vector_us": round(vector_us, 3),
        "cluster_river_predict_us": round(river_us, 3),
        "cluster_assign_vs_river_predict": round(river_us / assign_us, 2),
        "cluster_trainer_samples_per_s": round(trainer_rate),
    }


def cdnow(settings: Settings, features: str) -> dict[str, float]:
    """The online model against offline k-means on the final CDNOW profiles (no ground truth)."""
    extractor = FeatureExtractor.parse(features)
    population = evaluation.cdnow_population(extractor, sample_rate=0.2, min_sessions=1)
    print(
        f"CDNOW ({features}): {population.events} purchases, {len(population.customers)} "
        f"customers, {len(population.samples)} samples",
        flush=True,
    )
    snapshots = evaluation.train(config(settings, extractor.names, CDNOW_K), population.samples)
    online = evaluation.assign_all(snapshots[-1], population.vectors)
    reference, inertia = offline(population.vectors, CDNOW_K)
    result = {
        "ari": adjusted_rand_score(reference, online),
        "seeds": adjusted_rand_score(reference, offline(population.vectors, CDNOW_K, seed=1)[0]),
        "sse_ratio": partition_sse(population.vectors, online) / inertia,
        "min_share_online": smallest_share(online),
        "min_share_offline": smallest_share(reference),
    }
    print("  " + ", ".join(f"{name} {value:.4f}" for name, value in result.items()))
    for c in snapshots[-1].clusters:
        print(f"  {c.id}: {c.description}")
    return result


def drift(settings: Settings, customers: int, days: float) -> dict[str, float]:
    """Half of the shoppers switch persona mid-run: how soon the model follows, which ids stay."""
    extractor = FeatureExtractor.parse(settings.cluster_features)
    k = len(PERSONAS)
    every = settings.cluster_publish_every
    run = evaluation.switched_population(
        extractor, customers=customers, days=days, seed=3, every=every,
        sample_rate=settings.cluster_sample_rate, min_sessions=settings.cluster_min_sessions,
    )  # fmt: skip
    snapshots = evaluation.train(config(settings, extractor.names, k), run.population.samples)
    agreement = {}
    for snapshot in snapshots:
        vectors = run.checkpoints.get(snapshot.samples_learned)
        if snapshot.samples_learned > run.switch_sample and vectors:
            online = evaluation.assign_all(snapshot, vectors)
            ari = adjusted_rand_score(offline(vectors, k)[0], online)
            agreement[snapshot.samples_learned - run.switch_sample] = ari
    print(f"drift: switch after {run.switch_sample} samples; ARI vs offline by samples after it:")
    print("  " + ", ".join(f"{n}: {ari:.3f}" for n, ari in agreement.items()))
    followed = [
        n for n in agreement if all(a >= FOLLOWED_ARI for m, a in agreement.items() if m >= n)
    ]
    before = [s for s in snapshots if s.samples_learned <= run.switch_sample][-1]
    unmoved, kept = _ids_kept(before, snapshots[-1])
    print(
        f"  followed after {followed[:1]} samples; lowest ARI after the switch "
        f"{min(agreement.values()):.3f}; {kept} of {unmoved} clusters that did not move "
        f"(of {len(before.clusters)}) kept their id"
    )
    return {
        "cluster_drift_follow_samples": float(followed[0]) if followed else -1.0,
        "cluster_drift_min_ari_vs_offline": round(min(agreement.values()), 4),
        "cluster_drift_unmoved_clusters": float(unmoved),
        "cluster_drift_unmoved_ids_kept": round(kept / unmoved, 4) if unmoved else 1.0,
    }


def choose_k_cdnow(settings: Settings) -> dict[str, float]:
    """``segstream clusters evaluate --cdnow`` for the default features, k = 3..12."""
    extractor = FeatureExtractor.parse(settings.cluster_features)
    population = evaluation.cdnow_population(
        extractor,
        sample_rate=settings.cluster_sample_rate,
        min_sessions=settings.cluster_min_sessions,
    )
    k = settings.cluster_count
    print(
        f"choosing k on CDNOW (default features): {len(population.customers)} customers, "
        f"{len(population.samples)} samples",
        flush=True,
    )
    ks = range(min(3, k), max(12, k) + 1)
    result = choose_k.evaluate(population, config(settings, extractor.names, k), ks, print)
    print(f"  suggested k = {result.suggestion.k}; {result.suggestion.warning or 'no warning'}")
    configured = next(row for row in result.rows if row.k == k)
    online = configured.online
    return {
        "cluster_suggested_k_cdnow": float(result.suggestion.k),
        "cluster_silhouette_cdnow_offline": configured.offline.silhouette,
        "cluster_silhouette_cdnow_online": online.silhouette if online else -1.0,
        "cluster_sse_ratio_cdnow_default_features": configured.sse_ratio or -1.0,
        "cluster_silhouette_sample": float(result.silhouette_sample),
    }


def _ids_kept(before: ClusterSnapshot, after: ClusterSnapshot) -> tuple[int, int]:
    """(clusters of ``before`` that did not move, how many of them kept their id in ``after``).

    Not moved: some cluster of ``after`` is within ``UNMOVED`` standard deviations of it (both in
    ``after``'s units); it kept its id if that nearest cluster has its id.
    """
    unmoved = kept = 0
    for old in before.clusters:
        centre = after.scaler.scale(before.scaler.unscale(old.centroid))
        nearest = min(after.clusters, key=lambda c: math.dist(c.centroid, centre))
        if math.dist(nearest.centroid, centre) <= UNMOVED:
            unmoved += 1
            kept += nearest.id == old.id
    return unmoved, kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=1500)
    parser.add_argument("--days", type=float, default=14.0)
    parser.add_argument("--drift-days", type=float, default=28.0)
    args = parser.parse_args()
    settings = Settings()
    results = simulated(settings, args.customers, args.days)
    full = cdnow(settings, CDNOW_FEATURES)
    basket = cdnow(settings, CDNOW_BASKET_FEATURES)
    results |= {
        "cluster_ari_cdnow": round(full["ari"], 4),
        "cluster_ari_cdnow_offline_seeds": round(full["seeds"], 4),
        "cluster_sse_ratio_cdnow": round(full["sse_ratio"], 4),
        "cluster_min_share_cdnow_online": round(full["min_share_online"], 4),
        "cluster_min_share_cdnow_offline": round(full["min_share_offline"], 4),
        "cluster_ari_cdnow_basket": round(basket["ari"], 4),
    }
    results |= drift(settings, args.customers, args.drift_days)
    results |= choose_k_cdnow(settings)
    merge_results(results)
    print(results)


if __name__ == "__main__":
    main()
