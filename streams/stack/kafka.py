"""The dev stack's Kafka in KRaft mode, from Maven Central jars run with ``java -cp``.

One node by default; ``dev up --brokers N`` (SEGSTREAM_DEV_KAFKA_BROKERS) runs N combined
broker+controller nodes on loopback, every one a voter of the controller quorum. Port layout, from
the first address of SEGSTREAM_KAFKA_BOOTSTRAP (``P``): node ``k`` (1..N) serves clients on
``P + 3(k-1)``, its controller on the next port and, for a secured stack, its inter-broker
listener on the one after; a one-node stack is node 1 (P, P+1, P+2), as it always was.
"""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from streams.kafka_security import kafka_python_options, uses_sasl, uses_tls
from streams.settings import Settings
from streams.stack.processes import (
    Managed,
    StackError,
    require_free_port,
    require_loopback,
    run_with_progress,
)
from streams.stack.tls import stack_certificates

POM_TEMPLATE = Path(__file__).with_name("kafka-pom.xml")
LOG4J = Path(__file__).with_name("kafka-log4j.properties")
READY_MARKER = ".complete"
START_TIMEOUT_S = 60.0
SCRAM_MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512")
SAFE_CREDENTIAL = re.compile(r"[A-Za-z0-9._+@!-]+")
PORTS_PER_NODE = 3  # client, controller, inter-broker (secured stacks)


@dataclass(frozen=True, slots=True)
class KafkaNode:
    """One broker+controller of the dev stack: its ports, files and process."""

    node_id: int
    host: str
    port: int  # clients
    directory: Path  # its data, server.properties and log
    process: Managed

    @property
    def controller_port(self) -> int:
        return self.port + 1

    @property
    def internal_port(self) -> int:
        return self.port + 2

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def data_dir(self) -> Path:
        return self.directory / "kafka-data"

    @property
    def properties(self) -> Path:
        return self.directory / "server.properties"

    @property
    def log_path(self) -> Path:
        return self.directory / "kafka.log"


def broker_count(settings: Settings) -> int:
    """SEGSTREAM_DEV_KAFKA_BROKERS, else as many brokers as SEGSTREAM_KAFKA_BOOTSTRAP lists."""
    return settings.dev_kafka_brokers or len(settings.kafka_servers)


def kafka_nodes(settings: Settings) -> list[KafkaNode]:
    """The stack's nodes (see the module's port layout). A one-node stack keeps its files where
    they always were (stack dir: kafka-data, kafka.pid); node k of a larger one under kafka-k."""
    host, base = settings.kafka_host_port
    stack = settings.stack_dir
    count = broker_count(settings)
    if count == 1:
        return [KafkaNode(1, host, base, stack, kafka_process(settings))]
    return [
        KafkaNode(
            k,
            host,
            base + PORTS_PER_NODE * (k - 1),
            stack / f"kafka-{k}",
            Managed(f"kafka-{k}", stack / f"kafka-{k}.pid", "kafka.Kafka"),
        )
        for k in range(1, count + 1)
    ]


def stop_kafka(settings: Settings) -> list[tuple[str, bool]]:
    """Stop every Kafka node (name, whether it was running). All are asked at once: stopped in
    turn, the last nodes would wait for a controller quorum that is already gone."""
    processes = kafka_processes(settings)
    running = [process.terminate() for process in processes]
    return [(p.name, p.stop() or was) for p, was in zip(processes, running, strict=True)]


def cluster_bootstrap(settings: Settings) -> str:
    """What clients of the dev stack set SEGSTREAM_KAFKA_BOOTSTRAP to: every node's address."""
    return ",".join(node.address for node in kafka_nodes(settings))


def kafka_process(settings: Settings) -> Managed:
    """The process of a one-node stack (node 1 of a larger one has its own pid file)."""
    return Managed("kafka", settings.stack_dir / "kafka.pid", "kafka.Kafka")


def kafka_processes(settings: Settings) -> list[Managed]:
    """Every Kafka process this stack dir has a pid file of, whatever the size of the stack that
    wrote it, so that ``down`` stops them all; the current layout's nodes when there is none."""
    stack = settings.stack_dir
    pid_files = sorted([stack / "kafka.pid", *stack.glob("kafka-*.pid")])
    found = [Managed(f.stem, f, "kafka.Kafka") for f in pid_files if f.exists()]
    return found or [node.process for node in kafka_nodes(settings)]


def jars_dir(settings: Settings) -> Path:
    """Kafka's runtime jars, downloaded once into the cache shared by every checkout."""
    libs = settings.cache_dir / f"kafka-{settings.kafka_version}" / "libs"
    if (libs / READY_MARKER).exists():
        return libs
    maven = shutil.which("mvn")
    if maven is None:
        raise StackError(
            f"Maven is needed once to download Kafka into {libs.parent}: "
            "install it (apt-get install maven) and run again"
        )
    libs.parent.mkdir(parents=True, exist_ok=True)
    # Download next to the cache, then rename: an interrupted download never looks complete.
    staging = Path(tempfile.mkdtemp(prefix="download-", dir=libs.parent))
    pom = staging / "pom.xml"
    pom.write_text(POM_TEMPLATE.read_text().replace("@KAFKA_VERSION@", settings.kafka_version))
    log = libs.parent / "maven.log"
    print(
        f"downloading Kafka {settings.kafka_version} from Maven Central into {libs}: once for "
        f"every checkout, about a minute (Maven's log: {log})",
        flush=True,
    )
    command = [maven, "-q", "-B", "-f", str(pom), "dependency:copy-dependencies"]
    command += [f"-DoutputDirectory={staging / 'libs'}", "-DincludeScope=runtime"]
    if run_with_progress(command, what="downloading Kafka", log_path=log) != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise StackError(f"Maven could not download Kafka (is Maven Central reachable?); see {log}")
    (staging / "libs" / READY_MARKER).touch()
    shutil.rmtree(libs, ignore_errors=True)
    (staging / "libs").rename(libs)
    shutil.rmtree(staging, ignore_errors=True)
    return libs


def server_properties(settings: Settings, node: KafkaNode | None = None) -> str:
    """``node``'s server.properties (node 1 unless given)."""
    nodes = kafka_nodes(settings)
    node = node or nodes[0]
    host, port = node.host, node.port
    voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in nodes)
    if settings.kafka_security_protocol == "PLAINTEXT":
        listeners = [
            f"listeners=PLAINTEXT://{host}:{port},CONTROLLER://127.0.0.1:{node.controller_port}",
            f"advertised.listeners=PLAINTEXT://{host}:{port}",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        ]
    else:
        listeners = secured_listeners(settings, node)
    return "\n".join(
        [
            "process.roles=broker,controller",
            f"node.id={node.node_id}",
            f"controller.quorum.voters={voters}",
            *listeners,
            "controller.listener.names=CONTROLLER",
            f"log.dirs={node.data_dir.resolve()}",
            "num.partitions=8",
            *replication_defaults(len(nodes)),
            "group.initial.rebalance.delay.ms=0",
            "auto.create.topics.enable=true",
            "",
        ]
    )


def replication_defaults(brokers: int) -> list[str]:
    """Kafka's own topics (consumer offsets, transaction state) and topics created without an
    explicit setting (Faust's changelogs) get three replicas, two in sync, where there are enough
    brokers: what a worker's acks=all writes need to survive one broker's crash.

    >>> replication_defaults(1)[:2]
    ['default.replication.factor=1', 'min.insync.replicas=1']
    >>> replication_defaults(3)[:2]
    ['default.replication.factor=3', 'min.insync.replicas=2']
    """
    replicas = min(brokers, 3)
    in_sync = min(brokers, 2)
    return [
        f"default.replication.factor={replicas}",
        f"min.insync.replicas={in_sync}",
        f"offsets.topic.replication.factor={replicas}",
        f"transaction.state.log.replication.factor={replicas}",
        f"transaction.state.log.min.isr={in_sync}",
    ]


def secured_listeners(settings: Settings, node: KafkaNode | None = None) -> list[str]:
    """Clients connect to SEGSTREAM_KAFKA_BOOTSTRAP with SEGSTREAM_KAFKA_SECURITY_PROTOCOL; the
    brokers talk to each other on loopback PLAINTEXT listeners (client port + 2), which keeps the
    dev brokers' own traffic out of the way of what is being tried. SASL accepts PLAIN and SCRAM
    for the SEGSTREAM_KAFKA_SASL_USERNAME/PASSWORD user; SSL requires a client certificate."""
    node = node or kafka_nodes(settings)[0]
    host, port = node.host, node.port
    protocol = settings.kafka_security_protocol
    tls = stack_certificates(settings.stack_dir.resolve() / "tls")
    lines = [
        f"listeners=CLIENT://{host}:{port},CONTROLLER://127.0.0.1:{port + 1},"
        f"INTERNAL://127.0.0.1:{port + 2}",
        f"advertised.listeners=CLIENT://{host}:{port},INTERNAL://127.0.0.1:{port + 2}",
        f"listener.security.protocol.map=CLIENT:{protocol},CONTROLLER:PLAINTEXT,INTERNAL:PLAINTEXT",
        "inter.broker.listener.name=INTERNAL",
        "ssl.keystore.type=PEM",
        f"ssl.keystore.location={tls.broker_keystore}",
        "ssl.truststore.type=PEM",
        f"ssl.truststore.location={tls.ca}",
        f"ssl.client.auth={'required' if protocol == 'SSL' else 'none'}",
    ]
    if uses_sasl(settings):
        lines += _sasl_listener(settings)
    return lines


def _sasl_listener(settings: Settings) -> list[str]:
    user, password = _sasl_user(settings)
    modules = "org.apache.kafka.common.security"
    scram = f"{modules}.scram.ScramLoginModule required;"
    return [
        f"listener.name.client.sasl.enabled.mechanisms=PLAIN,{','.join(SCRAM_MECHANISMS)}",
        f"listener.name.client.plain.sasl.jaas.config={modules}.plain.PlainLoginModule required "
        f'user_{user}="{password}";',
        *(f"listener.name.client.{m.lower()}.sasl.jaas.config={scram}" for m in SCRAM_MECHANISMS),
    ]


def _sasl_user(settings: Settings) -> tuple[str, str]:
    user, password = settings.kafka_sasl_username, settings.kafka_sasl_password
    if user is None or password is None:  # Settings refuses SASL_* without both
        raise StackError("a SASL Kafka needs SEGSTREAM_KAFKA_SASL_USERNAME and _PASSWORD")
    plain = password.get_secret_value()
    if not SAFE_CREDENTIAL.fullmatch(user) or not SAFE_CREDENTIAL.fullmatch(plain):
        # Both end up inside Kafka's JAAS and storage-tool syntax, which have no escapes.
        raise StackError(
            "the dev stack's SASL user and password may hold only letters, digits and ._-+@!"
        )
    return user, plain


def dev_client_settings(settings: Settings) -> Settings:
    """``settings`` completed with the stack's own CA (and client certificate, for SSL) where
    they name none: what clients of a secured dev stack use."""
    if not uses_tls(settings):
        return settings
    tls = stack_certificates(settings.stack_dir.resolve() / "tls")
    update: dict[str, Path] = {}
    if settings.kafka_ssl_cafile is None:
        update["kafka_ssl_cafile"] = tls.ca
    if settings.kafka_security_protocol == "SSL" and settings.kafka_ssl_certfile is None:
        update |= {"kafka_ssl_certfile": tls.client_cert, "kafka_ssl_keyfile": tls.client_key}
    return settings.model_copy(update=update)


def start_kafka(settings: Settings) -> str:
    """Start the nodes of our Kafka that are not running (all, or one that was killed) and wait
    until every node answers and the cluster counts them all; returns a one-line description."""
    nodes = kafka_nodes(settings)
    stopped = [node for node in nodes if node.process.pid() is None]
    if not stopped:
        return f"already running ({_pids(nodes)})"
    require_loopback(nodes[0].host, "Kafka")
    java = shutil.which("java")
    if java is None:
        raise StackError(
            "Java is not installed: install a JDK 17+ (apt-get install openjdk-17-jdk)"
        )
    _require_bootstrap_layout(settings, nodes)
    for node in stopped:  # every port before any start: one clear line, nothing half-started
        _require_free_ports(settings, node)
    classpath = f"{jars_dir(settings)}/*"
    cluster_id = _existing_cluster_id(nodes) or new_cluster_id()
    children = {
        node.node_id: _start_node(settings, node, java, classpath, cluster_id) for node in stopped
    }
    for node in nodes:
        _wait_ready(settings, node, children.get(node.node_id))
    if len(nodes) > 1:
        _wait_brokers_registered(settings, len(nodes))
    return f"started ({_pids(nodes)})"


def _pids(nodes: list[KafkaNode]) -> str:
    if len(nodes) == 1:
        return f"pid {nodes[0].process.pid()}"
    return ", ".join(f"node {n.node_id} pid {n.process.pid()} on {n.address}" for n in nodes)


def _require_bootstrap_layout(settings: Settings, nodes: list[KafkaNode]) -> None:
    """A bootstrap listing several brokers must list the stack's own, in the module's layout."""
    expected = [node.address for node in nodes]
    if len(settings.kafka_servers) > 1 and settings.kafka_servers != expected:
        raise StackError(
            f"SEGSTREAM_KAFKA_BOOTSTRAP lists {','.join(settings.kafka_servers)} but a dev stack "
            f"of {len(nodes)} brokers serves {','.join(expected)}: set it to that, or to its "
            "first address only"
        )


def _require_free_ports(settings: Settings, node: KafkaNode) -> None:
    what = "Kafka" if node.node_id == 1 else f"Kafka node {node.node_id}"
    setting = "SEGSTREAM_KAFKA_BOOTSTRAP"
    require_free_port(node.host, node.port, what, setting)
    require_free_port("127.0.0.1", node.controller_port, f"the {what} controller", setting)
    if settings.kafka_security_protocol != "PLAINTEXT":
        require_free_port("127.0.0.1", node.internal_port, f"the {what} internal listener", setting)


def _existing_cluster_id(nodes: list[KafkaNode]) -> str | None:
    """The cluster id a formatted node holds: a restarted node's peers must share it."""
    for node in nodes:
        meta = node.data_dir / "meta.properties"
        if meta.exists():
            for line in meta.read_text().splitlines():
                key, _, value = line.partition("=")
                if key.strip() == "cluster.id":
                    return value.strip()
    return None


def _start_node(
    settings: Settings, node: KafkaNode, java: str, classpath: str, cluster_id: str
) -> subprocess.Popen[bytes]:
    directory = node.directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    properties = node.properties.resolve()
    properties.touch(mode=0o600)  # a secured broker's holds the SASL password
    properties.write_text(server_properties(settings, node))
    log4j = f"-Dlog4j.configuration=file:{LOG4J}"
    if not (node.data_dir / "meta.properties").exists():
        _format(java, classpath, log4j, properties, cluster_id, extra=scram_users(settings))
    # Several nodes share two cores and the memory of a laptop: a smaller heap each.
    heap = "-Xmx768m" if broker_count(settings) == 1 else "-Xmx512m"
    command = [java, heap, "-Xms256m", "-cp", classpath, log4j, f"-Dkafka.logs.dir={directory}"]
    return node.process.start(
        [*command, "kafka.Kafka", str(properties)], node.log_path.resolve(), directory
    )


def new_cluster_id() -> str:
    """A random KRaft cluster id (22 url-safe base64 characters) that does not start with "-".

    Kafka's storage tool would read such an id as an option and stop ("argument --cluster-id/-t:
    expected one argument"), which failed one start in 64; Kafka's own ``Uuid.randomUuid`` redraws
    those ids too.

    >>> ids = [new_cluster_id() for _ in range(1_000)]
    >>> all(len(i) == 22 and not i.startswith("-") for i in ids)
    True
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def scram_users(settings: Settings) -> list[str]:
    """``--add-scram`` arguments of the storage tool: KRaft keeps SCRAM users in its metadata,
    written when the storage is formatted (a stack keeps the user of its first start)."""
    if not uses_sasl(settings):
        return []
    user, password = _sasl_user(settings)
    arguments: list[str] = []
    for mechanism in SCRAM_MECHANISMS:
        arguments += ["--add-scram", f"{mechanism}=[name={user},password={password}]"]
    return arguments


def _format(
    java: str, classpath: str, log4j: str, properties: Path, cluster_id: str, *, extra: list[str]
) -> None:
    command = [java, "-cp", classpath, log4j, "kafka.tools.StorageTool", "format"]
    command += ["-t", cluster_id, "-c", str(properties), *extra]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise StackError(f"Kafka storage format failed: {done.stderr.strip()[-300:]}")


def _node_client(settings: Settings, node: KafkaNode) -> dict[str, object]:
    """Client options that reach ``node`` alone (the stack's CA where the settings name none)."""
    alone = dev_client_settings(settings).model_copy(update={"kafka_bootstrap": node.address})
    return kafka_python_options(alone)


def _wait_ready(settings: Settings, node: KafkaNode, child: subprocess.Popen[bytes] | None) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    client = _node_client(settings, node)
    while time.monotonic() < deadline:
        if child is not None and child.poll() is not None:
            raise StackError(f"Kafka exited during start-up; see {node.log_path}")
        try:
            KafkaAdminClient(**client, request_timeout_ms=3000).close()
            return
        except KafkaError:
            time.sleep(0.5)
    raise StackError(f"Kafka did not answer within {START_TIMEOUT_S:.0f}s; see {node.log_path}")


def _wait_brokers_registered(settings: Settings, count: int) -> None:
    """Until the cluster's metadata lists every broker: topics of ``count`` replicas can be
    created only then."""
    deadline = time.monotonic() + START_TIMEOUT_S
    client = kafka_python_options(dev_client_settings(settings))
    admin = KafkaAdminClient(**client, request_timeout_ms=3000)
    try:
        while len(admin.describe_cluster()["brokers"]) < count:
            if time.monotonic() > deadline:
                raise StackError(
                    f"Kafka's {count} brokers did not all join within {START_TIMEOUT_S:.0f}s; "
                    f"see the kafka.log of each under {settings.stack_dir}"
                )
            time.sleep(0.5)
    finally:
        admin.close()
