"""The ``segstream`` command line. Each sub-command is a thin shell over a tested function."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from streams.cli_args import at_least_one, non_negative, port_number, port_or_any, positive
from streams.cli_boundary import EXIT_CODES_HELP, failure_line, quiet_broken_pipe
from streams.clusters.cli import add_clusters_parser
from streams.errors import (
    EXIT_BROKEN_PIPE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_UNHEALTHY,
    SegstreamError,
    UnavailableError,
    check_port_free,
)
from streams.resync_cli import add_resync_parser
from streams.rules_cli import add_rules_parser
from streams.settings import ENV_PREFIX, Settings

Command = Callable[[argparse.Namespace, Settings], int]

# Set to 1 to see the whole traceback of an internal error (exit code 4) instead of its one line.
TRACEBACK_VARIABLE = "SEGSTREAM_TRACEBACK"


class CliError(SegstreamError):
    """Printed as one line, exit status 2."""


def _cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from streams.worker import run_worker

    run_worker(settings)
    return 0


def _cmd_trainer(args: argparse.Namespace, settings: Settings) -> int:
    from streams.clusters.trainer import run_trainer
    from streams.dependencies import kafka_admin

    kafka_admin(settings).close()  # one clear line when Kafka is not there
    print(f"trainer of app {settings.app_id}: learning clusters from the workers' samples "
          "(Ctrl-C to stop)", flush=True)  # fmt: skip
    run_trainer(settings)
    return 0


def _cmd_segments(args: argparse.Namespace, settings: Settings) -> int:
    import time

    from streams.client import SegmentClient, format_segments

    customer = SegmentClient.from_settings(settings).segments(args.customer_id)
    if args.json:
        print(customer.model_dump_json(indent=2))
    else:
        print(format_segments(customer, time.time()))
    return 0


def _cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    from streams.dependencies import redis_client
    from streams.report import format_report, read_report
    from streams.sink.aggregates import read_partitions

    client, prefix = redis_client(settings), settings.redis_key_prefix
    partitions = read_partitions(client, prefix, settings.topic_partitions)
    reports = read_report(client, prefix, partitions)
    if args.json:
        print(json.dumps([report.to_json() for report in reports], indent=2))
    else:
        print(format_report(reports))
    return 0


def _cmd_storefront(args: argparse.Namespace, settings: Settings) -> int:
    from streams.storefront import serve

    if args.port:  # 0: any free port
        check_port_free(args.host, args.port, "--port")
    serve(settings, args.host, args.port)
    return 0


def _cmd_simulate(args: argparse.Namespace, settings: Settings) -> int:
    from streams.traffic import run_simulation

    run_simulation(
        settings,
        customers=args.customers,
        rate=args.rate,
        duration_s=args.duration,
        truth_path=args.truth,
        seed=args.seed,
        history_days=args.history_days,
    )
    return 0


def _cmd_dev(args: argparse.Namespace, settings: Settings) -> int:
    from streams import stack

    if args.brokers is not None:
        settings = settings.model_copy(update={"dev_kafka_brokers": args.brokers})
    if args.redis_cluster:
        settings = settings.model_copy(update={"redis_cluster": True})
    if args.action == "up":
        stack.up(settings)
    elif args.action == "down":
        stack.down(settings)
    services = stack.status(settings)
    width = max(7, *(len(service.name) for service in services))
    for service in services:
        state = f"running (pid {service.pid})" if service.running else "stopped"
        print(f"{service.name:<{width}} {state:<22} {service.address}")
    return 0


def _cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from streams.demo import run_demo

    # Before the stack starts: a taken port would otherwise fail a child minutes later.
    check_port_free("127.0.0.1", args.storefront_port, "--storefront-port")
    check_port_free(settings.web_host, settings.web_port, "SEGSTREAM_WEB_PORT")
    return run_demo(
        settings,
        customers=args.customers,
        rate=args.rate,
        keep_stack=args.keep_stack,
        storefront_port=args.storefront_port,
    )


def _cmd_explain(args: argparse.Namespace, settings: Settings) -> int:
    from rules.explain import format_merged

    answer = _ask_explain(settings, args.customer_id)
    if args.json:
        print(json.dumps(answer, indent=2))
        return EXIT_OK if answer["found"] else EXIT_UNHEALTHY
    if not answer["found"]:
        print(f"{args.customer_id}: no profile")
        return EXIT_UNHEALTHY
    merged_into = answer.get("merged_into")
    if merged_into:
        # An alias's own profile is frozen at the merge: its verdicts would show segments the
        # alias does not have. Its segments are the customer's, so explain the customer.
        print(format_merged(args.customer_id, merged_into, answer.get("published") or []))
        answer = _ask_explain(settings, merged_into)
        if not answer["found"]:
            print(f"{merged_into}: no profile")
            return EXIT_UNHEALTHY
        return _print_explanation(merged_into, answer)
    return _print_explanation(args.customer_id, answer)


def _ask_explain(settings: Settings, customer_id: str) -> dict[str, Any]:
    """The explanation of the worker that owns the customer (Faust routes the request there)."""
    import urllib.error
    import urllib.parse
    import urllib.request

    customer = urllib.parse.quote(customer_id, safe="")
    url = f"http://{settings.web_host}:{settings.web_port}/segstream/explain/{customer}/"
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # the local worker's web port
            answer: dict[str, Any] = json.load(response)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise UnavailableError(
            f"no worker answered at {url} ({exc}): start one, or set SEGSTREAM_WEB_PORT"
        ) from exc
    return answer


def _print_explanation(customer_id: str, answer: dict[str, Any]) -> int:
    from rules.explain import Part, Verdict, format_verdicts

    verdicts = [
        Verdict(v["segment_id"], v["member"], v["variant"],
                tuple(Part(p["text"], p["value"]) for p in v["parts"]), v["features"])
        for v in answer["verdicts"]
    ]  # fmt: skip
    print(format_verdicts(customer_id, verdicts))
    print(format_cluster(answer.get("cluster") or {}))
    print(f"  rules {answer['rules_version']}; consent {answer['consent']}")
    return EXIT_OK


def _cmd_lag(args: argparse.Namespace, settings: Settings) -> int:
    from streams.ops.lag import format_lag, lag_json, measure

    groups, estimates = measure(settings, args.interval)
    if args.json:
        print(json.dumps(lag_json(groups, estimates), indent=2))
    else:
        print(format_lag(groups, estimates))
    return 0


def _cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    from streams.ops.status import collect, format_status, problems, status_json

    status = collect(settings)
    print(json.dumps(status_json(status), indent=2) if args.json else format_status(status))
    return EXIT_UNHEALTHY if problems(status) else EXIT_OK


def format_cluster(cluster: dict[str, Any]) -> str:
    """The cluster part of ``segstream explain``: the segment, why, and the runner-up distances."""
    if cluster.get("status") != "assigned":
        return f"  cluster: {cluster.get('status', 'unknown')}"
    distances = sorted(cluster["distances"].items(), key=lambda item: item[1])
    nearest = ", ".join(f"{cid} {d:.2f}" for cid, d in distances[:3])
    return (
        f"  cluster: {cluster['segment_id']:<28} IN ({_variant_and(cluster)})\n"
        f"      {cluster['description']}\n"
        f"      distance to centroids (std units): {nearest}"
    )


def _variant_and(cluster: dict[str, Any]) -> str:
    """"control, clusters-v3" for a held-out member, as rule verdicts name their variant."""
    variant = cluster.get("variant", "treatment")
    model = cluster["model_version"]
    return model if variant == "treatment" else f"{variant}, {model}"


def _cmd_features(args: argparse.Namespace, settings: Settings) -> int:
    from rules.loader import RuleFileError, load_rule_dir
    from rules.ruleset import DEFAULT_CATEGORIES
    from streams.profile.features import FEATURES, features_markdown

    if args.markdown:
        print(features_markdown(), end="")
        return 0
    for feature in FEATURES:
        print(f"{feature.name:<30} {feature.type:<7} {feature.description}")
    # affinity['...'] and top_category may name only these: the rule files' own, if they declare
    # any, else the default (the demo shop's and CDNOW's).
    categories: tuple[str, ...] = DEFAULT_CATEGORIES
    source = "default; rule files may declare their own"
    if settings.rules_dir is not None:
        try:
            categories = load_rule_dir(settings.rules_dir).categories
            source = f"from {settings.rules_dir}"
        except RuleFileError:
            source += f"; the rule files in {settings.rules_dir} do not load: segstream rules check"
    print(f"\ncategories for affinity['...'] and top_category ({source}):")
    print("  " + ", ".join(categories))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="segstream",
        description=f"Real-time customer segmentation. Settings: {ENV_PREFIX}* variables.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("worker", help="run a stream worker").set_defaults(run=_cmd_worker)
    sub.add_parser(
        "trainer", help="learn behavioural clusters from workers' samples; publish models"
    ).set_defaults(run=_cmd_trainer)

    seg = sub.add_parser("segments", help="show a customer's current segments from Redis")
    seg.add_argument("customer_id")
    seg.add_argument("--json", action="store_true")
    seg.set_defaults(run=_cmd_segments)

    report = sub.add_parser("report", help="segment success: treatment vs control, with lift")
    report.add_argument("--json", action="store_true")
    report.set_defaults(run=_cmd_report)

    shop = sub.add_parser("storefront", help="the reference storefront page, on loopback")
    shop.add_argument("--host", default="127.0.0.1")
    shop.add_argument("--port", type=port_or_any, default=8080, help="0: any free port")
    shop.set_defaults(run=_cmd_storefront)

    sim = sub.add_parser("simulate", help="send realistic demo traffic to Kafka")
    sim.add_argument("--customers", type=at_least_one, default=1000)
    sim.add_argument("--rate", type=non_negative, default=200.0, help="events/s (0 = unlimited)")
    sim.add_argument("--duration", type=positive, default=None, help="seconds (default: forever)")
    sim.add_argument("--truth", type=Path, default=None, help="write customer->persona CSV")
    sim.add_argument("--seed", type=int, default=7)
    sim.add_argument("--history-days", type=non_negative, default=0.0, help="backfill days first")
    sim.set_defaults(run=_cmd_simulate)

    _add_dev_parser(sub)

    demo = sub.add_parser("demo", help="dev stack + worker + simulator, segment counts live")
    demo.add_argument("--customers", type=at_least_one, default=2000)
    demo.add_argument("--rate", type=non_negative, default=300.0, help="events/s (0 = unlimited)")
    demo.add_argument("--keep-stack", action="store_true", help="leave Kafka and Redis running")
    demo.add_argument("--storefront-port", type=port_number, default=8080)
    demo.set_defaults(run=_cmd_demo)

    explain_cmd = sub.add_parser("explain", help="why a customer is in or out of each segment")
    explain_cmd.add_argument("customer_id")
    explain_cmd.add_argument("--json", action="store_true")
    explain_cmd.set_defaults(run=_cmd_explain)

    add_rules_parser(sub)
    add_clusters_parser(sub)
    add_resync_parser(sub)

    lag = sub.add_parser("lag", help="consumer lag per partition and time to catch up")
    lag.add_argument(
        "--interval", type=non_negative, default=5.0, help="seconds between two readings (0: one)"
    )
    lag.add_argument("--json", action="store_true")
    lag.set_defaults(run=_cmd_lag)

    status = sub.add_parser("status", help="workers, versions, lag, freshness, dead letters, Redis")
    status.add_argument("--json", action="store_true")
    status.set_defaults(run=_cmd_status)

    features = sub.add_parser("features", help="list profile features rules can use")
    features.add_argument("--markdown", action="store_true", help="as docs/features.md")
    features.set_defaults(run=_cmd_features)
    return parser


def _add_dev_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    dev = sub.add_parser("dev", help="local Kafka + Redis without Docker")
    dev.add_argument("action", choices=["up", "down", "status"])
    dev.add_argument(
        "--brokers",
        type=int,
        choices=range(1, 10),
        metavar="N",
        help="Kafka brokers (KRaft, 1-9; SEGSTREAM_DEV_KAFKA_BROKERS); default: as many as "
        "SEGSTREAM_KAFKA_BOOTSTRAP lists",
    )
    dev.add_argument(
        "--redis-cluster",
        action="store_true",
        help="Redis as a 6-node Redis Cluster (3 primaries, 3 replicas) from SEGSTREAM_REDIS_URL's "
        "port on (SEGSTREAM_REDIS_CLUSTER=true)",
    )
    dev.set_defaults(run=_cmd_dev)


def _settings_or_exit() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ENV_PREFIX + str(first["loc"][0]).upper() if first["loc"] else "settings"
        raise CliError(f"bad setting {name}: {first['msg']}") from exc


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; whatever happens, at most one line on stderr and a documented exit code."""
    settings: Settings | None = None
    try:
        args = _parser().parse_args(argv)  # usage errors: argparse's message, exit code 2
        settings = _settings_or_exit()
        code: int = args.run(args, settings)
        sys.stdout.flush()  # a reader gone away shows here, not in the interpreter's final flush
        return code
    except BrokenPipeError:
        quiet_broken_pipe()
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception as exc:
        if os.environ.get(TRACEBACK_VARIABLE) == "1":
            raise
        code, line = failure_line(exc, settings)
        print(f"segstream: {line}", file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())
