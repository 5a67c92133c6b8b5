"""The Kafka connection settings (brokers and security) as each client library takes them.

Every Kafka client segstream makes is built with one of these: :func:`aiokafka_options` for
aiokafka's consumers, producers and admin clients, :func:`kafka_python_options` for kafka-python's,
and :func:`faust_credentials` for the worker's Faust app. So PLAINTEXT, SSL (client certificates
too), SASL_PLAINTEXT and SASL_SSL with PLAIN or SCRAM reach every client the same way
(tests/streams/test_kafka_clients.py checks that no client is built without them).
"""

from __future__ import annotations

import ssl
from typing import Any

import faust
from faust.types.auth import CredentialsT

from streams.settings import Settings


def uses_tls(settings: Settings) -> bool:
    return settings.kafka_security_protocol in ("SSL", "SASL_SSL")


def uses_sasl(settings: Settings) -> bool:
    return settings.kafka_security_protocol.startswith("SASL_")


def ssl_context(settings: Settings) -> ssl.SSLContext:
    """A TLS client context: the CAs of SEGSTREAM_KAFKA_SSL_CAFILE (else the system's), the client
    certificate if one is set, and host name checking unless turned off."""
    # What aiokafka.helpers.create_ssl_context does, without its log line for every client.
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=settings.kafka_ssl_cafile)
    if settings.kafka_ssl_certfile is not None:
        key_password = settings.kafka_ssl_key_password
        context.load_cert_chain(
            settings.kafka_ssl_certfile,
            settings.kafka_ssl_keyfile,
            key_password.get_secret_value() if key_password else None,
        )
    context.check_hostname = settings.kafka_ssl_check_hostname
    return context


def _sasl_options(settings: Settings) -> dict[str, Any]:
    password = settings.kafka_sasl_password
    return {
        "sasl_mechanism": settings.kafka_sasl_mechanism,
        "sasl_plain_username": settings.kafka_sasl_username,
        "sasl_plain_password": password.get_secret_value() if password else None,
    }


def security_options(settings: Settings) -> dict[str, Any]:
    """The security keyword arguments both aiokafka and kafka-python clients take (kafka-python
    ignores its ssl_* options when given an ``ssl_context``, so one context serves both).

    >>> security_options(Settings())
    {'security_protocol': 'PLAINTEXT'}
    """
    options: dict[str, Any] = {"security_protocol": settings.kafka_security_protocol}
    if uses_tls(settings):
        options["ssl_context"] = ssl_context(settings)
    if uses_sasl(settings):
        options |= _sasl_options(settings)
    return options


def aiokafka_options(settings: Settings) -> dict[str, Any]:
    """``bootstrap_servers`` and security for AIOKafkaConsumer, AIOKafkaProducer and
    AIOKafkaAdminClient: ``AIOKafkaConsumer(topic, **aiokafka_options(settings), group_id=...)``."""
    return {"bootstrap_servers": settings.kafka_servers, **security_options(settings)}


def kafka_python_options(settings: Settings) -> dict[str, Any]:
    """``bootstrap_servers`` and security for kafka-python's KafkaConsumer, KafkaProducer and
    KafkaAdminClient."""
    return {"bootstrap_servers": settings.kafka_servers, **security_options(settings)}


def faust_credentials(settings: Settings) -> CredentialsT | None:
    """``faust.App(broker_credentials=...)``: Faust hands them to every aiokafka client it makes
    (consumer, producers, the topic-creating client)."""
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    if protocol == "SSL":
        return faust.SSLCredentials(ssl_context(settings))
    sasl = _sasl_options(settings)
    return faust.SASLCredentials(
        username=sasl["sasl_plain_username"],
        password=sasl["sasl_plain_password"],
        mechanism=sasl["sasl_mechanism"],
        # A context makes the credentials SASL_SSL; without one they are SASL_PLAINTEXT.
        ssl_context=ssl_context(settings) if uses_tls(settings) else None,
    )
