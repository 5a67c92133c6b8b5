"""The marketers' names file: valid names rename segments, anything else is refused clearly."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.names import ClusterNamesError, load_names, parse_names, segment_id_for
from streams.settings import DEFAULT_CLUSTER_NAMES


def test_the_shipped_file_renames_nothing_and_absent_files_are_empty(tmp_path: Path) -> None:
    assert load_names(DEFAULT_CLUSTER_NAMES) == {}
    assert load_names(tmp_path / "missing.yaml") == {}
    assert load_names(None) == {}


def test_names_become_segment_ids() -> None:
    names = parse_names("c3: bargain_hunters\nc10: weekend_browsers\n", "f")
    assert names == {"c3": "bargain_hunters", "c10": "weekend_browsers"}
    assert segment_id_for("c3", names.get("c3")) == "cluster_bargain_hunters"
    assert segment_id_for("c4", names.get("c4")) == "cluster_c4"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[c1, c2]", "expected a mapping"),
        ("vip: big_ones", "'vip' is not a cluster id"),
        ("c1: Big Ones", "must be lower_snake_case"),
        ("c1: c2", "not look like a cluster id"),
        ("c1: vips\nc2: vips", "names used twice: vips"),
        ("c1: [unclosed", "not YAML"),
    ],
)
def test_bad_files_are_refused(text: str, message: str) -> None:
    with pytest.raises(ClusterNamesError, match=message):
        parse_names(text, "names.yaml")
