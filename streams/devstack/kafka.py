"""A single-node Kafka in KRaft mode (broker and controller in one JVM), run with ``java -cp``.

Ports: the broker listens on the host:port of the FIRST ``SEGSTREAM_KAFKA_BOOTSTRAP`` entry; the
KRaft controller listens on 127.0.0.1 at the broker port + 1 (``CONTROLLER_PORT_OFFSET``), so the
default stack takes 9092 and 9093.

Files under the stack dir: ``kafka.pid``, ``kafka.log`` (Kafka's WARN+ log and the JVM's own
output), ``kafka/`` (generated configuration) and ``kafka-data/`` (topics and KRaft metadata).
"""

from __future__ import annotations

import base64
import logging
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from streams.devstack.errors import StackError
from streams.devstack.jars import kafka_jars
from streams.devstack.network import (
    plain_host,
    require_free_port,
    require_loopback,
    url_host,
)
from streams.devstack.processes import ManagedProcess, log_tail, stack_root
from streams.devstack.templates import render
from streams.settings import Settings

NAME = "kafka"
IDENTITY = "kafka.Kafka"  # the main class, on every Kafka broker's command line
BOOTSTRAP_SETTING = "SEGSTREAM_KAFKA_BOOTSTRAP"
CONTROLLER_PORT_OFFSET = 1
HEAP = "-Xmx768m"
START_TIMEOUT_S = 60.0
FORMAT_TIMEOUT_S = 120.0
_PROBE_PAUSE_S = 0.5


def broker_host_port(settings: Settings) -> tuple[str, int]:
    """Where the broker listens: the first bootstrap entry, IPv6 brackets removed."""
    host, port = settings.kafka_host_port
    return plain_host(host), port


def controller_port(settings: Settings) -> int:
    """The KRaft controller's port: the broker port + 1."""
    return settings.kafka_host_port[1] + CONTROLLER_PORT_OFFSET


def broker_address(settings: Settings) -> str:
    host, port = broker_host_port(settings)
    return f"{url_host(host)}:{port}"


def kafka_process(settings: Settings) -> ManagedProcess:
    """The Kafka server of this checkout's stack."""
    root = stack_root(settings)
    host, port = broker_host_port(settings)
    return ManagedProcess(
        name=NAME,
        identity=IDENTITY,
        host=host,
        port=port,
        pid_file=root / "kafka.pid",
        log_path=root / "kafka.log",
    )


def server_properties(settings: Settings) -> str:
    """server.properties of a one-node KRaft cluster on loopback."""
    address = broker_address(settings)
    controller = f"127.0.0.1:{controller_port(settings)}"
    lines = [
        "process.roles=broker,controller",
        "node.id=1",
        f"controller.quorum.voters=1@{controller}",
        f"listeners=PLAINTEXT://{address},CONTROLLER://{controller}",
        f"advertised.listeners=PLAINTEXT://{address}",
        "controller.listener.names=CONTROLLER",
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        f"log.dirs={_data_dir(settings)}",
        "num.partitions=8",
        "offsets.topic.replication.factor=1",
        "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1",
        "group.initial.rebalance.delay.ms=0",
        "auto.create.topics.enable=true",
    ]
    return "\n".join(lines) + "\n"


def log4j_properties(log_file: Path) -> str:
    """log4j configuration: WARN and above to ``log_file``."""
    return render("kafka-log4j.properties", log_file=str(log_file))


def check_kafka(settings: Settings) -> None:
    """Quick checks before anything starts: loopback address, free ports, java on PATH."""
    _require_addresses(settings)
    _java()


def prepare_kafka(settings: Settings, *, log: Callable[[str], None]) -> list[str]:
    """Download the jars once, write the configuration, format the storage once.

    Returns the command that runs the broker. Raises StackError.
    """
    java = _java()
    libs = kafka_jars(settings, log=log)
    config_dir = stack_root(settings) / "kafka"
    config_dir.mkdir(parents=True, exist_ok=True)
    properties = config_dir / "server.properties"
    properties.write_text(server_properties(settings))
    log4j = config_dir / "log4j.properties"
    log4j.write_text(log4j_properties(kafka_process(settings).log_path))
    classpath = ["-cp", f"{libs}/*", f"-Dlog4j.configuration=file:{log4j}"]
    if not (_data_dir(settings) / "meta.properties").exists():
        _format_storage([java, *classpath], properties, _data_dir(settings), log=log)
    return [java, HEAP, *classpath, "kafka.Kafka", str(properties)]


def wait_until_kafka_answers(settings: Settings, alive: Callable[[], bool]) -> None:
    """Return once the broker answers an admin request; StackError on exit or after 60 s."""
    bootstrap = broker_address(settings)
    log_path = kafka_process(settings).log_path
    deadline = time.monotonic() + START_TIMEOUT_S
    with _quiet_kafka_client():
        while not _answers(bootstrap):
            if not alive():
                raise StackError(
                    f"Kafka exited during start-up: {log_tail(log_path)}; see {log_path}"
                )
            if time.monotonic() >= deadline:
                raise StackError(
                    f"Kafka did not answer on {bootstrap} within {START_TIMEOUT_S:.0f}s: "
                    f"{log_tail(log_path)}; see {log_path}"
                )
            time.sleep(_PROBE_PAUSE_S)


def _data_dir(settings: Settings) -> Path:
    return stack_root(settings) / "kafka-data"


def _require_addresses(settings: Settings) -> None:
    host, port = broker_host_port(settings)
    require_loopback(host, BOOTSTRAP_SETTING)
    if port + CONTROLLER_PORT_OFFSET > 65535:
        raise StackError(
            f"Kafka's controller needs the broker port + 1, and {port} is the last port: "
            f"choose a lower port with {BOOTSTRAP_SETTING}"
        )
    require_free_port(host, port, what="Kafka", setting=BOOTSTRAP_SETTING)
    require_free_port(
        "127.0.0.1",
        controller_port(settings),
        what="Kafka's controller (broker port + 1)",
        setting=BOOTSTRAP_SETTING,
    )


def _java() -> str:
    java = shutil.which("java")
    if java is None:
        raise StackError(
            "`java` is not on PATH and Kafka needs it: install a JDK 17+, "
            "e.g. apt-get install openjdk-17-jre-headless"
        )
    return java


def _format_storage(
    jvm: list[str], properties: Path, data_dir: Path, *, log: Callable[[str], None]
) -> None:
    # A cluster id is 16 random bytes, base64url without padding (what `kafka-storage random-uuid`
    # prints).
    cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    log(f"kafka: formatting new storage (cluster id {cluster_id})")
    command = [*jvm, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(properties)]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=FORMAT_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise StackError(
            f"formatting Kafka's storage in {data_dir} took over {FORMAT_TIMEOUT_S:.0f}s: "
            "run `up` again"
        ) from exc
    if done.returncode != 0:
        lines = [line.strip() for line in (done.stdout + done.stderr).splitlines() if line.strip()]
        raise StackError(
            f"formatting Kafka's storage in {data_dir} failed: {' | '.join(lines[-3:])[-400:]}; "
            f"fix that or delete {data_dir}, then run `up` again"
        )


def _answers(bootstrap: str) -> bool:
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap, client_id="segstream-devstack", request_timeout_ms=5000
        )
    except KafkaError:
        return False
    try:
        admin.list_topics()
    except KafkaError:
        return False
    finally:
        admin.close()
    return True


@contextmanager
def _quiet_kafka_client() -> Iterator[None]:
    # kafka-python logs every refused connection; while a broker starts those are expected.
    logger = logging.getLogger("kafka")
    previous = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(previous)
