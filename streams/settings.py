"""The one settings object: every knob is an environment variable prefixed ``SEGSTREAM_``.

Bad values are refused at start-up with the variable's name, so a worker never runs half-configured.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from models.features import DEFAULT_FEATURES, FeatureExtractor, FeatureSpecError

ENV_PREFIX = "SEGSTREAM_"

KafkaSecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
KafkaSaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


def _default_cache_dir() -> Path:
    return Path.home() / ".cache" / "segstream"


DEFAULT_CLUSTER_NAMES = Path(__file__).resolve().parents[1] / "models" / "cluster_names.yaml"


class Settings(BaseSettings):
    """Configuration for workers, CLI and the local dev stack."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="ignore", frozen=True, validate_default=True
    )

    # --- Kafka -------------------------------------------------------------------------------
    kafka_bootstrap: str = Field(
        "127.0.0.1:9092", description="Comma-separated host:port list of Kafka brokers."
    )
    app_id: str = Field(
        "segstream", pattern=r"^[A-Za-z0-9._-]+$", description="Faust app id / consumer group."
    )
    events_topic: str = Field("segstream-events", pattern=r"^[A-Za-z0-9._-]+$")
    dead_letter_topic: str = Field("segstream-dead-letters", pattern=r"^[A-Za-z0-9._-]+$")
    topic_partitions: int = Field(8, ge=1, le=1024)
    topic_replication: int = Field(
        1, ge=1, le=16, description="Replicas of each topic segstream creates; at most the brokers."
    )
    topic_min_insync_replicas: int = Field(
        1,
        ge=1,
        le=16,
        description="Replicas that must hold a write before acks=all succeeds (<= replication).",
    )
    kafka_session_timeout_s: float = Field(
        60.0,
        ge=6,
        le=300,
        description="A worker that stops heartbeating (killed, hung) leaves the group this late.",
    )
    # Every Kafka client (worker, rebatcher, trainer, CLI, simulator) connects with these, through
    # streams/kafka_security.py; checked together by _check_security.
    kafka_security_protocol: KafkaSecurityProtocol = Field(
        "PLAINTEXT", description="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL."
    )
    kafka_sasl_mechanism: KafkaSaslMechanism = Field(
        "PLAIN", description="PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (SASL_* protocols)."
    )
    kafka_sasl_username: str | None = Field(None, description="SASL user (SASL_* protocols).")
    kafka_sasl_password: SecretStr | None = Field(None, description="SASL password; never logged.")
    kafka_ssl_cafile: Path | None = Field(
        None, description="PEM file of the CAs that sign the brokers' certificates (unset: system)."
    )
    kafka_ssl_certfile: Path | None = Field(
        None, description="PEM client certificate, for brokers that require one (mutual TLS)."
    )
    kafka_ssl_keyfile: Path | None = Field(None, description="PEM private key of the certificate.")
    kafka_ssl_key_password: SecretStr | None = Field(
        None, description="Password of an encrypted private key; never logged."
    )
    kafka_ssl_check_hostname: bool = Field(
        True, description="Brokers' certificates must name their host in SEGSTREAM_KAFKA_BOOTSTRAP."
    )

    dependency_timeout_s: float | None = Field(
        None,
        ge=0,
        le=3600,
        description="How long commands wait for Kafka or Redis at start (unset: 30 s, 15 s).",
    )

    # --- Redis -------------------------------------------------------------------------------
    redis_url: str = Field(
        "redis://127.0.0.1:6379/0", description="Redis URL (rediss:// for TLS), without password."
    )
    redis_password: SecretStr | None = Field(None, description="Redis password, if any.")
    # Every Redis client (worker, CLI, storefront, probes) is built from these in
    # streams/redis_connection.py; checked together by _check_security.
    redis_username: str | None = Field(
        None, min_length=1, description="Redis ACL user (unset: the default user)."
    )
    redis_ssl_ca_file: Path | None = Field(
        None, description="PEM file of the CAs that sign Redis's certificate (unset: system)."
    )
    redis_ssl_cert_file: Path | None = Field(
        None, description="PEM client certificate, for a Redis with tls-auth-clients yes."
    )
    redis_ssl_key_file: Path | None = Field(None, description="PEM private key of the certificate.")
    redis_ssl_check_hostname: bool = Field(
        True, description="Redis's certificate must name the host in SEGSTREAM_REDIS_URL."
    )
    redis_cluster: bool = Field(
        False,
        description="Redis Cluster: SEGSTREAM_REDIS_URL names one node (db 0), clients find the "
        "rest and follow failovers.",
    )
    redis_cluster_nodes: str = Field(
        "",
        description="More Redis Cluster nodes to start from, host:port,host:port: a client "
        "started while the URL's node is down still finds the cluster.",
    )
    redis_key_prefix: str = Field("segstream:v2", pattern=r"^[A-Za-z0-9:._-]+$")
    redis_anonymous_ttl_s: int = Field(
        30 * 86_400, ge=1, le=10 * 365 * 86_400, description="Anonymous visitors' keys expire."
    )
    redis_tombstone_ttl_s: int = Field(
        3_600, ge=1, le=30 * 86_400, description="How long a segment-less customer keeps a version."
    )
    redis_changes_maxlen: int = Field(
        100_000, ge=100, le=100_000_000, description="Approximate length of the change feed."
    )

    # --- Worker ------------------------------------------------------------------------------
    data_dir: Path = Field(Path(".segstream/worker"), description="Faust table state (RocksDB).")
    web_host: str = Field("127.0.0.1", description="Faust web server bind address.")
    web_port: int = Field(6066, ge=1, le=65535)
    web_advertised_host: str | None = Field(
        None, description="Host other workers and `segstream status` reach this worker at."
    )
    web_tables_enabled: bool = Field(
        False, description="Serve Faust's /table/ views, which show table contents."
    )
    ops_interval_s: float = Field(
        10.0, ge=0.2, le=300, description="How often a worker reads lag, segment sizes, Redis."
    )
    resync_check_interval_s: float = Field(
        5.0,
        ge=0.1,
        le=3600,
        description="How often a worker checks that Redis still holds its partitions' markers.",
    )
    # Measured with the bench suite: rounds of up to 8,000 events took the worker through a backlog
    # at 7,788 events/s where 2,000 gave 6,420 (fewer, fuller envelopes per round).
    batch_max_events: int = Field(8000, ge=1, le=100_000)
    batch_max_wait_s: float = Field(0.05, gt=0, le=10)
    # Latency against CPU while events trickle in (streams.ingest.rebatcher.FETCH_MIN_BYTES).
    ingest_fetch_wait_ms: int = Field(
        10,
        ge=1,
        le=500,
        description="Longest the broker holds the rebatcher's fetch for more events.",
    )
    max_event_bytes: int = Field(64 * 1024, ge=256, le=1024 * 1024)
    envelope_max_bytes: int = Field(
        512 * 1024, ge=64 * 1024, le=2 * 1024 * 1024, description="Size of one rebatched envelope."
    )
    profile_cache_size: int = Field(100_000, ge=0, le=10_000_000, description="Decoded profiles.")
    table_standby_replicas: int = Field(
        1,
        ge=0,
        le=8,
        description="Other workers keeping a copy of each partition's profiles, ready to take it.",
    )
    rules_dir: Path | None = Field(
        None, description="Directory of segment rule files (*.yaml); unset: the built-in rule."
    )
    rules_recheck_s: float = Field(
        3600.0,
        ge=1,
        le=7 * 86_400,
        description="How often rules whose timing cannot be solved are re-checked per customer.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"

    # --- Machine-learned clusters (models/) ----------------------------------------------------
    cluster_enabled: bool = Field(True, description="Workers sample, assign and publish clusters.")
    cluster_features: str = Field(
        ",".join(DEFAULT_FEATURES), description="Comma-separated specs (models/features.py)."
    )
    cluster_count: int = Field(9, ge=2, le=64, description="k: clusters the trainer learns.")
    cluster_sample_rate: float = Field(
        0.25, gt=0, le=1, description="Share of customers whose vectors go to the trainer."
    )
    cluster_holdout: float = Field(
        0.0,
        ge=0,
        le=0.5,
        description="Share of each cluster segment's members held out as a control group.",
    )
    cluster_min_sessions: int = Field(
        2, ge=0, le=10_000, description="Sessions a profile needs before it is sampled or assigned."
    )
    cluster_min_samples: int = Field(
        2000, ge=10, le=10_000_000, description="Cold start: samples before the first model."
    )
    cluster_publish_every: int = Field(
        1000, ge=1, le=10_000_000, description="Samples between published model snapshots."
    )
    cluster_reservoir_size: int = Field(
        2000, ge=10, le=1_000_000, description="Customers whose latest vectors the trainer fits."
    )
    cluster_names_file: Path | None = Field(
        DEFAULT_CLUSTER_NAMES, description="YAML: cluster id -> marketer's name."
    )
    cluster_seed: int = Field(7, ge=0, description="Seed of the trainer's k-means++ draws.")

    # --- Local dev stack -------------------------------------------------------------------------
    kafka_version: str = Field("3.9.1", pattern=r"^\d+\.\d+\.\d+$")
    cache_dir: Path = Field(default_factory=_default_cache_dir, description="Kafka jar cache.")
    stack_dir: Path = Field(Path(".segstream/stack"), description="Dev stack data, logs, pids.")
    dev_kafka_brokers: int | None = Field(
        None,
        ge=1,
        le=9,
        description="Brokers of the dev stack's Kafka (dev up --brokers); unset: as many as "
        "SEGSTREAM_KAFKA_BOOTSTRAP lists.",
    )

    @field_validator("kafka_bootstrap")
    @classmethod
    def _check_bootstrap(cls, value: str) -> str:
        for server in value.split(","):
            host, sep, port = server.strip().rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"expected host:port[,host:port...], got {server!r}")
        return value

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in {"redis", "rediss", "unix"}:
            raise ValueError(f"expected a redis://, rediss:// or unix:// URL, got {value!r}")
        if parts.password:
            raise ValueError("put the Redis password in SEGSTREAM_REDIS_PASSWORD, not in the URL")
        return value

    @field_validator("redis_cluster_nodes")
    @classmethod
    def _check_redis_cluster_nodes(cls, value: str) -> str:
        for node in filter(None, (part.strip() for part in value.split(","))):
            host, sep, port = node.rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"expected host:port[,host:port...], got {node!r}")
        return value

    @field_validator("cluster_features")
    @classmethod
    def _check_cluster_features(cls, value: str) -> str:
        try:
            FeatureExtractor.parse(value)
        except FeatureSpecError as exc:
            raise ValueError(str(exc)) from exc
        return value

    @model_validator(mode="after")
    def _check_security(self) -> Settings:
        problem = kafka_security_problem(self) or redis_security_problem(self)
        if problem is not None:
            raise ValueError(problem)
        return self

    @model_validator(mode="after")
    def _check_redis_cluster(self) -> Settings:
        database = urlsplit(self.redis_url).path.strip("/") or "0"
        if self.redis_cluster and database != "0":
            raise ValueError(
                f"SEGSTREAM_REDIS_CLUSTER=true but SEGSTREAM_REDIS_URL selects database "
                f"{database}: Redis Cluster has only database 0"
            )
        return self

    @model_validator(mode="after")
    def _check_replication(self) -> Settings:
        if self.topic_min_insync_replicas > self.topic_replication:
            raise ValueError(
                f"SEGSTREAM_TOPIC_MIN_INSYNC_REPLICAS={self.topic_min_insync_replicas} is more "
                f"than SEGSTREAM_TOPIC_REPLICATION={self.topic_replication}: no write could succeed"
            )
        return self

    @model_validator(mode="after")
    def _check_cluster_sizes(self) -> Settings:
        least = 10 * self.cluster_count
        if min(self.cluster_min_samples, self.cluster_reservoir_size) < least:
            raise ValueError(
                f"SEGSTREAM_CLUSTER_MIN_SAMPLES and SEGSTREAM_CLUSTER_RESERVOIR_SIZE must be at "
                f"least 10 x SEGSTREAM_CLUSTER_COUNT = {least}"
            )
        return self

    @property
    def cluster_feature_names(self) -> tuple[str, ...]:
        return FeatureExtractor.parse(self.cluster_features).names

    def to_env(self) -> dict[str, str]:
        """These settings as ``SEGSTREAM_*`` variables, to configure a child process identically."""
        env: dict[str, str] = {}
        for name, value in self.model_dump().items():
            if value is not None:
                plain = value.get_secret_value() if isinstance(value, SecretStr) else value
                env[ENV_PREFIX + name.upper()] = str(plain)
        return env

    @property
    def redis_password_text(self) -> str | None:
        return self.redis_password.get_secret_value() if self.redis_password else None

    @property
    def web_url(self) -> str:
        """Where this worker's web server is reached (the address Faust tells other workers)."""
        return f"http://{self.web_advertised_host or self.web_host}:{self.web_port}"

    @property
    def kafka_servers(self) -> list[str]:
        return [server.strip() for server in self.kafka_bootstrap.split(",")]

    @property
    def redis_cluster_startup_nodes(self) -> list[tuple[str, int]]:
        """SEGSTREAM_REDIS_CLUSTER_NODES as (host, port) pairs."""
        nodes = filter(None, (part.strip() for part in self.redis_cluster_nodes.split(",")))
        return [(host, int(port)) for host, _, port in (n.rpartition(":") for n in nodes)]

    @property
    def redis_host_port(self) -> tuple[str, int]:
        parts = urlsplit(self.redis_url)
        return parts.hostname or "127.0.0.1", parts.port or 6379

    @property
    def kafka_host_port(self) -> tuple[str, int]:
        host, _, port = self.kafka_servers[0].rpartition(":")
        return host, int(port)


def kafka_security_problem(settings: Settings) -> str | None:
    """What is inconsistent in the Kafka security settings (one line naming the variables), or
    None: SASL without its user, TLS files without TLS, a certificate without its key, a file
    that cannot be read. A worker refuses these at start-up instead of failing at each connect."""
    protocol = settings.kafka_security_protocol
    sasl = protocol.startswith("SASL_")
    where = f"SEGSTREAM_KAFKA_SECURITY_PROTOCOL={protocol}"
    if sasl and not (settings.kafka_sasl_username and settings.kafka_sasl_password):
        return f"{where} needs SEGSTREAM_KAFKA_SASL_USERNAME and SEGSTREAM_KAFKA_SASL_PASSWORD"
    if not sasl and (settings.kafka_sasl_username or settings.kafka_sasl_password):
        return f"SEGSTREAM_KAFKA_SASL_USERNAME/PASSWORD are set but {where}: use SASL_SSL"
    files = {
        "SEGSTREAM_KAFKA_SSL_CAFILE": settings.kafka_ssl_cafile,
        "SEGSTREAM_KAFKA_SSL_CERTFILE": settings.kafka_ssl_certfile,
        "SEGSTREAM_KAFKA_SSL_KEYFILE": settings.kafka_ssl_keyfile,
    }
    named = [name for name, path in files.items() if path is not None]
    if named and protocol not in ("SSL", "SASL_SSL"):
        return f"{named[0]} is set but {where}: use SSL or SASL_SSL"
    if (settings.kafka_ssl_certfile is None) != (settings.kafka_ssl_keyfile is None):
        return "SEGSTREAM_KAFKA_SSL_CERTFILE and SEGSTREAM_KAFKA_SSL_KEYFILE go together"
    if settings.kafka_ssl_key_password is not None and settings.kafka_ssl_keyfile is None:
        return "SEGSTREAM_KAFKA_SSL_KEY_PASSWORD is set without SEGSTREAM_KAFKA_SSL_KEYFILE"
    for name in named:
        path = files[name]
        if path is not None and not (path.is_file() and os.access(path, os.R_OK)):
            return f"{name}={path}: no readable file there"
    return None


def redis_security_problem(settings: Settings) -> str | None:
    """What is inconsistent in the Redis TLS and user settings (one line naming the variables),
    or None: TLS files with a URL that does not ask for TLS, a certificate without its key, a file
    that cannot be read, a user named twice. Refused at start-up rather than at each connect."""
    files = {
        "SEGSTREAM_REDIS_SSL_CA_FILE": settings.redis_ssl_ca_file,
        "SEGSTREAM_REDIS_SSL_CERT_FILE": settings.redis_ssl_cert_file,
        "SEGSTREAM_REDIS_SSL_KEY_FILE": settings.redis_ssl_key_file,
    }
    named = [name for name, path in files.items() if path is not None]
    parts = urlsplit(settings.redis_url)
    # Refused rather than upgraded: a redis:// URL with a CA file is ambiguous, and connecting
    # in plain text while the operator believes TLS is on would be the worse mistake.
    if named and parts.scheme != "rediss":
        return f"{named[0]} is set but SEGSTREAM_REDIS_URL is {parts.scheme}://: use rediss://"
    if (settings.redis_ssl_cert_file is None) != (settings.redis_ssl_key_file is None):
        return (
            "SEGSTREAM_REDIS_SSL_CERT_FILE and SEGSTREAM_REDIS_SSL_KEY_FILE go together "
            "(the same file twice if it holds both)"
        )
    for name in named:
        path = files[name]
        if path is not None and not (path.is_file() and os.access(path, os.R_OK)):
            return f"{name}={path}: no readable file there"
    if settings.redis_username and parts.username:
        return "SEGSTREAM_REDIS_URL and SEGSTREAM_REDIS_USERNAME both name a Redis user: keep one"
    return None


@functools.cache
def get_settings() -> Settings:
    """Settings read once per process from the environment."""
    return Settings()
