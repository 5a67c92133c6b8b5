"""README, docs and docker-compose.yml stay true to the code."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from streams.cli import _parser
from streams.events import EVENT_TYPES
from streams.profile.features import features_markdown
from streams.settings import ENV_PREFIX, Settings

ROOT = Path(__file__).resolve().parent.parent


def test_readme_documents_every_setting() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [
        name for name in Settings.model_fields if f"`{ENV_PREFIX}{name.upper()}`" not in readme
    ]
    assert not missing, f"README configuration table lacks: {missing}"


def test_readme_starts_with_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    first_block = re.search(r"```bash\n(.*?)```", readme, re.S)
    assert first_block is not None
    lines = first_block.group(1).splitlines()
    commands = [line for line in lines if not line.startswith("#")]
    assert commands == ["bash scripts/demo.sh", "bash scripts/test.sh"]
    ci_run = (ROOT / ".ci" / "run").read_text().splitlines()
    ci_commands = [line for line in ci_run if line and not line.startswith("#")]
    assert ci_commands == [commands[1]], "CI must run exactly the README's test command"


def test_features_doc_is_generated_from_the_catalogue() -> None:
    assert (ROOT / "docs" / "features.md").read_text() == features_markdown(), (
        "regenerate with: segstream features --markdown > docs/features.md"
    )


def test_events_doc_covers_every_type() -> None:
    doc = (ROOT / "docs" / "events.md").read_text()
    assert [t for t in EVENT_TYPES if f"| `{t}` |" not in doc] == []


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def test_compose_sets_only_real_settings_and_runs_real_commands() -> None:
    services = _compose()["services"]
    for name in ("worker", "trainer", "simulator"):
        service = services[name]
        for variable in service["environment"]:
            field = variable.removeprefix(ENV_PREFIX).lower()
            assert field in Settings.model_fields, f"{name}: unknown setting {variable}"
        _parser().parse_args(service["command"])  # exits on an unknown command or flag


def test_compose_health_checks_gate_the_worker() -> None:
    services = _compose()["services"]
    assert {"kafka", "redis", "worker", "simulator"} <= services.keys()
    for name in ("kafka", "redis", "worker"):
        assert "healthcheck" in services[name], name
    depends = services["worker"]["depends_on"]
    assert depends["kafka"]["condition"] == depends["redis"]["condition"] == "service_healthy"
