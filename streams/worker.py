"""Running one stream worker: check dependencies, create topics, hand over to Faust."""

from __future__ import annotations

import gc
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

import faust

from rules import BUILTIN_RULES, RuleSet
from rules.active import ActiveRules
from rules.loader import RuleFileError, load_rule_dir
from streams.app import Segstream
from streams.clusters.admin import ensure_cluster_topics
from streams.dependencies import ensure_topics, wait_for_redis
from streams.errors import SegstreamError, check_port_free, prepare_directory
from streams.ops.logs import configure_logging, worker_logging_config
from streams.rollout.kafka_io import read_rules_history
from streams.rollout.message import apply_rules_message
from streams.settings import Settings

# Measured on CDNOW replays: the default thresholds (700, 10, 10) re-scan the worker's many live
# objects so often that event decoding ran 1.8x slower (24.6 vs 13.8 µs/event) and profile decoding
# 1.7x slower. Profiles hold no reference cycles, so collecting rarely costs little memory. Since
# the survivors of each collection are frozen (streams.ops.gc_pauses), collections skip long-lived
# objects altogether.
GC_THRESHOLDS = (50_000, 20, 100)


def run_worker(settings: Settings) -> None:
    """Block running a worker until it is stopped (SIGINT/SIGTERM).

    What can go wrong at start is checked first and raised as a SegstreamError (one line): the
    web port taken, Redis or Kafka unreachable (after SEGSTREAM_DEPENDENCY_TIMEOUT_S), bad rules.
    """
    # Before anything slow: Faust would find out only once it started its web server, and crash.
    check_port_free(settings.web_host, settings.web_port, "SEGSTREAM_WEB_PORT")
    prepare_directory(settings.data_dir, "SEGSTREAM_DATA_DIR")
    configured = load_configured_rules(settings)  # bad rule files: said now, not after the waits
    configure_logging(settings)
    # aiokafka builds a debug record per network frame when its logger is left at DEBUG (3% of a
    # busy worker's time in profiles); its INFO and above still show.
    for noisy in ("aiokafka", "kafka"):
        logging.getLogger(noisy).setLevel(
            max(logging.INFO, logging.getLevelName(settings.log_level))
        )
    gc.set_threshold(*GC_THRESHOLDS)
    wait_for_redis(settings)
    ensure_topics(settings)
    if settings.cluster_enabled:
        ensure_cluster_topics(settings)
    active, rules_offset = starting_rules(settings, configured)
    segstream = Segstream(settings, active, rules_offset=rules_offset)
    worker = quiet_worker(segstream.app, settings.log_level, settings.log_format)
    worker.before_stop = segstream.rebatcher.stop
    segstream.gc_pauses.install()  # start-up objects are frozen: collections skip them from now
    worker.execute_from_commandline()


def starting_rules(
    settings: Settings, configured: RuleSet | None = None
) -> tuple[ActiveRules, int]:
    """The latest good version on the rules topic, else SEGSTREAM_RULES_DIR (``configured``, when
    already loaded), else the built-in rule; and the rules topic offset to follow from."""
    active = ActiveRules(configured or load_configured_rules(settings))
    history, next_offset = read_rules_history(settings)
    for offset, raw in history:  # a refusal names its offset, as the live follower's do
        apply_rules_message(active, raw, offset)
    return active, next_offset


def load_configured_rules(settings: Settings) -> RuleSet:
    """The rules of SEGSTREAM_RULES_DIR, or the built-in rule when it is unset."""
    if settings.rules_dir is None:
        return BUILTIN_RULES
    try:
        return load_rule_dir(settings.rules_dir)
    except RuleFileError as exc:
        raise SegstreamError(rules_rejected(settings.rules_dir, exc)) from exc


def rules_rejected(directory: Path, exc: RuleFileError) -> str:
    """One line: the first problem, how many more, and the command that lists them all."""
    problems = exc.problems
    if not problems:
        return f"SEGSTREAM_RULES_DIR {directory} rejected: {' '.join(str(exc).split())}"
    first = problems[0]
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return (
        f"SEGSTREAM_RULES_DIR {directory} rejected: {first.path}:{first.line}:{first.column}: "
        f"{' '.join(first.message.split())}{more}; `segstream rules check --dir {directory}` "
        "lists every problem"
    )


class SegstreamWorker(faust.Worker):
    """A Faust worker that runs ``before_stop`` before it stops the app.

    Faust cancels its app's tasks only after it stopped the tables and the producer, which the
    rebatcher applies envelopes through: the rebatcher must end its pass first, or a stop under
    load crashes (NotReady). mode's Service.stop awaits on_stop before it stops its children.
    """

    before_stop: Callable[[], Awaitable[None]] | None = None

    async def on_stop(self) -> None:
        if self.before_stop is not None:
            await self.before_stop()
        await super().on_stop()


def quiet_worker(app: faust.App, log_level: str, log_format: str = "text") -> SegstreamWorker:
    """A Faust worker without its terminal spinner.

    At WARNING and above the spinner sets the root logger to DEBUG so it can spin on every record,
    which makes Faust and aiokafka build a debug record per message sent (6% of a busy worker's
    time in profiles).
    """
    worker = SegstreamWorker(
        app,
        loglevel=log_level,
        redirect_stdouts=False,
        logging_config=worker_logging_config(log_format, log_level),
        quiet=log_format == "json",  # its start-up banner is not JSON
    )
    worker.spinner = None
    return worker
