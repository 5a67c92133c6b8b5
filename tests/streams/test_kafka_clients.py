"""Every Kafka client in streams/ and bench/ is built with the options of streams.kafka_security,
so a secured Kafka (SEGSTREAM_KAFKA_SECURITY_PROTOCOL) reaches all of them: a client made with
``bootstrap_servers=...`` alone would connect in PLAINTEXT and be turned away."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = {
    "AIOKafkaConsumer",
    "AIOKafkaProducer",
    "AIOKafkaAdminClient",
    "AIOKafkaClient",
    "KafkaConsumer",
    "KafkaProducer",
    "KafkaAdminClient",
    "KafkaClient",
    "create_conn",  # aiokafka's bare connection (health and login probes)
}


def _name(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def unsecured_clients(source: str, where: str) -> list[str]:
    """``where:line`` of each Kafka client built without ``**`` the security options (nor a
    Faust app without ``broker_credentials``).

    >>> unsecured_clients("KafkaProducer(bootstrap_servers=servers)", "x.py")
    ['x.py:1 KafkaProducer']
    >>> unsecured_clients("KafkaProducer(**kafka_python_options(settings), acks='all')", "x.py")
    []
    >>> unsecured_clients("faust.App('id', broker='kafka://k:9092')", "x.py")
    ['x.py:1 App']
    """
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        name = _name(node)
        keywords = {keyword.arg for keyword in node.keywords}
        if (name in CLIENTS and None not in keywords) or (
            name == "App" and "broker_credentials" not in keywords
        ):
            found.append(f"{where}:{node.lineno} {name}")
    return found


def test_every_kafka_client_gets_the_security_options() -> None:
    files = [*sorted((ROOT / "streams").rglob("*.py")), *sorted((ROOT / "bench").glob("*.py"))]
    found = [
        line
        for path in files
        for line in unsecured_clients(path.read_text(), str(path.relative_to(ROOT)))
    ]
    assert found == []
