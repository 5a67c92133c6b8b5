"""The Grafana dashboard, Prometheus config and alert rules load and fit docker-compose.yml.

That every query names a metric a worker really exports is checked against a running worker in
tests/integration/test_ops.py.
"""

from __future__ import annotations

import re
import threading
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from streams.cli import _parser
from streams.settings import Settings
from streams.storefront import storefront_server
from tests.deploy.queries import (
    ROOT,
    alert_queries,
    alert_rules,
    dashboard,
    dashboard_queries,
    metric_names,
    recorded_names,
    unknown_names,
)


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def test_dashboard_panels_are_complete_and_laid_out_on_the_grid() -> None:
    board = dashboard()
    assert board["uid"]
    assert board["title"]
    panels = board["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    cells: set[tuple[int, int]] = set()
    for panel in panels:
        grid = panel["gridPos"]
        assert 0 <= grid["x"] < grid["x"] + grid["w"] <= 24, panel["title"]
        area = {(x, y) for x in range(grid["x"], grid["x"] + grid["w"])
                for y in range(grid["y"], grid["y"] + grid["h"])}  # fmt: skip
        assert not area & cells, f"{panel['title']} overlaps another panel"
        cells |= area
        assert panel["targets"], panel["title"]
        assert panel["datasource"]["uid"] == "${datasource}"
        for target in panel["targets"]:
            assert target["expr"].strip()
            assert target["refId"]


def test_every_query_reads_a_segstream_metric_or_up() -> None:
    for query in dashboard_queries() + alert_queries():
        assert metric_names(query) or recorded_names(query) or "up{" in query, query


def test_the_name_check_catches_a_misspelt_metric() -> None:
    exported = {"segstream_events_in_total", "segstream_consumer_lag"}
    queries = [
        'sum(rate(segstream_events_in_total{job="x", note="segstream_fake"}[1m]))',
        "max by (group) (segstream_consumer_lags)",
    ]
    assert unknown_names(queries, exported) == {queries[1]: {"segstream_consumer_lags"}}


def test_alert_rules_are_complete_and_use_only_recorded_series_that_exist() -> None:
    rules = alert_rules()
    recorded = {rule["record"] for rule in rules if "record" in rule}
    alerts = {rule["alert"]: rule for rule in rules if "alert" in rule}
    for name, rule in alerts.items():
        assert rule["annotations"]["summary"], name
        assert rule["labels"]["severity"] in {"page", "ticket"}, name
        assert rule["for"], name
        assert recorded_names(rule["expr"]) <= recorded, name
    wanted = {"WorkerDown", "LagGrowing", "FreshnessHigh", "DeadLetterRate", "RulesVersionSplit",
              "ModelStale"}  # fmt: skip
    assert {f"Segstream{w}" for w in wanted} <= alerts.keys()


def test_compose_runs_prometheus_and_grafana_on_these_files() -> None:
    services = compose()["services"]
    prometheus, grafana = services["prometheus"], services["grafana"]
    mounts = {m.split(":")[1]: ROOT / m.split(":")[0] for m in prometheus["volumes"] if "./" in m}
    config = yaml.safe_load((mounts["/etc/prometheus"] / "prometheus.yml").read_text())
    for rule_file in config["rule_files"]:
        assert (mounts["/etc/prometheus"] / Path(rule_file).name).exists(), rule_file
    [job] = config["scrape_configs"]
    assert job["job_name"] == "segstream"  # the dashboards and alerts select job="segstream"
    assert job["metrics_path"] == "/metrics"
    assert job["static_configs"][0]["targets"] == ["worker:6066"]
    assert services["worker"]["environment"]["SEGSTREAM_WEB_HOST"] == "0.0.0.0"
    g_mounts = {m.split(":")[1]: ROOT / m.split(":")[0] for m in grafana["volumes"]}
    assert (g_mounts["/var/lib/grafana/dashboards"] / "segstream.json").exists()
    provider = yaml.safe_load(
        (g_mounts["/etc/grafana/provisioning"] / "dashboards" / "segstream.yml").read_text()
    )
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    datasources = yaml.safe_load(
        (g_mounts["/etc/grafana/provisioning"] / "datasources" / "prometheus.yml").read_text()
    )
    assert datasources["datasources"][0]["url"] == "http://prometheus:9090"
    for service in (prometheus, grafana):
        assert all(port.startswith("127.0.0.1:") for port in service["ports"])


def test_compose_redis_keeps_its_data_in_an_append_only_file() -> None:
    redis = compose()["services"]["redis"]
    command = " ".join(redis["command"])
    assert "--appendonly yes" in command
    assert "--appendfsync everysec" in command
    assert any(volume.endswith(":/data") for volume in redis["volumes"])  # the image's workdir


def test_compose_runs_the_storefront_as_the_cli_and_server_understand_it() -> None:
    services = compose()["services"]
    shop = services["storefront"]
    args = _parser().parse_args(shop["command"])
    assert (args.command, args.host) == ("storefront", "0.0.0.0")
    assert shop["ports"] == [f"127.0.0.1:{args.port}:{args.port}"]
    assert shop["environment"]["SEGSTREAM_REDIS_URL"] == "redis://redis:6379/0"
    for needed in ("worker", "redis"):
        assert shop["depends_on"][needed]["condition"] == "service_healthy"
        assert services[needed]["healthcheck"]["test"]
    [probe] = [part for part in shop["healthcheck"]["test"] if "urlopen" in part]
    url = re.search(r"'(http://[^']+)'", probe)
    assert url is not None
    path = urlsplit(url.group(1))
    assert path.port == args.port
    assert _served_status(path.path) == 200


def _served_status(path: str) -> int:
    """What the real storefront server answers on ``path`` (Redis is not needed for it)."""
    server = storefront_server(Settings(), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}{path}"
        with urllib.request.urlopen(url, timeout=10) as response:  # loopback only
            return int(response.status)
    finally:
        server.shutdown()
        server.server_close()
