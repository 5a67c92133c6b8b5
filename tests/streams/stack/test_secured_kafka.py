"""The dev stack's secured Kafka: its listeners, SCRAM users and certificates (no broker started;
tests/integration/test_kafka_security.py starts them)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from streams.settings import Settings
from streams.stack import StackError
from streams.stack.kafka import dev_client_settings, scram_users, server_properties
from streams.stack.tls import stack_certificates

SASL: dict[str, Any] = {
    "kafka_bootstrap": "127.0.0.1:41500",
    "kafka_security_protocol": "SASL_SSL",
    "kafka_sasl_username": "dev",
    "kafka_sasl_password": SecretStr("dev-pw"),
}


def settings(tmp_path: Path, **values: Any) -> Settings:
    # model_copy: the stack makes the certificates these settings will name.
    return Settings().model_copy(update={"stack_dir": tmp_path / "stack", **values})


def test_the_default_broker_stays_plaintext(tmp_path: Path) -> None:
    properties = server_properties(settings(tmp_path, kafka_bootstrap="127.0.0.1:9092"))
    assert "listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093" in properties
    assert "ssl." not in properties
    assert "sasl" not in properties
    assert not (tmp_path / "stack" / "tls").exists()
    assert scram_users(settings(tmp_path)) == []


def test_a_sasl_ssl_broker_serves_clients_there_and_itself_in_plaintext_beside(
    tmp_path: Path,
) -> None:
    properties = server_properties(settings(tmp_path, **SASL)).splitlines()
    protocols = "CLIENT:SASL_SSL,CONTROLLER:PLAINTEXT,INTERNAL:PLAINTEXT"
    assert f"listener.security.protocol.map={protocols}" in properties
    assert "advertised.listeners=CLIENT://127.0.0.1:41500,INTERNAL://127.0.0.1:41502" in properties
    assert "inter.broker.listener.name=INTERNAL" in properties
    assert "ssl.client.auth=none" in properties
    enabled = "listener.name.client.sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512"
    assert enabled in properties
    assert any(line.endswith('user_dev="dev-pw";') for line in properties)


def test_scram_users_are_written_at_format_time(tmp_path: Path) -> None:
    assert scram_users(settings(tmp_path, **SASL)) == [
        "--add-scram",
        "SCRAM-SHA-256=[name=dev,password=dev-pw]",
        "--add-scram",
        "SCRAM-SHA-512=[name=dev,password=dev-pw]",
    ]


def test_a_password_the_broker_config_cannot_hold_is_one_clear_line(tmp_path: Path) -> None:
    unsafe = settings(tmp_path, **SASL | {"kafka_sasl_password": SecretStr('a";b')})
    with pytest.raises(StackError, match="only letters, digits"):
        scram_users(unsafe)


def test_ssl_requires_client_certificates(tmp_path: Path) -> None:
    mtls = settings(tmp_path, kafka_bootstrap="127.0.0.1:41500", kafka_security_protocol="SSL")
    assert "ssl.client.auth=required" in server_properties(mtls).splitlines()
    clients = dev_client_settings(mtls)
    tls = tmp_path / "stack" / "tls"
    assert (clients.kafka_ssl_cafile, clients.kafka_ssl_certfile, clients.kafka_ssl_keyfile) == (
        tls / "ca.pem",
        tls / "client.pem",
        tls / "client.key",
    )


def test_the_certificates_chain_to_the_stacks_ca_and_name_loopback(tmp_path: Path) -> None:
    tls = stack_certificates(tmp_path / "tls")
    for certificate in (tls.broker_keystore, tls.client_cert):
        verify = ["openssl", "verify", "-CAfile", str(tls.ca), str(certificate)]
        assert subprocess.run(verify, capture_output=True, check=False).returncode == 0
    text = subprocess.run(
        ["openssl", "x509", "-noout", "-ext", "subjectAltName", "-in", str(tls.broker_keystore)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "IP Address:127.0.0.1" in text
    assert "DNS:localhost" in text
    assert "PRIVATE KEY" in tls.broker_keystore.read_text()
    for secret in (tls.broker_keystore, tls.client_key, tls.directory / "ca.key"):
        assert secret.stat().st_mode & 0o077 == 0, secret  # the owner's alone


def test_the_certificates_are_made_once(tmp_path: Path) -> None:
    first = stack_certificates(tmp_path / "tls").ca.read_bytes()
    assert stack_certificates(tmp_path / "tls").ca.read_bytes() == first
