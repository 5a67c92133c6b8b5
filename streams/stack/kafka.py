"""A single-node Kafka in KRaft mode, from Maven Central jars run with ``java -cp``."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
import tempfile
import time
import uuid
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


def kafka_process(settings: Settings) -> Managed:
    return Managed("kafka", settings.stack_dir / "kafka.pid", "kafka.Kafka")


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


def server_properties(settings: Settings) -> str:
    host, port = settings.kafka_host_port
    controller = port + 1
    data = (settings.stack_dir / "kafka-data").resolve()
    if settings.kafka_security_protocol == "PLAINTEXT":
        listeners = [
            f"listeners=PLAINTEXT://{host}:{port},CONTROLLER://127.0.0.1:{controller}",
            f"advertised.listeners=PLAINTEXT://{host}:{port}",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        ]
    else:
        listeners = secured_listeners(settings)
    return "\n".join(
        [
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{controller}",
            *listeners,
            "controller.listener.names=CONTROLLER",
            f"log.dirs={data}",
            "num.partitions=8",
            "offsets.topic.replication.factor=1",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            "auto.create.topics.enable=true",
            "",
        ]
    )


def secured_listeners(settings: Settings) -> list[str]:
    """Clients connect to SEGSTREAM_KAFKA_BOOTSTRAP with SEGSTREAM_KAFKA_SECURITY_PROTOCOL; the
    broker talks to itself on a loopback PLAINTEXT listener (bootstrap port + 2), which keeps the
    dev broker's own traffic out of the way of what is being tried. SASL accepts PLAIN and SCRAM
    for the SEGSTREAM_KAFKA_SASL_USERNAME/PASSWORD user; SSL requires a client certificate."""
    host, port = settings.kafka_host_port
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
    """Start Kafka unless ours is running; returns a one-line description."""
    process = kafka_process(settings)
    host, port = settings.kafka_host_port
    if process.pid() is not None:
        return f"already running (pid {process.pid()})"
    require_loopback(host, "Kafka")
    java = shutil.which("java")
    if java is None:
        raise StackError(
            "Java is not installed: install a JDK 17+ (apt-get install openjdk-17-jdk)"
        )
    require_free_port(host, port, "Kafka", "SEGSTREAM_KAFKA_BOOTSTRAP")
    require_free_port("127.0.0.1", port + 1, "the Kafka controller", "SEGSTREAM_KAFKA_BOOTSTRAP")
    if settings.kafka_security_protocol != "PLAINTEXT":
        require_free_port(
            "127.0.0.1", port + 2, "the Kafka internal listener", "SEGSTREAM_KAFKA_BOOTSTRAP"
        )
    classpath = f"{jars_dir(settings)}/*"
    stack = settings.stack_dir.resolve()
    stack.mkdir(parents=True, exist_ok=True)
    properties = stack / "server.properties"
    properties.touch(mode=0o600)  # a secured broker's holds the SASL password
    properties.write_text(server_properties(settings))
    log4j = f"-Dlog4j.configuration=file:{LOG4J}"
    if not (stack / "kafka-data" / "meta.properties").exists():
        _format(java, classpath, log4j, properties, stack, extra=scram_users(settings))
    command = [java, "-Xmx768m", "-Xms256m", "-cp", classpath, log4j, f"-Dkafka.logs.dir={stack}"]
    child = process.start([*command, "kafka.Kafka", str(properties)], stack / "kafka.log", stack)
    _wait_ready(settings, child, stack / "kafka.log")
    return f"started (pid {child.pid})"


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
    java: str, classpath: str, log4j: str, properties: Path, stack: Path, *, extra: list[str]
) -> None:
    cluster_id = new_cluster_id()
    command = [java, "-cp", classpath, log4j, "kafka.tools.StorageTool", "format"]
    command += ["-t", cluster_id, "-c", str(properties), *extra]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise StackError(f"Kafka storage format failed: {done.stderr.strip()[-300:]}")


def _wait_ready(settings: Settings, child: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    client = kafka_python_options(dev_client_settings(settings))
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise StackError(f"Kafka exited during start-up; see {log_path}")
        try:
            KafkaAdminClient(**client, request_timeout_ms=3000).close()
            return
        except KafkaError:
            time.sleep(0.5)
    raise StackError(f"Kafka did not answer within {START_TIMEOUT_S:.0f}s; see {log_path}")
