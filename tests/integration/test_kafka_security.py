"""A worker and the CLI through a secured Kafka: SASL_SSL with SCRAM (and PLAIN), SSL with client
certificates; a wrong password or an untrusted certificate is one line naming the setting.

The brokers are this module's own (the dev stack's secured mode, on free 41xxx ports, data and
certificates under tmp), stopped by their pids; Redis is the shared test stack's.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from kafka import KafkaProducer
from pydantic import SecretStr

from streams.dependencies import ensure_topics, kafka_admin
from streams.errors import EXIT_UNAVAILABLE, EXIT_UNHEALTHY, EXIT_USAGE
from streams.kafka_login import KafkaLoginError
from streams.kafka_security import kafka_python_options
from streams.settings import Settings
from streams.sink.redis_keys import customer_key
from streams.stack.kafka import dev_client_settings, kafka_process, start_kafka
from streams.stack.processes import port_in_use
from streams.stack.tls import stack_certificates
from tests.integration.harness import WorkerProcess, isolated_settings, wait_until

pytestmark = pytest.mark.integration

USER = "segstream-test"
PASSWORD = "pw-" + os.urandom(6).hex()
# A refused login must end the command at once: were it retried, these waits would not end it
# before the subprocess bound below does.
WAIT_LONG = {"SEGSTREAM_DEPENDENCY_TIMEOUT_S": "3600"}
COMMAND_BOUND_S = 300


def free_listener_ports() -> int | None:
    """A 41xxx port whose next two (controller, internal listener) are free too, or None."""
    port = random.randrange(41000, 41990)
    return None if any(port_in_use("127.0.0.1", p) for p in range(port, port + 3)) else port


def secured_broker(stack: Settings, directory: Path, **security: Any) -> Iterator[Settings]:
    """A broker of the dev stack's secured mode; yields the settings of its clients."""
    port = wait_until(free_listener_ports, timeout_s=10, what="three free consecutive ports")
    broker = stack.model_copy(
        update={"kafka_bootstrap": f"127.0.0.1:{port}", "stack_dir": directory, **security}
    )
    start_kafka(broker)
    try:
        yield dev_client_settings(broker)
    finally:
        kafka_process(broker).stop()


@pytest.fixture(scope="module")
def sasl_kafka(stack: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    yield from secured_broker(
        stack,
        tmp_path_factory.mktemp("sasl-kafka"),
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username=USER,
        kafka_sasl_password=SecretStr(PASSWORD),
    )


def cli(settings: Settings, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", *arguments],
        env={**os.environ, **settings.to_env(), **WAIT_LONG},
        capture_output=True,
        text=True,
        timeout=COMMAND_BOUND_S,
        check=False,
    )


def produce(settings: Settings, events: list[dict[str, Any]]) -> None:
    ensure_topics(settings)
    producer = KafkaProducer(**kafka_python_options(settings), acks="all")
    try:
        for event in events:
            producer.send(
                settings.events_topic,
                key=event["customer_id"].encode(),
                value=json.dumps(event).encode(),
            )
        producer.flush(30)
    finally:
        producer.close()


def purchase(customer: str, n: int, total: str) -> dict[str, Any]:
    return {
        "type": "purchase",
        "event_id": f"{customer}-{n}",
        "customer_id": customer,
        "ts": "2026-01-15T10:00:00Z",
        "order_id": f"{customer}-o{n}",
        "total": total,
    }


def assert_one_line_naming(done: subprocess.CompletedProcess[str], *words: str) -> None:
    lines = done.stderr.strip().splitlines()
    assert done.returncode == EXIT_USAGE, done.stderr
    assert len(lines) == 1, done.stderr
    for word in words:
        assert word in lines[0]


def test_a_worker_and_the_cli_work_through_sasl_ssl_with_scram(
    sasl_kafka: Settings, tmp_path: Path
) -> None:
    settings = isolated_settings(sasl_kafka, tmp_path / "worker")
    client = redis.Redis.from_url(settings.redis_url)
    worker = WorkerProcess(settings, tmp_path / "worker.log").start()
    try:
        worker.wait_ready()
        produce(settings, [purchase("alice", 1, "60.00"), purchase("alice", 2, "40.00")])
        key = customer_key(settings.redis_key_prefix, "alice")
        raw = wait_until(lambda: client.hgetall(key), timeout_s=90, what="alice's membership")
        assert b"big_spenders" in raw
        lag = cli(settings, "lag", "--interval", "0", "--json")
        assert lag.returncode == 0, lag.stderr
        assert settings.app_id in lag.stdout
        status = cli(settings, "status", "--json")
        assert json.loads(status.stdout)["workers"], status.stderr
    finally:
        worker.stop()
        for stale in client.scan_iter(match=f"{settings.redis_key_prefix}:*"):
            client.delete(stale)
        client.close()
    assert PASSWORD not in worker.log()


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256"])
def test_the_other_sasl_mechanisms_log_in(sasl_kafka: Settings, mechanism: str) -> None:
    kafka_admin(sasl_kafka.model_copy(update={"kafka_sasl_mechanism": mechanism})).close()


def test_a_wrong_password_is_one_line_naming_the_setting(
    sasl_kafka: Settings, tmp_path: Path
) -> None:
    wrong = isolated_settings(
        sasl_kafka, tmp_path / "worker", kafka_sasl_password=SecretStr("not-" + PASSWORD)
    )
    for command in (["status"], ["lag", "--interval", "0"], ["worker"]):
        done = cli(wrong, *command)
        assert_one_line_naming(
            done, f"refused the SASL login of user '{USER}'", "SEGSTREAM_KAFKA_SASL_PASSWORD"
        )
        assert PASSWORD not in done.stderr


def test_a_ca_that_did_not_sign_the_broker_is_one_line_naming_the_setting(
    sasl_kafka: Settings, tmp_path: Path
) -> None:
    other_ca = stack_certificates(tmp_path / "other-tls").ca
    untrusting = isolated_settings(sasl_kafka, tmp_path / "worker", kafka_ssl_cafile=other_ca)
    for command in (["status"], ["worker"]):
        done = cli(untrusting, *command)
        assert_one_line_naming(done, "not signed by a CA of SEGSTREAM_KAFKA_SSL_CAFILE")


@pytest.fixture(scope="module")
def mtls_kafka(stack: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    yield from secured_broker(
        stack, tmp_path_factory.mktemp("mtls-kafka"), kafka_security_protocol="SSL"
    )


def test_ssl_with_a_client_certificate(mtls_kafka: Settings, tmp_path: Path) -> None:
    assert mtls_kafka.kafka_ssl_certfile is not None  # the stack's client certificate
    settings = isolated_settings(mtls_kafka, tmp_path / "worker")
    answers: list[subprocess.CompletedProcess[str]] = []

    def answered() -> subprocess.CompletedProcess[str] | None:
        # A new broker makes its consumer offsets topic on the first question about groups, and
        # says CoordinatorNotAvailable (exit 3) until it has.
        answers.append(cli(settings, "status", "--json"))
        return answers[-1] if answers[-1].returncode != EXIT_UNAVAILABLE else None

    done = wait_until(answered, timeout_s=120, what=f"status through mTLS ({answers[-1:]})")
    assert done.returncode == EXIT_UNHEALTHY, done.stderr  # it asked Kafka: no worker there
    assert json.loads(done.stdout)["problems"] == ["no worker is running"]
    anonymous = mtls_kafka.model_copy(
        update={"kafka_ssl_certfile": None, "kafka_ssl_keyfile": None}
    )
    assert_one_line_naming(cli(anonymous, "status"), "requires a client certificate")


@pytest.fixture(scope="module")
def sasl_plaintext_kafka(
    stack: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    yield from secured_broker(
        stack,
        tmp_path_factory.mktemp("sasl-plaintext-kafka"),
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_mechanism="SCRAM-SHA-256",
        kafka_sasl_username=USER,
        kafka_sasl_password=SecretStr(PASSWORD),
    )


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"])
def test_sasl_without_tls_logs_in_and_refuses_a_wrong_password(
    sasl_plaintext_kafka: Settings, mechanism: str
) -> None:
    settings = sasl_plaintext_kafka.model_copy(update={"kafka_sasl_mechanism": mechanism})
    kafka_admin(settings).close()
    wrong = settings.model_copy(update={"kafka_sasl_password": SecretStr("not-" + PASSWORD)})
    with pytest.raises(KafkaLoginError, match=f"refused the SASL login of user '{USER}'"):
        # Were it retried, the wait would end in DependencyError (unreachable) instead.
        kafka_admin(wrong, timeout_s=120).close()
