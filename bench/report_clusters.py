"""The "## Clusters" section of bench/RESULTS.md, from the ``cluster_*`` figures of results.json.

Every figure of ``bench/clusters.py`` stands next to its same-run baseline (offline k-means on the
same vectors, or river for the assignment cost), so the section reads the same on any host; a
figure missing from an older run shows as "n/a", and any ``cluster_*`` key not named below is listed
at the end, so nothing measured is left out.

>>> lines = clusters_section({"cluster_sse_ratio_cdnow": 1.0006, "cluster_new_thing": 3})
>>> row = next(line for line in lines if line.endswith("`cluster_sse_ratio_cdnow` |"))
>>> lines[0], row.split(" | ")[1:3]
('## Clusters', ['1.0006', '1'])
>>> lines[-2]
'Other cluster figures: `cluster_new_thing` = 3.'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MISSING = "n/a"

# (what, online key, same-run baseline key or a fixed baseline text, what the baseline is)
ROWS: tuple[tuple[str, str, str, str], ...] = (
    ("ARI vs the simulator's personas", "cluster_ari_online", "cluster_ari_offline",
     "offline k-means (scikit-learn, 10 restarts) on the final profiles"),
    ("ARI online / offline vs personas", "cluster_ari_online_vs_offline_ratio", "=1",
     "1 = as good as offline k-means"),
    ("ARI vs offline k-means, final CDNOW profiles", "cluster_ari_cdnow",
     "cluster_ari_cdnow_offline_seeds", "offline k-means vs itself with another seed"),
    ("ARI vs offline k-means, CDNOW basket-only features", "cluster_ari_cdnow_basket",
     "cluster_ari_cdnow_offline_seeds", "offline vs another seed (all features)"),
    ("within-cluster SSE on the final CDNOW vectors (standardized), online / offline",
     "cluster_sse_ratio_cdnow", "=1", "offline k-means' inertia = 1"),
    ("smallest cluster's share of CDNOW customers", "cluster_min_share_cdnow_online",
     "cluster_min_share_cdnow_offline", "offline k-means' smallest cluster"),
    ("suggested k on CDNOW, default features (best offline silhouette)",
     "cluster_suggested_k_cdnow", "=k 3..12", "the range compared"),
    ("mean silhouette on CDNOW, default features, configured k", "cluster_silhouette_cdnow_online",
     "cluster_silhouette_cdnow_offline", "offline k-means, same sample of customers"),
    ("within-cluster SSE on CDNOW, default features, configured k, online / offline",
     "cluster_sse_ratio_cdnow_default_features", "=1", "offline k-means' inertia = 1"),
    ("customers the silhouettes are computed on (seeded sample)", "cluster_silhouette_sample",
     "=", ""),
    ("churn between stationary snapshots (largest, %)", "cluster_churn_pct", "=< 1",
     "the issue's bound"),
    ("drift: samples after the switch until the model follows (ARI ≥ 0.9 vs offline)",
     "cluster_drift_follow_samples", "=", "offline k-means on each moment's vectors"),
    ("drift: lowest ARI vs offline after the switch", "cluster_drift_min_ari_vs_offline", "=",
     "offline k-means on each moment's vectors"),
    ("drift: clusters that did not move, share that kept its id",
     "cluster_drift_unmoved_ids_kept", "cluster_drift_unmoved_clusters",
     "clusters that did not move"),
    ("assign one vector (µs)", "cluster_assign_us", "cluster_river_predict_us",
     "river KMeans.predict_one on the same centres (µs)"),
    ("river predict / assign (x)", "cluster_assign_vs_river_predict", "=", "same run"),
    ("read the feature vector and assign (µs)", "cluster_vector_us", "=", ""),
    ("trainer: samples learnt per second, refits included", "cluster_trainer_samples_per_s",
     "=", ""),
)  # fmt: skip


def clusters_section(values: Mapping[str, Any]) -> list[str]:
    """The section's lines: a table of every cluster figure with its baseline, then the rest."""
    lines = [
        "## Clusters",
        "",
        "From `bench/clusters.py` (`bash scripts/bench.sh clusters`), every figure beside its "
        "same-run baseline.",
        "",
        "| figure | value | baseline | baseline is | keys |",
        "|---|---:|---:|---|---|",
    ]
    for what, key, baseline, meaning in ROWS:
        keys = f"`{key}`" + (f", `{baseline}`" if not baseline.startswith("=") else "")
        lines.append(
            f"| {what} | {_value(values, key)} | {_baseline(values, baseline)} | {meaning} | "
            f"{keys} |"
        )
    named = {key for _, key, _, _ in ROWS} | {b for _, _, b, _ in ROWS}
    others = sorted(k for k in values if k.startswith("cluster_") and k not in named)
    lines.append("")
    if others:
        listed = ", ".join(f"`{k}` = {_value(values, k)}" for k in others)
        lines.append(f"Other cluster figures: {listed}.")
    lines.append("")
    return lines


def _baseline(values: Mapping[str, Any], baseline: str) -> str:
    if baseline.startswith("="):
        return baseline.removeprefix("=") or MISSING
    return _value(values, baseline)


def _value(values: Mapping[str, Any], key: str) -> str:
    value = values.get(key)
    if value is None:
        return MISSING
    if isinstance(value, float) and value.is_integer():
        return f"{int(value):,}"
    return f"{value:,}" if isinstance(value, int | float) else str(value)
