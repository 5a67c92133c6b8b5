"""``segstream demo``: the local stack, one worker and the simulator, with live segment counts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import redis

import rules
from models.names import CLUSTER_PREFIX
from streams import stack
from streams.dependencies import ensure_topics, redis_client
from streams.errors import SegstreamError
from streams.settings import ENV_PREFIX, Settings
from streams.sink.redis_keys import members_key
from streams.worker import load_configured_rules

REFRESH_S = 2.0
DEMO_CLUSTERS = {
    "cluster_sample_rate": 0.5,
    "cluster_min_samples": 500,
    "cluster_publish_every": 500,
}
EXAMPLE_RULES = Path(rules.__file__).resolve().parent / "segments"


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
    print(f"started {name} (pid {process.pid}), log: {log_path}")
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        print(f"stopped {name}")


def _check_running(process: subprocess.Popen[bytes], name: str, log_dir: Path) -> None:
    if process.poll() is not None:
        tail = (log_dir / f"{name}.log").read_text(errors="replace").splitlines()[-15:]
        raise SegstreamError(
            f"{name} exited with status {process.returncode}; last log lines:\n" + "\n".join(tail)
        )


def run_demo(
    settings: Settings, *, customers: int, rate: float, keep_stack: bool, storefront_port: int
) -> int:
    """Run until Ctrl-C, printing segment sizes from Redis every couple of seconds."""
    if settings.rules_dir is None:
        settings = settings.model_copy(update={"rules_dir": EXAMPLE_RULES})
    # Demo traffic is small: learn from more of it so clusters appear within minutes.
    unset = {k: v for k, v in DEMO_CLUSTERS.items() if ENV_PREFIX + k.upper() not in os.environ}
    settings = settings.model_copy(update=unset)
    log_dir = settings.stack_dir.parent / "demo"
    log_dir.mkdir(parents=True, exist_ok=True)
    stack.up(settings)
    try:
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
            print(
                f"storefront: http://127.0.0.1:{storefront_port}/?customer=c000001  "
                "(segments of any simulated customer, live)"
            )
            print("segment sizes in Redis (Ctrl-C to stop):")
            _watch(settings, started, log_dir)
    except KeyboardInterrupt:
        print("\ninterrupted")
    finally:
        if not keep_stack:
            stack.down(settings)
    return 0


def _publish_rules(settings: Settings) -> None:
    """Make the demo's rules the published version, so every worker starts from them."""
    from streams.rollout.kafka_io import publish_rules
    from streams.rollout.message import RulesMessage
    from streams.rollout.watch import read_rule_files

    assert settings.rules_dir is not None
    message = RulesMessage.of(read_rule_files(settings.rules_dir))
    publish_rules(settings, message)
    print(f"published rules {message.version} from {settings.rules_dir}")


def _watch(settings: Settings, children: dict[str, subprocess.Popen[bytes]], log_dir: Path) -> None:
    client = redis_client(settings)
    started = time.monotonic()
    segment_ids = [rule.id for rule in load_configured_rules(settings).rules]
    while True:
        time.sleep(REFRESH_S)
        for name, process in children.items():
            _check_running(process, name, log_dir)
        clusters = _cluster_segment_ids(client, settings.redis_key_prefix)
        sizes = {
            sid: client.scard(members_key(settings.redis_key_prefix, sid))
            for sid in [*segment_ids, *clusters]
        }
        shown = "  ".join(f"{sid}={size}" for sid, size in sizes.items() if size)
        shown = shown or "no members yet (the worker starts, then segments fill as traffic flows)"
        print(f"[{time.monotonic() - started:6.0f}s] {shown}", flush=True)


def _cluster_segment_ids(client: redis.Redis, prefix: str) -> list[str]:
    """Cluster segments appear once the trainer's first model is in use (cold start first)."""
    pattern = members_key(prefix, f"{CLUSTER_PREFIX}*")
    head, tail = members_key(prefix, "\0").split("\0")
    keys = (k.decode() if isinstance(k, bytes) else k for k in client.scan_iter(match=pattern))
    return sorted(key[len(head) : len(key) - len(tail)] for key in keys)
