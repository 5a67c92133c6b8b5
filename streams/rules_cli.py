"""`segstream rules ...`: the marketer's commands. Each is a thin shell over tested functions."""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from rules.loader import RuleFileError, load_rule_dir, load_rules, rule_files
from streams.errors import SegstreamError
from streams.settings import Settings

if TYPE_CHECKING:
    from rules.ruleset import RuleSet


class RulesCliError(SegstreamError):
    pass


def add_rules_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    rules = sub.add_parser("rules", help="marketer tools for segment rule files")
    rules.add_argument("action", choices=["check", "publish", "watch", "preview", "status"])
    rules.add_argument("--dir", type=Path, default=None, help="default: SEGSTREAM_RULES_DIR")
    rules.add_argument("--no-wait", action="store_true", help="publish: do not follow rollout")
    rules.add_argument("--timeout", type=float, default=600.0, help="publish: wait at most (s)")
    rules.add_argument("--interval", type=float, default=0.5, help="watch: seconds between looks")
    rules.add_argument("--base", type=Path, default=None,
                       help="preview: rules to compare with (default: the published version)")
    rules.add_argument("--events", type=Path, default=None,
                       help="preview: history as JSON lines, one event per line")
    rules.add_argument("--cdnow", nargs="?", type=Path, const=Path(), default=None,
                       help="preview: replay the CDNOW purchase history (optional path)")
    rules.add_argument("--at", default=None, help="preview: evaluate at this ISO time "
                       "(default: the history's last event)")
    rules.add_argument("--samples", type=int, default=5, help="preview: ids shown per change")
    rules.add_argument("--json", action="store_true", help="preview, status: JSON output")
    rules.set_defaults(run=run_rules)  # fmt: skip


def run_rules(args: argparse.Namespace, settings: Settings) -> int:
    action = {
        "check": _check,
        "publish": _publish,
        "watch": _watch,
        "preview": _preview,
        "status": _status,
    }[args.action]
    return action(args, settings)


def _directory(args: argparse.Namespace, settings: Settings) -> Path:
    directory: Path | None = args.dir or settings.rules_dir
    if directory is None:
        raise RulesCliError("give --dir or set SEGSTREAM_RULES_DIR")
    if not rule_files(directory):
        raise RulesCliError(f"no *.yaml rule files in {directory}")
    return directory


def _check(args: argparse.Namespace, settings: Settings) -> int:
    from rules.timing import analyze

    files = rule_files(_directory(args, settings))
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
        for part in analyze(rule.condition.source).unsolved:
            print(
                f"      note: `{part}` mixes time-driven features in a way whose exact flip time"
                f" is not computed; re-checked every {settings.rules_recheck_s:g}s"
            )
    return 0


def _publish(args: argparse.Namespace, settings: Settings) -> int:
    from streams.rollout.kafka_io import publish_rules
    from streams.rollout.message import RulesMessage
    from streams.rollout.wait import terminal_progress, wait_for_rollout
    from streams.rollout.watch import check_rule_files

    directory = _directory(args, settings)
    files, problems = check_rule_files(directory)
    if problems:
        print(problems, file=sys.stderr)
        print("not published: the workers keep the running rules", file=sys.stderr)
        return 2
    message = RulesMessage.of(files)
    offset = publish_rules(settings, message)
    print(f"published {message.version} ({len(files)} file(s)) at offset {offset}")
    if args.no_wait:
        return 0
    print("re-evaluating every profile with the new rules:")
    started = time.monotonic()
    state = wait_for_rollout(
        settings, message.version, timeout_s=args.timeout, show=terminal_progress
    )
    if state.done:
        print(
            f"rolled out {message.version} in {time.monotonic() - started:.1f}s: "
            f"{state.total:,} profiles checked, {state.processed:,} re-evaluated, Redis updated"
        )
    if state.rejected:
        print(f"a worker rejected {message.version}:\n{state.rejected}", file=sys.stderr)
        return 2
    if not state.done:
        print(
            f"\n{state.partitions_done}/{state.partitions} partitions confirmed within "
            f"{args.timeout:g}s; workers that are down apply it when they start",
            file=sys.stderr,
        )
        return 3
    return 0


def _watch(args: argparse.Namespace, settings: Settings) -> int:
    from streams.rollout.kafka_io import publish_rules
    from streams.rollout.message import RulesMessage
    from streams.rollout.watch import watch_rules

    directory = _directory(args, settings)
    print(f"watching {directory} (Ctrl-C to stop); each valid save is published")

    def publish(files: dict[str, str]) -> str:
        message = RulesMessage.of(files)
        publish_rules(settings, message)
        return message.version

    def report(line: str) -> None:
        stamp = datetime.now().strftime("%H:%M:%S")
        print(f"[{stamp}] {line}", flush=True)

    watch_rules(directory, publish, report, interval_s=args.interval)
    return 0


def _published_rules(settings: Settings) -> tuple[RuleSet, str]:
    """The rules workers run: the latest good version on the topic, else the configured ones."""
    from rules.active import ActiveRules
    from streams.rollout.kafka_io import read_rules_history
    from streams.rollout.message import apply_rules_message
    from streams.worker import load_configured_rules

    active = ActiveRules(load_configured_rules(settings))
    history, _ = read_rules_history(settings)
    for _, raw in history:
        apply_rules_message(active, raw)
    source = "the rules topic" if history else (str(settings.rules_dir or "built-in"))
    return active.current, source


def _preview(args: argparse.Namespace, settings: Settings) -> int:
    from rules.preview import format_preview, preview
    from streams.replay.history import cdnow_events, events_file, replay

    edited = _load_dir(_directory(args, settings))
    if args.base is not None:
        current, source = _load_dir(args.base), str(args.base)
    else:
        current, source = _published_rules(settings)
    if args.events is not None:
        history, label = events_file(args.events), str(args.events)
    elif args.cdnow is not None:
        history = cdnow_events(args.cdnow) if args.cdnow != Path() else cdnow_events()
        label = "CDNOW"
    else:
        raise RulesCliError("give the history to replay: --events FILE or --cdnow [PATH]")

    def progress(events: int) -> None:
        print(f"  replayed {events:,} events ...", file=sys.stderr, flush=True)

    replayed = replay(history, progress=progress)
    at = datetime.fromisoformat(args.at).timestamp() if args.at else replayed.last_event_at
    result = preview(replayed.profiles.values(), current, edited, at, samples=args.samples)
    if args.json:
        print(json.dumps([asdict(p) for p in result], indent=2))
        return 0
    when = datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds")
    print(
        f"replayed {replayed.events:,} events of {len(replayed.profiles):,} customers from "
        f"{label} in {replayed.seconds:.1f}s ({replayed.rejected:,} invalid, skipped); "
        f"evaluated at {when}"
    )
    print(f"current: {current.version} ({source})   edited: {edited.version} ({args.dir})\n")
    print(format_preview(result))
    return 0


def _load_dir(directory: Path) -> RuleSet:
    try:
        return load_rule_dir(directory)
    except RuleFileError as exc:
        raise RulesCliError(f"rule files rejected:\n{exc}") from exc


def _status(args: argparse.Namespace, settings: Settings) -> int:
    from streams.dependencies import redis_client
    from streams.rollout.wait import summarize
    from streams.sink.redis_keys import rollout_key

    current, source = _published_rules(settings)
    raw = redis_client(settings).hgetall(rollout_key(settings.redis_key_prefix))
    progress = {
        (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
        for k, v in raw.items()
    }
    state = summarize(progress, settings.topic_partitions, current.version)
    rejected = json.loads(progress["rejected"]) if progress.get("rejected") else None
    if args.json:
        print(json.dumps({"version": current.version, "source": source,
                          "rollout": asdict(state), "rejected": rejected}, indent=2))  # fmt: skip
        return 0
    print(f"published: {current.version} ({source}), {len(current.rules)} segments")
    print(
        f"rollout:   {state.partitions_done}/{state.partitions} partitions done, "
        f"{state.processed}/{state.stale} stale profiles re-evaluated"
    )
    if rejected:
        print(f"rejected:  {rejected['version']} at {rejected['at']:.0f}:\n{rejected['problems']}")
    return 0
