"""What a broker's refusal of our login says, in one line naming the setting (no Kafka needed;
tests/integration/test_kafka_security.py has the real broker's refusals)."""

from __future__ import annotations

import socket
import ssl
from typing import Any

from aiokafka.errors import KafkaConnectionError, SaslAuthenticationFailed

from streams.kafka_login import explain, login_problem
from streams.settings import Settings

SCRAM: dict[str, Any] = {
    "kafka_security_protocol": "SASL_SSL",
    "kafka_sasl_mechanism": "SCRAM-SHA-256",
    "kafka_sasl_username": "shop",
    "kafka_sasl_password": "s3cret-pw",
}


def verify_failure(message: str) -> ssl.SSLCertVerificationError:
    error = ssl.SSLCertVerificationError(1, f"[SSL: CERTIFICATE_VERIFY_FAILED] {message}")
    error.verify_message = message
    return error


def test_a_refused_password_names_the_user_and_the_setting() -> None:
    line = explain(Settings(**SCRAM), "k1:9093", SaslAuthenticationFailed("invalid credentials"))
    assert line is not None
    assert "Kafka at k1:9093 refused the SASL login of user 'shop' (SCRAM-SHA-256)" in line
    assert "SEGSTREAM_KAFKA_SASL_PASSWORD" in line
    assert "s3cret-pw" not in line


def test_an_untrusted_certificate_names_the_ca_file() -> None:
    line = explain(Settings(**SCRAM), "k1:9093", verify_failure("unable to get local issuer"))
    assert line is not None
    assert "SEGSTREAM_KAFKA_SSL_CAFILE (the system's CAs)" in line


def test_a_certificate_for_another_host_names_the_host_check() -> None:
    error = verify_failure("Hostname mismatch, certificate is not valid for 'k1'.")
    line = explain(Settings(**SCRAM), "k1:9093", error)
    assert line is not None
    assert "SEGSTREAM_KAFKA_SSL_CHECK_HOSTNAME=false" in line


def test_a_missing_client_certificate_names_the_certificate_settings() -> None:
    error = ssl.SSLError(1, "[SSL: TLSV13_ALERT_CERTIFICATE_REQUIRED] tlsv13 alert")
    error.reason = "TLSV13_ALERT_CERTIFICATE_REQUIRED"
    line = explain(Settings(**SCRAM), "k1:9093", error)
    assert line is not None
    assert "SEGSTREAM_KAFKA_SSL_CERTFILE and SEGSTREAM_KAFKA_SSL_KEYFILE" in line


def test_the_tls_error_behind_aiokafkas_connection_error_is_the_one_explained() -> None:
    alert = ssl.SSLError(1, "[SSL: SSLV3_ALERT_BAD_CERTIFICATE] sslv3 alert bad certificate")
    alert.reason = "SSLV3_ALERT_BAD_CERTIFICATE"
    closed = KafkaConnectionError("Connection at k1:9093 closed")
    closed.__cause__ = alert
    mtls: dict[str, Any] = {"kafka_security_protocol": "SSL"}
    line = explain(Settings(**mtls), "k1:9093", closed)
    assert line is not None
    assert "requires a client certificate" in line


def test_a_broker_that_is_not_there_is_not_a_login_problem() -> None:
    assert explain(Settings(**SCRAM), "k1:9093", KafkaConnectionError("refused")) is None
    assert explain(Settings(**SCRAM), "k1:9093", ConnectionRefusedError()) is None


def test_plaintext_is_never_probed() -> None:
    # Port 1 of loopback refuses at once, but PLAINTEXT does not even try.
    assert login_problem(Settings(kafka_bootstrap="127.0.0.1:1")) is None


def test_a_closed_port_leaves_the_answer_to_the_caller() -> None:
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        port = placeholder.getsockname()[1]
        settings = Settings(**SCRAM | {"kafka_bootstrap": f"127.0.0.1:{port}"})
        assert login_problem(settings, timeout_s=5) is None
