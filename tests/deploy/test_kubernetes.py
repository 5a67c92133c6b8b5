"""deploy/kubernetes: every manifest is valid for a pinned Kubernetes version and fits the code.

kubernetes-validate ships the Kubernetes JSON schemas inside its wheel, so this runs offline. The
strict schemas refuse unknown fields too, so a misspelt key fails here, not at `kubectl apply`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# kubernetes-validate ships no type information (no py.typed).
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from streams.cli import _parser
from streams.settings import ENV_PREFIX, Settings
from tests.deploy.queries import ROOT

MANIFESTS = ROOT / "deploy" / "kubernetes"
# The oldest cluster the manifests are meant for, and the newest release kubernetes-validate 1.37.0
# has schemas for: an API removed since the older one shows up against the newer.
KUBERNETES_VERSIONS = ("1.33.0", "1.37.0")
KUBERNETES_VERSION = KUBERNETES_VERSIONS[0]
SETTING_NAME = re.compile(rf"\b{ENV_PREFIX}[A-Z0-9_]+\b")


def manifest_files() -> list[Path]:
    """The manifests, and those of the optional storefront in its subfolder."""
    return sorted(MANIFESTS.rglob("*.yaml"))


def resources() -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in manifest_files():
        for document in yaml.safe_load_all(path.read_text()):
            if document:
                yield path, document


def resource_of(kind: str, component: str) -> dict[str, Any]:
    found = [
        doc
        for _, doc in resources()
        if doc["kind"] == kind
        and doc["metadata"]["labels"].get("app.kubernetes.io/component") == component
    ]
    assert len(found) == 1, f"{len(found)} {kind} for {component}"
    return found[0]


def only_container(workload: dict[str, Any]) -> dict[str, Any]:
    containers: list[dict[str, Any]] = workload["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def env_names(container: dict[str, Any]) -> set[str]:
    return {entry["name"] for entry in container.get("env", [])}


def test_the_folder_holds_the_manifests_the_readme_applies() -> None:
    kinds = {doc["kind"] for _, doc in resources()}
    assert {"StatefulSet", "Service", "PodDisruptionBudget", "Deployment", "ConfigMap"} <= kinds


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("path", manifest_files(), ids=lambda path: path.stem)
def test_every_manifest_validates_against_the_kubernetes_schema(path: Path, version: str) -> None:
    for document in yaml.safe_load_all(path.read_text()):
        if document:
            # Raises ValidationError (with the field's path) or SchemaNotFoundError (a kind or
            # apiVersion this Kubernetes does not have).
            kubernetes_validate.validate(document, version, strict=True)


def test_the_validator_refuses_a_misspelt_field() -> None:
    pdb = resource_of("PodDisruptionBudget", "worker")
    broken = {**pdb, "spec": {**pdb["spec"], "maxUnavaliable": 1}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_every_segstream_variable_in_the_manifests_is_a_real_setting() -> None:
    named = {name for path in manifest_files() for name in SETTING_NAME.findall(path.read_text())}
    real = {ENV_PREFIX + field.upper() for field in Settings.model_fields}
    assert named, "the manifests configure nothing"
    assert not named - real, f"not settings (streams/settings.py): {sorted(named - real)}"


def test_the_configmap_values_are_accepted_by_the_settings() -> None:
    configmap = next(doc for _, doc in resources() if doc["kind"] == "ConfigMap")
    values = {name[len(ENV_PREFIX) :].lower(): value for name, value in configmap["data"].items()}
    Settings.model_validate(values)  # a bad value raises, naming the setting


def test_workloads_run_real_commands() -> None:
    workloads = (("StatefulSet", "worker"), ("Deployment", "trainer"), ("Deployment", "storefront"))
    for kind, component in workloads:
        # Exits on an unknown command or flag.
        _parser().parse_args(only_container(resource_of(kind, component))["args"])


def test_workers_keep_tables_on_a_volume_and_probe_the_web_port() -> None:
    worker = resource_of("StatefulSet", "worker")
    container = only_container(worker)
    env = {entry["name"]: entry for entry in container["env"]}
    [claim] = worker["spec"]["volumeClaimTemplates"]
    [mount] = container["volumeMounts"]
    assert mount["name"] == claim["metadata"]["name"]
    assert env["SEGSTREAM_DATA_DIR"]["value"].startswith(mount["mountPath"] + "/")
    web_port = int(env["SEGSTREAM_WEB_PORT"]["value"])
    assert container["ports"] == [{"name": "web", "containerPort": web_port}]
    assert env["SEGSTREAM_WEB_HOST"]["value"] == "0.0.0.0"
    assert container["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "web"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "web"}


def test_workers_advertise_their_name_in_the_headless_service() -> None:
    worker = resource_of("StatefulSet", "worker")
    service = resource_of("Service", "worker")
    env = {entry["name"]: entry for entry in only_container(worker)["env"]}
    assert service["spec"]["clusterIP"] == "None"
    assert worker["spec"]["serviceName"] == service["metadata"]["name"]
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    advertised = env["SEGSTREAM_WEB_ADVERTISED_HOST"]["value"]
    assert advertised == f"$(POD_NAME).{service['metadata']['name']}"
    # $(VAR) is expanded only from variables defined earlier in the list.
    names = [entry["name"] for entry in only_container(worker)["env"]]
    assert names.index("POD_NAME") < names.index("SEGSTREAM_WEB_ADVERTISED_HOST")


def test_passwords_come_from_the_secret_not_the_configmap() -> None:
    configmap = next(doc for _, doc in resources() if doc["kind"] == "ConfigMap")
    assert not [name for name in configmap["data"] if "PASSWORD" in name]
    worker = only_container(resource_of("StatefulSet", "worker"))
    for entry in worker["env"]:
        if entry["name"].endswith("_PASSWORD"):
            assert entry["valueFrom"]["secretKeyRef"]["name"] == "segstream"
    assert {"SEGSTREAM_KAFKA_SASL_PASSWORD", "SEGSTREAM_REDIS_PASSWORD"} <= env_names(worker)


def test_a_graceful_stop_outlasts_the_kafka_session_timeout() -> None:
    worker = resource_of("StatefulSet", "worker")
    grace = worker["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace > Settings().kafka_session_timeout_s


def test_one_trainer_and_never_two_during_an_update() -> None:
    trainer = resource_of("Deployment", "trainer")
    assert trainer["spec"]["replicas"] == 1
    assert trainer["spec"]["strategy"] == {"type": "Recreate"}


def test_the_disruption_budget_covers_the_workers() -> None:
    pdb = resource_of("PodDisruptionBudget", "worker")
    worker = resource_of("StatefulSet", "worker")
    selected = pdb["spec"]["selector"]["matchLabels"].items()
    assert selected <= worker["spec"]["template"]["metadata"]["labels"].items()
    assert pdb["spec"]["maxUnavailable"] == 1


def test_every_workload_requests_resources() -> None:
    for _, doc in resources():
        if doc["kind"] in {"StatefulSet", "Deployment"}:
            requests = only_container(doc)["resources"]["requests"]
            assert {"cpu", "memory"} <= requests.keys(), doc["metadata"]["name"]


def test_the_storefront_is_probed_and_served_on_the_port_it_listens_on() -> None:
    container = only_container(resource_of("Deployment", "storefront"))
    args = _parser().parse_args(container["args"])
    [port] = container["ports"]
    assert port["containerPort"] == args.port
    assert container["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": port["name"]}
    [served] = resource_of("Service", "storefront")["spec"]["ports"]
    assert served["targetPort"] == port["name"]
