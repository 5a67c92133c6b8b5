"""Marketers' names for clusters: a YAML mapping from stable cluster id to a segment name.

    # models/cluster_names.yaml (path: SEGSTREAM_CLUSTER_NAMES_FILE)
    c3: bargain_hunters
    c7: weekend_browsers

The published segment id becomes ``cluster_<name>`` (``cluster_<id>`` for clusters left unnamed),
so rules can write ``in_segment('cluster_bargain_hunters')``. The trainer reads the file each time
it publishes, so a rename reaches every worker with the next snapshot.

>>> parse_names("c3: bargain_hunters\\n", "names.yaml")
{'c3': 'bargain_hunters'}
>>> segment_id_for("c3", None), segment_id_for("c3", "bargain_hunters")
('cluster_c3', 'cluster_bargain_hunters')
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

CLUSTER_PREFIX = "cluster_"
NAME = re.compile(r"^[a-z][a-z0-9_]{0,55}$")
CLUSTER_ID = re.compile(r"^c[0-9]{1,6}$")


class ClusterNamesError(ValueError):
    """The names file is not a mapping of cluster ids to lower_snake_case names."""


def segment_id_for(cluster_id: str, name: str | None) -> str:
    return CLUSTER_PREFIX + (name or cluster_id)


def load_names(path: Path | None) -> dict[str, str]:
    """The names in ``path``; an absent setting or file means no renames."""
    if path is None or not path.exists():
        return {}
    try:
        text = path.read_text()
    except OSError as exc:
        raise ClusterNamesError(f"{path}: cannot read cluster names ({exc})") from exc
    return parse_names(text, str(path))


def parse_names(text: str, where: str) -> dict[str, str]:
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ClusterNamesError(f"{where}: not YAML ({exc})") from exc
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ClusterNamesError(f"{where}: expected a mapping like 'c3: bargain_hunters'")
    names: dict[str, str] = {}
    for key, value in loaded.items():
        cluster_id, name = str(key), str(value)
        if not CLUSTER_ID.match(cluster_id):
            raise ClusterNamesError(f"{where}: {cluster_id!r} is not a cluster id like c3")
        if not NAME.match(name) or CLUSTER_ID.match(name):
            raise ClusterNamesError(
                f"{where}: name {name!r} for {cluster_id} must be lower_snake_case, "
                "at most 56 characters, and not look like a cluster id"
            )
        names[cluster_id] = name
    taken = sorted({n for n in names.values() if list(names.values()).count(n) > 1})
    if taken:
        raise ClusterNamesError(f"{where}: names used twice: {', '.join(taken)}")
    return names
