"""The Clusters section of RESULTS.md shows every cluster figure beside its same-run baseline."""

from __future__ import annotations

import doctest
import json

import bench.report_clusters
from bench.harness import RESULTS
from bench.report_clusters import ROWS, clusters_section


def test_every_cluster_figure_of_results_json_is_in_the_section() -> None:
    values = json.loads(RESULTS.read_text())
    text = "\n".join(clusters_section(values))
    for key in (k for k in values if k.startswith("cluster_")):
        assert f"`{key}`" in text, key


def test_a_figure_sits_beside_its_baseline_and_a_missing_one_says_so() -> None:
    values = {"cluster_assign_us": 4.8, "cluster_river_predict_us": 53.7, "cluster_ari_cdnow": 0.98}
    rows = {line.split(" | ")[0]: line.split(" | ") for line in clusters_section(values)}
    assign = rows["| assign one vector (µs)"]
    assert assign[1:3] == ["4.8", "53.7"]
    cdnow = rows["| ARI vs offline k-means, final CDNOW profiles"]
    assert cdnow[1:3] == ["0.98", "n/a"]  # no offline seeds figure in this run
    assert len(rows) >= len(ROWS)


def test_docstring_examples() -> None:
    result = doctest.testmod(bench.report_clusters)
    assert result.attempted > 0
    assert result.failed == 0
