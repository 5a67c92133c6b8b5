"""``segstream clusters evaluate | show``: choose k and features with evidence; read the model.

* ``evaluate`` replays a history (CDNOW or a file of JSON events) through profiles as workers do,
  then for each k compares offline k-means with the model the trainer would publish
  (:mod:`models.choose_k`). No Kafka, no Redis.
* ``show`` reads the published model where workers read it (the compacted models topic) and says
  what each cluster means: its centroid in the features' own units and how it differs from the
  population the trainer fitted.

Imports of numpy, the replay and Kafka happen inside the commands (``noqa: PLC0415``), as in
``streams/cli.py``: ``segstream --help`` imports this module and should start fast.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from models.describe import differences, own_units
from models.features import NUMERIC, FeatureExtractor, FeatureSpecError
from models.snapshot import Cluster, ClusterSnapshot
from streams.errors import EXIT_OK, EXIT_UNHEALTHY, SegstreamError
from streams.settings import Settings

if TYPE_CHECKING:  # numpy and the replay: imported by `evaluate` only, not by every command
    from models import choose_k, evaluation

DEFAULT_KS = (3, 12)
MAX_K = 64  # as SEGSTREAM_CLUSTER_COUNT
SHOWN_DIFFERENCES = 3


class ClustersCliError(SegstreamError):
    """Printed as one line, exit status 2."""


def k_range(text: str) -> tuple[int, int]:
    """``3..12`` or ``5``: the smallest and largest k, 2 <= lo <= hi <= 64.

    >>> k_range("3..12"), k_range("5")
    ((3, 12), (5, 5))
    """
    low, _, high = text.partition("..")
    try:
        bounds = (int(low), int(high or low))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: expected LOW..HIGH, e.g. 3..12") from exc
    if not 2 <= bounds[0] <= bounds[1] <= MAX_K:
        raise argparse.ArgumentTypeError(f"{text!r}: need 2 <= LOW <= HIGH <= {MAX_K}")
    return bounds


def add_clusters_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    clusters = sub.add_parser(
        "clusters", help="choose k and features with evidence; show the model"
    )
    actions = clusters.add_subparsers(dest="clusters_action", required=True)
    evaluate = actions.add_parser(
        "evaluate", help="per k: offline k-means and the online model on a replayed history"
    )
    history = evaluate.add_mutually_exclusive_group()  # neither: one line, exit 2
    history.add_argument(
        "--cdnow",
        nargs="?",
        type=Path,
        const=Path(),
        default=None,
        help="replay the CDNOW purchase history (optional path)",
    )
    history.add_argument(
        "--events", type=Path, default=None, help="replay a file of JSON events, one per line"
    )
    evaluate.add_argument(
        "--k",
        type=k_range,
        default=DEFAULT_KS,
        metavar="LOW..HIGH",
        help="the ks to compare (default 3..12)",
    )
    evaluate.add_argument(
        "--features",
        default=None,
        help="comma-separated feature specs (default: SEGSTREAM_CLUSTER_FEATURES)",
    )
    evaluate.add_argument("--json", action="store_true")
    evaluate.set_defaults(run=run_evaluate)
    show = actions.add_parser("show", help="the published model: what each cluster means")
    show.add_argument("--json", action="store_true")
    show.set_defaults(run=run_show)  # fmt: skip


def extractor_for(features: str | None, settings: Settings) -> FeatureExtractor:
    """The features to evaluate; a bad spec is one line listing the valid feature names."""
    try:
        return FeatureExtractor.parse(features or settings.cluster_features)
    except FeatureSpecError as exc:
        raise ClustersCliError(
            f"{exc}; valid features: {', '.join(sorted(NUMERIC))} "
            "(also a/b, log:<spec> and affinity_share:<category>)"
        ) from exc


def run_evaluate(args: argparse.Namespace, settings: Settings) -> int:
    from models import choose_k  # noqa: PLC0415
    from streams.clusters.trainer import trainer_config  # noqa: PLC0415

    extractor = extractor_for(args.features, settings)
    population, label, rejected = _population(args, settings, extractor)
    low, high = args.k
    if len(population.customers) <= high:
        raise ClustersCliError(
            f"{label}: {len(population.customers)} customers with at least "
            f"{settings.cluster_min_sessions} sessions (SEGSTREAM_CLUSTER_MIN_SESSIONS): "
            f"too few for k up to {high}"
        )
    _progress(
        f"{label}: {population.events:,} events ({rejected:,} invalid, skipped), "
        f"{len(population.customers):,} customers; k-means for k = {low}..{high} ..."
    )
    config = dataclasses.replace(trainer_config(settings), features=extractor.names)
    result = choose_k.evaluate(population, config, range(low, high + 1), _progress)
    if args.json:
        print(json.dumps(evaluation_json(result, label, population.events, rejected), indent=2))
    else:
        print(choose_k.format_evaluation(result, label))
    return EXIT_OK


def _population(
    args: argparse.Namespace, settings: Settings, extractor: FeatureExtractor
) -> tuple[evaluation.Population, str, int]:
    from models import evaluation  # noqa: PLC0415
    from streams.replay.history import events_file  # noqa: PLC0415

    def progress(events: int) -> None:
        _progress(f"  replayed {events:,} events ...")

    options: dict[str, Any] = {
        "sample_rate": settings.cluster_sample_rate,
        "min_sessions": settings.cluster_min_sessions,
        "progress": progress,
    }
    if args.events is None and args.cdnow is None:
        raise ClustersCliError("give the history to replay: --cdnow [PATH] or --events FILE")
    if args.events is not None:
        if not args.events.is_file():
            raise ClustersCliError(f"--events {args.events}: no such file")
        population, rejected = evaluation.events_population(
            extractor, events_file(args.events), **options
        )
        return population, str(args.events), rejected
    path = args.cdnow if args.cdnow != Path() else None
    if path is not None and not path.is_file():
        raise ClustersCliError(f"--cdnow {path}: no such file")
    _progress("replaying the CDNOW purchase history (69,659 purchases: about half a minute) ...")
    if path is not None:
        options["path"] = path
    return evaluation.cdnow_population(extractor, **options), "CDNOW", 0


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def evaluation_json(
    result: choose_k.Evaluation, source: str, events: int, rejected: int
) -> dict[str, Any]:
    from models.choose_k import SILHOUETTE_SEED  # noqa: PLC0415

    body = dataclasses.asdict(result)
    body["features"] = list(result.features)
    return {
        "source": source,
        "events": events,
        "rejected": rejected,
        "silhouette": {
            "sample": result.silhouette_sample,
            "seed": SILHOUETTE_SEED,
            "note": "computed on a seeded uniform sample of customers (silhouette is O(n^2))",
        },
        **body,
    }


def run_show(args: argparse.Namespace, settings: Settings) -> int:
    snapshot = _published(settings)
    if snapshot is None:
        print(
            f"no cluster model published for app {settings.app_id} yet: the trainer publishes "
            f"one after {settings.cluster_min_samples} samples (segstream trainer, workers running)"
        )
        return EXIT_UNHEALTHY
    configured = settings.cluster_feature_names
    if args.json:
        print(json.dumps(show_json(snapshot, configured), indent=2))
    else:
        print(format_show(snapshot, configured))
    return EXIT_OK


def _published(settings: Settings) -> ClusterSnapshot | None:
    """The newest snapshot on the models topic; None without one (the topic is not created)."""
    from streams.clusters.trainer import read_latest_snapshot  # noqa: PLC0415
    from streams.dependencies import kafka_admin  # noqa: PLC0415
    from streams.topics import cluster_models_topic  # noqa: PLC0415

    admin = kafka_admin(settings)
    try:
        exists = cluster_models_topic(settings) in admin.list_topics()
    finally:
        admin.close()
    return read_latest_snapshot(settings) if exists else None


def show_json(snapshot: ClusterSnapshot, configured: tuple[str, ...]) -> dict[str, Any]:
    total = sum(c.size for c in snapshot.clusters) or 1
    return {
        "version": snapshot.version,
        "label": snapshot.label,
        "created_at": snapshot.created_at,
        "features": list(snapshot.features),
        "features_as_configured": snapshot.features == configured,
        "population": snapshot.scaler.count,
        "overall": _own_units(snapshot.features, snapshot.scaler.mean),
        "clusters": [_cluster_json(snapshot, c, total) for c in snapshot.clusters],
    }


def _cluster_json(snapshot: ClusterSnapshot, cluster: Cluster, total: int) -> dict[str, Any]:
    ranked = differences(snapshot.features, snapshot.scaler, cluster.centroid)
    return {
        "id": cluster.id,
        "segment_id": cluster.segment_id,
        "name": cluster.name,
        "size": cluster.size,
        "share": round(cluster.size / total, 4),
        "description": cluster.description,
        "centroid": _own_units(snapshot.features, snapshot.scaler.unscale(cluster.centroid)),
        "differences": [dataclasses.asdict(d) for d in ranked[:SHOWN_DIFFERENCES]],
    }


def _own_units(features: tuple[str, ...], values: tuple[float, ...]) -> dict[str, float]:
    return dict(own_units(spec, value) for spec, value in zip(features, values, strict=True))


def format_show(snapshot: ClusterSnapshot, configured: tuple[str, ...]) -> str:
    """What ``segstream clusters show`` prints: per cluster its size, meaning and centroid."""
    body = show_json(snapshot, configured)
    lines = [
        f"{snapshot.label}: {len(snapshot.clusters)} clusters of {body['population']:,} customers "
        f"(the trainer's population), {snapshot.samples_learned:,} samples learnt",
        "values in the features' own units; log: features back-transformed (typical values)",
    ]
    if not body["features_as_configured"]:
        lines.append(
            "warning: learnt on other features than SEGSTREAM_CLUSTER_FEATURES: workers ignore it"
        )
    for cluster, shown in zip(snapshot.clusters, body["clusters"], strict=True):
        ranked = differences(snapshot.features, snapshot.scaler, cluster.centroid)
        name = f" ({cluster.name})" if cluster.name else ""
        lines += [
            "",
            f"{cluster.id}{name} {cluster.segment_id}: {cluster.size:,} customers "
            f"({shown['share']:.1%}), {cluster.description}",
            "  " + "; ".join(str(d) for d in ranked[:SHOWN_DIFFERENCES]),
            "  centroid: " + ", ".join(f"{k} {v:.3g}" for k, v in shown["centroid"].items()),
        ]
    return "\n".join(lines)
