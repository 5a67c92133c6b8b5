"""The Kafka settings as aiokafka, kafka-python and Faust take them (no Kafka needed)."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import faust
import pytest
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

from streams.ingest.rebatcher import consumer_options
from streams.kafka_security import (
    aiokafka_options,
    faust_credentials,
    kafka_python_options,
    security_options,
)
from streams.settings import Settings
from streams.stack.tls import StackCertificates, stack_certificates
from tests.streams.ops.test_wiring import worker

SCRAM: dict[str, Any] = {
    "kafka_bootstrap": "127.0.0.1:9093,127.0.0.2:9093",
    "kafka_security_protocol": "SASL_SSL",
    "kafka_sasl_mechanism": "SCRAM-SHA-512",
    "kafka_sasl_username": "shop",
    "kafka_sasl_password": "s3cret-pw",
}


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> StackCertificates:
    return stack_certificates(tmp_path_factory.mktemp("tls"))


def test_plaintext_options_are_the_brokers_alone() -> None:
    settings = Settings(kafka_bootstrap="127.0.0.1:9092")
    expected = {"bootstrap_servers": ["127.0.0.1:9092"], "security_protocol": "PLAINTEXT"}
    assert aiokafka_options(settings) == expected
    assert kafka_python_options(settings) == expected
    assert faust_credentials(settings) is None


def test_sasl_ssl_gives_every_library_the_user_and_a_verifying_context(
    tls: StackCertificates,
) -> None:
    settings = Settings(**SCRAM, kafka_ssl_cafile=tls.ca)
    for options in (aiokafka_options(settings), kafka_python_options(settings)):
        assert options["bootstrap_servers"] == ["127.0.0.1:9093", "127.0.0.2:9093"]
        assert options["security_protocol"] == "SASL_SSL"
        assert options["sasl_mechanism"] == "SCRAM-SHA-512"
        assert (options["sasl_plain_username"], options["sasl_plain_password"]) == (
            "shop",
            "s3cret-pw",
        )
        context: ssl.SSLContext = options["ssl_context"]
        assert context.verify_mode == ssl.CERT_REQUIRED
        assert context.check_hostname is True
        assert [ca["subject"] for ca in context.get_ca_certs()] == [
            ((("commonName", "segstream dev CA"),),)
        ]


def test_faust_hands_the_same_login_to_its_aiokafka_clients(tls: StackCertificates) -> None:
    settings = Settings(**SCRAM, kafka_ssl_cafile=tls.ca)
    credentials = faust_credentials(settings)
    auth = credentials_to_aiokafka_auth(credentials)  # what Faust passes its clients
    ours = security_options(settings)
    assert {key: auth[key] for key in ours if key != "ssl_context"} == {
        key: value for key, value in ours.items() if key != "ssl_context"
    }
    assert auth["ssl_context"].verify_mode == ssl.CERT_REQUIRED
    assert "s3cret-pw" not in repr(credentials)


def test_sasl_plaintext_has_no_tls() -> None:
    settings = Settings(**SCRAM | {"kafka_security_protocol": "SASL_PLAINTEXT"})
    assert "ssl_context" not in aiokafka_options(settings)
    auth = credentials_to_aiokafka_auth(faust_credentials(settings))
    assert auth["security_protocol"] == "SASL_PLAINTEXT"
    assert auth["ssl_context"] is None


def test_ssl_with_a_client_certificate_and_no_sasl(tls: StackCertificates) -> None:
    settings = Settings(
        kafka_security_protocol="SSL",
        kafka_ssl_cafile=tls.ca,
        kafka_ssl_certfile=tls.client_cert,
        kafka_ssl_keyfile=tls.client_key,
        kafka_ssl_check_hostname=False,
    )
    options = kafka_python_options(settings)
    assert options["security_protocol"] == "SSL"
    assert not any(key.startswith("sasl") for key in options)
    assert options["ssl_context"].check_hostname is False
    credentials = faust_credentials(settings)
    assert isinstance(credentials, faust.SSLCredentials)
    assert credentials_to_aiokafka_auth(credentials)["security_protocol"] == "SSL"


def test_a_key_that_does_not_match_its_certificate_fails_loudly(tls: StackCertificates) -> None:
    settings = Settings(
        kafka_security_protocol="SSL",
        kafka_ssl_certfile=tls.client_cert,
        kafka_ssl_keyfile=tls.directory / "broker.key",
    )
    with pytest.raises(ssl.SSLError):
        security_options(settings)


def test_the_worker_and_its_rebatcher_log_in(tmp_path: Path, tls: StackCertificates) -> None:
    segstream = worker(tmp_path, **SCRAM, kafka_ssl_cafile=tls.ca)
    auth = credentials_to_aiokafka_auth(segstream.app.conf.broker_credentials)
    assert (auth["security_protocol"], auth["sasl_plain_password"]) == ("SASL_SSL", "s3cret-pw")
    rebatcher = consumer_options(segstream.settings)
    assert (rebatcher["security_protocol"], rebatcher["sasl_plain_username"]) == (
        "SASL_SSL",
        "shop",
    )


def test_the_plaintext_worker_has_no_credentials(tmp_path: Path) -> None:
    assert worker(tmp_path).app.conf.broker_credentials is None
