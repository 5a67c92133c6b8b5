"""`segstream rules ...`: the marketer's commands. Each is a thin shell over tested functions."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from rules.loader import RuleFileError, load_rule_dir, rule_files
from streams.cli_args import at_least_one, positive
from streams.errors import SegstreamError
from streams.settings import Settings
from streams.timefmt import when_text

if TYPE_CHECKING:
    from rules.ruleset import RuleSet


# Exit statuses of `segstream rules ...` (README, Commands): 0 done; 2 invalid or refused (by this
# command or by a worker); 3 not confirmed: no worker read the publish, or not all partitions
# within --timeout, or Redis (needed to count members) unreachable.
EXIT_REFUSED = 2
EXIT_UNCONFIRMED = 3
# A running worker reads a publish within a second or two; none in this long: none is running.
READ_TIMEOUT_S = 30.0


class RulesCliError(SegstreamError):
    pass


def add_rules_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    rules = sub.add_parser("rules", help="marketer tools for segment rule files")
    rules.add_argument("action", choices=["check", "publish", "watch", "preview", "status"])
    rules.add_argument("--dir", type=Path, default=None, help="default: SEGSTREAM_RULES_DIR")
    rules.add_argument("--no-wait", action="store_true", help="publish: do not follow rollout")
    rules.add_argument("--timeout", type=positive, default=600.0, help="publish: wait at most (s)")
    rules.add_argument("--interval", type=positive, default=0.5, help="watch: look every N s")
    rules.add_argument("--allow-empty", action="store_true",
                       help="check, publish, watch: a version without segments may withdraw "
                       "every segment from every customer")
    rules.add_argument("--allow-removal", action="store_true",
                       help="check, publish, watch: the version may remove segments that have "
                       "members (they all leave them)")
    rules.add_argument("--base", type=Path, default=None,
                       help="preview: rules to compare with (default: the published version)")
    rules.add_argument("--events", type=Path, default=None,
                       help="preview: history as JSON lines, one event per line")
    rules.add_argument("--cdnow", nargs="?", type=Path, const=Path(), default=None,
                       help="preview: replay the CDNOW purchase history (optional path)")
    rules.add_argument("--at", default=None, help="preview: evaluate at this ISO time "
                       "(default: the history's last event)")
    rules.add_argument("--samples", type=at_least_one, default=5,
                       help="preview: ids shown per change")
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
    from streams.rollout.watch import load_rule_folder

    directory = _directory(args, settings)
    files, rules, problems = load_rule_folder(directory)
    if rules is None:
        print(problems, file=sys.stderr)
        print("nothing was changed", file=sys.stderr)
        return EXIT_REFUSED
    print(f"{len(files)} file(s), {len(rules.rules)} segments, version {rules.version}: OK")
    for rule in rules.rules:
        holdout = f"  holdout {rule.holdout:.0%}" if rule.holdout else ""
        print(f"  {rule.id:<28} {rule.location}{holdout}")
        for part in analyze(rule.condition.source).unsolved:
            print(
                f"      note: `{part}` mixes time-driven features in a way whose exact flip time"
                f" is not computed; re-checked every {settings.rules_recheck_s:g}s"
            )
    try:
        refused = _refusal(rules, args, settings)
    except _MembersUnknown as exc:  # checking files works offline; say what was not compared
        print(f"note: {exc}", file=sys.stderr)
        return 0
    if refused:
        print(f"{refused}\nnot publishable as it stands", file=sys.stderr)
        return EXIT_REFUSED
    return 0


class _MembersUnknown(RulesCliError):
    """Redis cannot say who is in a segment: `check` notes it, `publish` stops (one line)."""

    exit_code = EXIT_UNCONFIRMED  # the CLI's error boundary exits with it


def _refusal(edited: RuleSet, args: argparse.Namespace, settings: Settings) -> str | None:
    """Why ``edited`` must not be published without --allow-empty / --allow-removal (None: it
    may); _MembersUnknown when Redis cannot say who would leave."""
    from redis.exceptions import RedisError

    from streams.dependencies import redis_client
    from streams.rollout.guard import leaving, refusal, segment_sizes
    from streams.sink.aggregates import read_partitions

    if (args.allow_empty or edited.rules) and (args.allow_removal or not edited.rules):
        return None  # every refusal is waived: nothing to count
    client = redis_client(settings)
    try:
        kept = [rule.id for rule in edited.rules]
        prefix = settings.redis_key_prefix
        partitions = read_partitions(client, prefix, settings.topic_partitions)
        sizes = segment_sizes(client, prefix, partitions, except_ids=kept)
    except (RedisError, OSError) as exc:
        unknown = f"segment members not counted: Redis unreachable at {settings.redis_url} ({exc})"
        if not edited.rules:  # refused, whoever is in a segment now
            return f"{refusal(edited, [], allow_empty=False, allow_removal=True)}\n({unknown})"
        raise _MembersUnknown(
            f"{unknown}; whether the edit removes segments that have members is unknown "
            "(--allow-removal goes on without counting)"
        ) from exc
    finally:
        client.close()
    gone = leaving(edited, sizes)
    return refusal(edited, gone, allow_empty=args.allow_empty, allow_removal=args.allow_removal)


def _publish(args: argparse.Namespace, settings: Settings) -> int:
    from streams.rollout.kafka_io import publish_rules
    from streams.rollout.message import RulesMessage
    from streams.rollout.watch import load_rule_folder

    files, edited, problems = load_rule_folder(_directory(args, settings))
    kept = "not published: the workers keep the running rules"
    if edited is None:
        print(f"{problems}\n{kept}", file=sys.stderr)
        return EXIT_REFUSED
    refused = _refusal(edited, args, settings)  # _MembersUnknown: one line, nothing published
    if refused:
        print(f"{refused}\n{kept}", file=sys.stderr)
        return EXIT_REFUSED
    message = RulesMessage.of(files, allow_empty=args.allow_empty)
    offset = publish_rules(settings, message)
    print(f"published {message.version} ({len(files)} file(s)) at offset {offset}")
    if args.no_wait:
        return 0
    return _follow_rollout(args, settings, message.version, offset)


def _follow_rollout(args: argparse.Namespace, settings: Settings, version: str, offset: int) -> int:
    """Wait for the workers to confirm the publish at ``offset``; the exit status."""
    from streams.rollout.wait import terminal_progress, wait_for_rollout

    print("re-evaluating every profile with the new rules:")
    started = time.monotonic()
    state = wait_for_rollout(
        settings, version, timeout_s=args.timeout, show=terminal_progress, offset=offset,
        read_timeout_s=READ_TIMEOUT_S,
    )  # fmt: skip
    if state.rejected:
        print(f"a worker rejected {version}:\n{state.rejected}", file=sys.stderr)
        return EXIT_REFUSED
    if state.done:
        print(
            f"rolled out {version} in {time.monotonic() - started:.1f}s: "
            f"{state.total:,} profiles checked, {state.processed:,} re-evaluated, Redis updated"
        )
        return 0
    if not state.readers:
        print(
            f"\nno worker has read {version} (app {settings.app_id}) within "
            f"{min(args.timeout, READ_TIMEOUT_S):g}s: is one running? It stays published: "
            "workers apply it when they start",
            file=sys.stderr,
        )
        return EXIT_UNCONFIRMED
    print(
        f"\n{state.partitions_done}/{state.partitions} partitions confirmed within "
        f"{args.timeout:g}s; workers that are down apply it when they start",
        file=sys.stderr,
    )
    return EXIT_UNCONFIRMED


def _watch(args: argparse.Namespace, settings: Settings) -> int:
    from rules.loader import load_rule_texts
    from streams.rollout.kafka_io import publish_rules
    from streams.rollout.message import RulesMessage
    from streams.rollout.watch import RulesRefused, watch_rules

    directory = _directory(args, settings)
    print(f"watching {directory} (Ctrl-C to stop); each valid save is published")

    def publish(files: dict[str, str]) -> str:
        refused = _refusal(load_rule_texts(files), args, settings)
        if refused:
            raise RulesRefused(refused)
        message = RulesMessage.of(files, allow_empty=args.allow_empty)
        publish_rules(settings, message)
        return message.version

    def report(line: str) -> None:
        stamp = datetime.now().strftime("%H:%M:%S")
        print(f"[{stamp}] {line}", flush=True)

    watch_rules(directory, publish, report, interval_s=args.interval)
    return 0


def _published_rules(settings: Settings) -> RuleSet | None:
    """The rules workers run: the latest good version on the rules topic; None when it has none
    (the workers then run their SEGSTREAM_RULES_DIR, which this command cannot see)."""
    from rules.active import ActiveRules
    from rules.ruleset import RuleSet
    from streams.rollout.kafka_io import read_rules_history
    from streams.rollout.message import apply_rules_message

    active = ActiveRules(RuleSet("none", ()))
    history, _ = read_rules_history(settings)
    # Refusals met on the way are history, not news (`rules status` shows the workers' last one):
    # not logged here, where each would print its problems on stderr.
    replay_log = logging.getLogger("rules.active")
    replay_log.disabled = True
    try:
        for offset, raw in history:
            apply_rules_message(active, raw, offset)  # never raises: bad versions are passed over
    finally:
        replay_log.disabled = False
    return active.current if active.activations else None


def _preview(args: argparse.Namespace, settings: Settings) -> int:
    from rules.preview import format_preview, preview
    from rules.ruleset import RuleSet
    from streams.replay.history import cdnow_events, events_file, replay

    edited = _load_dir(_directory(args, settings))
    if args.base is not None:
        current, source = _load_dir(args.base), str(args.base)
    else:
        live = _published_rules(settings)
        current, source = live or RuleSet("none", ()), "the rules topic"
        if live is None:
            source = "nothing published: no baseline"
            print(NO_BASELINE, file=sys.stderr)
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


NO_BASELINE = (
    "no baseline: nothing (good) is published on the rules topic, so what the workers run is not "
    "known here; every segment shows as new. Give --base DIR to compare with those rules."
)


def _load_dir(directory: Path) -> RuleSet:
    try:
        return load_rule_dir(directory)
    except RuleFileError as exc:
        raise RulesCliError(f"rule files rejected:\n{exc}") from exc


def _status(args: argparse.Namespace, settings: Settings) -> int:
    from streams.dependencies import redis_client
    from streams.rollout.wait import summarize
    from streams.sink.redis_keys import rollout_key
    from streams.worker import load_configured_rules

    current = _published_rules(settings)
    source = "the rules topic"
    if current is None:  # what a worker configured like this command runs
        current = load_configured_rules(settings)
        where = settings.rules_dir or "built-in"
        source = f"nothing good on the rules topic: {where}, if the workers are configured alike"
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
        when = when_text(float(rejected["at"]), time.time())
        print(f"rejected:  {rejected['version']} at {when}:\n{rejected['problems']}")
    return 0
