"""The Kafka security settings: bad combinations are refused at start-up, naming the variable;
passwords never show."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from streams.cli import _settings_or_exit
from streams.settings import Settings
from tests.streams.settings_refusals import refusal

SCRAM = {
    "kafka_security_protocol": "SASL_SSL",
    "kafka_sasl_mechanism": "SCRAM-SHA-512",
    "kafka_sasl_username": "shop",
    "kafka_sasl_password": "s3cret-pw",
}


def test_plaintext_stays_the_default() -> None:
    settings = Settings()
    assert settings.kafka_security_protocol == "PLAINTEXT"
    assert settings.kafka_sasl_username is None
    assert settings.kafka_ssl_cafile is None
    assert settings.kafka_ssl_check_hostname is True


def test_sasl_ssl_with_a_user_and_a_ca_is_accepted(pem: Path) -> None:
    settings = Settings(**SCRAM, kafka_ssl_cafile=pem)  # type: ignore[arg-type]
    assert settings.kafka_sasl_mechanism == "SCRAM-SHA-512"
    assert settings.kafka_ssl_cafile == pem


@pytest.mark.parametrize("missing", ["kafka_sasl_username", "kafka_sasl_password"])
def test_sasl_without_its_user_or_password_is_refused(missing: str) -> None:
    values = {key: value for key, value in SCRAM.items() if key != missing}
    message = refusal(**values)
    assert "SEGSTREAM_KAFKA_SASL_USERNAME and SEGSTREAM_KAFKA_SASL_PASSWORD" in message


def test_a_sasl_user_without_a_sasl_protocol_is_refused() -> None:
    message = refusal(kafka_sasl_username="shop", kafka_sasl_password="pw")
    assert "SEGSTREAM_KAFKA_SECURITY_PROTOCOL=PLAINTEXT" in message


def test_tls_files_without_tls_are_refused(pem: Path) -> None:
    plaintext = SCRAM | {"kafka_security_protocol": "SASL_PLAINTEXT"}
    message = refusal(**plaintext, kafka_ssl_cafile=pem)
    assert "SEGSTREAM_KAFKA_SSL_CAFILE is set" in message


def test_a_certificate_without_its_key_is_refused(pem: Path) -> None:
    message = refusal(kafka_security_protocol="SSL", kafka_ssl_certfile=pem)
    assert "SEGSTREAM_KAFKA_SSL_CERTFILE and SEGSTREAM_KAFKA_SSL_KEYFILE go together" in message


def test_a_key_password_without_a_key_is_refused() -> None:
    message = refusal(kafka_security_protocol="SSL", kafka_ssl_key_password="pw")
    assert "SEGSTREAM_KAFKA_SSL_KEY_PASSWORD" in message


def test_a_file_that_is_not_there_is_refused(tmp_path: Path) -> None:
    message = refusal(kafka_security_protocol="SSL", kafka_ssl_cafile=tmp_path / "nope.pem")
    assert f"SEGSTREAM_KAFKA_SSL_CAFILE={tmp_path / 'nope.pem'}: no readable file there" in message


def test_a_directory_is_refused(tmp_path: Path) -> None:
    message = refusal(kafka_security_protocol="SSL", kafka_ssl_cafile=tmp_path)
    assert "no readable file there" in message


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_a_file_that_cannot_be_read_is_refused(pem: Path) -> None:
    pem.chmod(0)
    message = refusal(kafka_security_protocol="SSL", kafka_ssl_cafile=pem)
    assert "no readable file there" in message


def test_the_cli_names_the_variable_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEGSTREAM_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    with pytest.raises(Exception, match="SEGSTREAM_KAFKA_SASL_USERNAME") as error:
        _settings_or_exit()
    assert "\n" not in str(error.value)


def test_passwords_never_show_in_repr_or_log_lines(
    pem: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(
        **SCRAM,  # type: ignore[arg-type]
        kafka_ssl_cafile=pem,
        kafka_ssl_certfile=pem,
        kafka_ssl_keyfile=pem,
        kafka_ssl_key_password="key-pw-9",
    )
    logging.getLogger("test").warning("settings: %s / %r", settings, settings)
    shown = repr(settings) + str(settings) + caplog.text + str(settings.model_dump())
    assert "shop" in shown
    assert "s3cret-pw" not in shown
    assert "key-pw-9" not in shown


def test_a_child_process_gets_the_passwords_it_needs(pem: Path) -> None:
    env = Settings(**SCRAM, kafka_ssl_cafile=pem).to_env()  # type: ignore[arg-type]
    assert env["SEGSTREAM_KAFKA_SASL_PASSWORD"] == "s3cret-pw"
    assert env["SEGSTREAM_KAFKA_SSL_CAFILE"] == str(pem)
    names = {key: key.removeprefix("SEGSTREAM_").lower() for key in env}
    again = Settings.model_validate({names[key]: value for key, value in env.items()})
    assert again.kafka_sasl_password is not None
    assert again.kafka_sasl_password.get_secret_value() == "s3cret-pw"
