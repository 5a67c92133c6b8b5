"""The ``segstream`` command line. Each sub-command is a thin shell over a tested function."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from streams.errors import SegstreamError
from streams.settings import ENV_PREFIX, Settings

Command = Callable[[argparse.Namespace, Settings], int]


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
    run_trainer(settings)
    return 0


def _cmd_segments(args: argparse.Namespace, settings: Settings) -> int:
    from streams.dependencies import redis_client
    from streams.sink.redis_keys import customer_key

    client = redis_client(settings)
    raw = client.hgetall(customer_key(settings.redis_key_prefix, args.customer_id))
    memberships = {_text(k): json.loads(v) for k, v in sorted(raw.items())}
    if args.json:
        print(json.dumps({"customer_id": args.customer_id, "segments": memberships}, indent=2))
    elif not memberships:
        print(f"{args.customer_id}: no segments")
    else:
        for segment_id, info in memberships.items():
            print(
                f"{args.customer_id}  {segment_id:<24} {info['variant']:<10} since {info['since']}"
            )
    return 0


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


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

    if args.action == "up":
        stack.up(settings)
    elif args.action == "down":
        stack.down(settings)
    for service in stack.status(settings):
        state = f"running (pid {service.pid})" if service.running else "stopped"
        print(f"{service.name:<6} {state:<22} {service.address}")
    return 0


def _cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from streams.demo import run_demo

    return run_demo(settings, customers=args.customers, rate=args.rate, keep_stack=args.keep_stack)


def _cmd_rules(args: argparse.Namespace, settings: Settings) -> int:
    from rules.loader import RuleFileError, load_rules, rule_files

    directory = args.dir or settings.rules_dir
    if directory is None:
        raise CliError("give --dir or set SEGSTREAM_RULES_DIR")
    files = rule_files(directory)
    if not files:
        raise CliError(f"no *.yaml rule files in {directory}")
    try:
        rules = load_rules(files)
    except RuleFileError as exc:
        print(exc, file=sys.stderr)
        print(f"{len(exc.problems)} problem(s); nothing was changed", file=sys.stderr)
        return 2
    print(f"{len(files)} file(s), {len(rules.rules)} segments, version {rules.version}: OK")
    for rule in rules.rules:
        holdout = f"  holdout {rule.holdout:.0%}" if rule.holdout else ""
        print(f"  {rule.id:<28} {rule.location}{holdout}")
    return 0


def _cmd_explain(args: argparse.Namespace, settings: Settings) -> int:
    import urllib.error
    import urllib.parse
    import urllib.request

    from rules.explain import Part, Verdict, format_verdicts

    customer = urllib.parse.quote(args.customer_id, safe="")
    url = f"http://{settings.web_host}:{settings.web_port}/segstream/explain/{customer}/"
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # the local worker's web port
            answer = json.load(response)
    except (urllib.error.URLError, OSError) as exc:
        raise CliError(
            f"no worker answered at {url} ({exc}): start one, or set SEGSTREAM_WEB_PORT"
        ) from exc
    if args.json:
        print(json.dumps(answer, indent=2))
        return 0
    if not answer["found"]:
        print(f"{args.customer_id}: no profile")
        return 1
    verdicts = [
        Verdict(v["segment_id"], v["member"], v["variant"],
                tuple(Part(p["text"], p["value"]) for p in v["parts"]), v["features"])
        for v in answer["verdicts"]
    ]  # fmt: skip
    print(format_verdicts(args.customer_id, verdicts))
    print(format_cluster(answer.get("cluster") or {}))
    print(f"  rules {answer['rules_version']}; consent {answer['consent']}")
    return 0


def format_cluster(cluster: dict[str, Any]) -> str:
    """The cluster part of ``segstream explain``: the segment, why, and the runner-up distances."""
    if cluster.get("status") != "assigned":
        return f"  cluster: {cluster.get('status', 'unknown')}"
    distances = sorted(cluster["distances"].items(), key=lambda item: item[1])
    nearest = ", ".join(f"{cid} {d:.2f}" for cid, d in distances[:3])
    return (
        f"  cluster: {cluster['segment_id']:<28} IN ({cluster['model_version']})\n"
        f"      {cluster['description']}\n"
        f"      distance to centroids (std units): {nearest}"
    )


def _cmd_features(args: argparse.Namespace, settings: Settings) -> int:
    from streams.profile.features import FEATURES, features_markdown

    if args.markdown:
        print(features_markdown(), end="")
        return 0
    for feature in FEATURES:
        print(f"{feature.name:<30} {feature.type:<7} {feature.description}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="segstream",
        description=f"Real-time customer segmentation. Settings: {ENV_PREFIX}* variables.",
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

    sim = sub.add_parser("simulate", help="send realistic demo traffic to Kafka")
    sim.add_argument("--customers", type=int, default=1000)
    sim.add_argument("--rate", type=float, default=200.0, help="events/s (0 = unlimited)")
    sim.add_argument("--duration", type=float, default=None, help="seconds (default: forever)")
    sim.add_argument("--truth", type=Path, default=None, help="write customer->persona CSV")
    sim.add_argument("--seed", type=int, default=7)
    sim.add_argument("--history-days", type=float, default=0.0, help="backfill days first")
    sim.set_defaults(run=_cmd_simulate)

    dev = sub.add_parser("dev", help="local Kafka + Redis without Docker")
    dev.add_argument("action", choices=["up", "down", "status"])
    dev.set_defaults(run=_cmd_dev)

    demo = sub.add_parser("demo", help="dev stack + worker + simulator, segment counts live")
    demo.add_argument("--customers", type=int, default=2000)
    demo.add_argument("--rate", type=float, default=300.0)
    demo.add_argument("--keep-stack", action="store_true", help="leave Kafka and Redis running")
    demo.set_defaults(run=_cmd_demo)

    explain_cmd = sub.add_parser("explain", help="why a customer is in or out of each segment")
    explain_cmd.add_argument("customer_id")
    explain_cmd.add_argument("--json", action="store_true")
    explain_cmd.set_defaults(run=_cmd_explain)

    rules_cmd = sub.add_parser("rules", help="marketer tools for segment rule files")
    rules_cmd.add_argument("action", choices=["check"])
    rules_cmd.add_argument("--dir", type=Path, default=None, help="default: SEGSTREAM_RULES_DIR")
    rules_cmd.set_defaults(run=_cmd_rules)

    features = sub.add_parser("features", help="list profile features rules can use")
    features.add_argument("--markdown", action="store_true", help="as docs/features.md")
    features.set_defaults(run=_cmd_features)
    return parser


def _settings_or_exit() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ENV_PREFIX + str(first["loc"][0]).upper() if first["loc"] else "settings"
        raise CliError(f"bad setting {name}: {first['msg']}") from exc


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = _settings_or_exit()
        code: int = args.run(args, settings)
        return code
    except KeyboardInterrupt:
        return 130
    except SegstreamError as exc:
        print(f"segstream: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
