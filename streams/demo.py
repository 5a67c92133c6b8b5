"""``segstream demo``: the local stack, one worker and the simulator, with live segment counts."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

import rules
from models.names import CLUSTER_PREFIX
from streams import stack
from streams.demo_screen import SegmentRow, Snapshot, frame, render
from streams.dependencies import ensure_topics, kafka_admin, redis_client
from streams.errors import SegstreamError
from streams.settings import ENV_PREFIX, Settings
from streams.sink.aggregates import read_metrics, sizes_of
from streams.worker import load_configured_rules

REFRESH_S = 2.0  # on a terminal; piped, a frame every PIPED_REFRESH_S keeps logs short
PIPED_REFRESH_S = 10.0
DEMO_CLUSTERS = {
    "cluster_sample_rate": 0.5,
    "cluster_min_samples": 500,
    "cluster_publish_every": 500,
}
EXAMPLE_RULES = Path(rules.__file__).resolve().parent / "segments"
# A big spender who is signed in from the first visit, which comes within the demo's first second
# of traffic: the storefront link is personalized at once (tests/test_documented_ids.py checks).
STOREFRONT_CUSTOMER = "c0000177"


class _Output:
    """Prints that never raise: after Ctrl-C of ``segstream demo | tee`` stdout is a broken pipe,
    and a failed print must not keep the shutdown from stopping what the demo started."""

    def __init__(self) -> None:
        self.broken = False

    def __call__(self, text: str = "", end: str = "\n") -> None:
        if self.broken:
            return
        try:
            print(text, end=end, flush=True)
        except OSError:  # BrokenPipeError, or EIO from a closed terminal
            self.broken = True
            # Python flushes stdout again at exit: point it at /dev/null so that cannot fail.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)


say = _Output()


@contextmanager
def _child(
    name: str, args: list[str], settings: Settings, log_dir: Path
) -> Iterator[subprocess.Popen[bytes]]:
    log_path = log_dir / f"{name}.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", *args],
            env={**os.environ, **settings.to_env()},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        say(f"started {name} (pid {process.pid}), log: {log_path}")
        yield process
    finally:
        _stop_child(process)
        say(f"stopped {name}")


def _stop_child(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _check_running(process: subprocess.Popen[bytes], name: str, log_dir: Path) -> None:
    if process.poll() is not None:
        tail = (log_dir / f"{name}.log").read_text(errors="replace").splitlines()[-15:]
        raise SegstreamError(
            f"{name} exited with status {process.returncode}; last log lines:\n" + "\n".join(tail)
        )


def worker_data_dir(log_dir: Path, cluster_id: str) -> Path:
    """The demo worker's RocksDB directory for the Kafka cluster ``cluster_id``.

    Profiles remember the Kafka offsets they applied: kept across a wiped Kafka (a new cluster),
    they take the new topic's events for ones already applied and the screen stays near zero.
    """
    return log_dir / f"worker-{cluster_id}"


def demo_settings(
    settings: Settings, *, log_dir: Path, cluster_id: str, environ: Mapping[str, str]
) -> Settings:
    """The example rules, quicker clusters and a data dir of this Kafka cluster, unless set."""
    explicit = {name for name in DEMO_CLUSTERS if ENV_PREFIX + name.upper() in environ}
    update: dict[str, Any] = {k: v for k, v in DEMO_CLUSTERS.items() if k not in explicit}
    if settings.rules_dir is None:
        update["rules_dir"] = EXAMPLE_RULES
    if ENV_PREFIX + "DATA_DIR" not in environ:
        update["data_dir"] = worker_data_dir(log_dir, cluster_id)
    return settings.model_copy(update=update)


def _kafka_cluster_id(settings: Settings) -> str:
    admin = kafka_admin(settings)
    try:
        return str(admin.describe_cluster()["cluster_id"])
    finally:
        admin.close()


def _forget_other_clusters(log_dir: Path, keep: Path) -> None:
    """Data of Kafka clusters that are gone can never be used again."""
    for old in log_dir.glob("worker-*"):
        if old != keep and old.is_dir():
            shutil.rmtree(old, ignore_errors=True)


def run_demo(
    settings: Settings, *, customers: int, rate: float, keep_stack: bool, storefront_port: int
) -> int:
    """Run until Ctrl-C, showing segment sizes from Redis every couple of seconds."""
    log_dir = settings.stack_dir.parent / "demo"
    log_dir.mkdir(parents=True, exist_ok=True)
    try:
        stack.up(settings, log=say)
        cluster_id = _kafka_cluster_id(settings)
        settings = demo_settings(
            settings, log_dir=log_dir, cluster_id=cluster_id, environ=os.environ
        )
        _forget_other_clusters(log_dir, keep=worker_data_dir(log_dir, cluster_id))
        _run_children(settings, customers, rate, storefront_port, log_dir)
    except KeyboardInterrupt:
        say("\ninterrupted")
    finally:
        if not keep_stack:
            stack.down(settings, log=say)
    return 0


def _run_children(
    settings: Settings, customers: int, rate: float, storefront_port: int, log_dir: Path
) -> None:
    ensure_topics(settings)
    _publish_rules(settings)
    simulate = ["simulate", "--customers", str(customers), "--rate", str(rate)]
    simulate += ["--truth", str(log_dir / "truth.csv")]
    shop = ["storefront", "--port", str(storefront_port)]
    with ExitStack() as children:
        started = {
            name: children.enter_context(_child(name, args, settings, log_dir))
            for name, args in (("worker", ["worker"]), ("trainer", ["trainer"]),
                               ("simulator", simulate), ("storefront", shop))
        }  # fmt: skip
        link = f"http://127.0.0.1:{storefront_port}/?customer={STOREFRONT_CUSTOMER}"
        say(f"storefront: {link}  (any simulated customer's id; live)")
        _watch(settings, started, log_dir, customers)


def _publish_rules(settings: Settings) -> None:
    """Make the demo's rules the published version, so every worker starts from them."""
    from streams.rollout.kafka_io import publish_rules
    from streams.rollout.message import RulesMessage
    from streams.rollout.watch import read_rule_files

    assert settings.rules_dir is not None
    message = RulesMessage.of(read_rule_files(settings.rules_dir))
    publish_rules(settings, message)
    say(f"published rules {message.version} from {settings.rules_dir}")


@dataclass(slots=True)
class _Reading:
    at: float
    sizes: dict[str, int]
    events_in: int | None


def _watch(
    settings: Settings, children: dict[str, subprocess.Popen[bytes]], log_dir: Path, customers: int
) -> None:
    client = redis_client(settings)
    about = {rule.id: rule.description for rule in load_configured_rules(settings).rules}
    tty = sys.stdout.isatty()
    started = time.monotonic()
    last: _Reading | None = None
    while True:
        time.sleep(REFRESH_S if tty else PIPED_REFRESH_S)
        for name, process in children.items():
            _check_running(process, name, log_dir)
        stats = worker_stats(settings)
        sizes = _sizes(client, settings.redis_key_prefix, list(about), settings.topic_partitions)
        reading = _Reading(time.monotonic(), sizes, _int(stats.get("received")))
        snapshot = _snapshot(
            reading, last, about=about, stats=stats, started=started, customers=customers
        )
        say(frame(render(snapshot), tty=tty), end="" if tty else "\n")
        last = reading


def worker_stats(settings: Settings) -> dict[str, Any]:
    """The demo worker's /segstream/stats, or {} while it starts (the screen shows "-")."""
    url = f"{settings.web_url}/segstream/stats"
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # the local worker's web port
            stats: dict[str, Any] = json.load(response)
            return stats
    except (OSError, ValueError):
        return {}


def _int(value: object) -> int | None:
    return value if isinstance(value, int) else None


def _sizes(
    client: redis.Redis, prefix: str, rule_ids: list[str], partitions: int
) -> dict[str, int]:
    """The rules' segments, then the cluster segments once the trainer's first model is in use
    (cold start first)."""
    sizes = sizes_of(read_metrics(client, prefix, partitions))
    cluster_ids = sorted(sid for sid in sizes if sid.startswith(CLUSTER_PREFIX))
    return {sid: sizes.get(sid, 0) for sid in [*rule_ids, *cluster_ids]}


def _snapshot(
    now: _Reading,
    last: _Reading | None,
    *,
    about: dict[str, str],
    stats: dict[str, Any],
    started: float,
    customers: int,
) -> Snapshot:
    clusters = stats.get("clusters") or {}
    described = {c["segment_id"]: c["description"] for c in clusters.get("clusters", ())}
    seconds = now.at - last.at if last else 0.0

    def row(sid: str, text: str) -> SegmentRow:
        before = last.sizes.get(sid) if last else None
        growth = None if before is None or seconds <= 0 else (now.sizes[sid] - before) / seconds
        return SegmentRow(sid, now.sizes[sid], text, growth)

    events_rate = None
    if last and last.events_in is not None and now.events_in is not None and seconds > 0:
        events_rate = (now.events_in - last.events_in) / seconds
    return Snapshot(
        elapsed_s=now.at - started,
        customers=customers,
        rules=[row(sid, text) for sid, text in about.items()],
        clusters=[row(sid, described.get(sid, "")) for sid in now.sizes if sid not in about],
        model_version=clusters.get("model_version"),
        events_in=now.events_in,
        events_per_s=events_rate,
        repeats=_int(stats.get("duplicates")),
    )
