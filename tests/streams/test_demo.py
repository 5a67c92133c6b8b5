"""The demo's worker state follows its Kafka cluster, and its prints survive a broken pipe."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from streams.demo import EXAMPLE_RULES, demo_settings, worker_data_dir
from streams.settings import Settings


def test_a_new_kafka_cluster_gets_a_new_worker_data_dir(tmp_path: Path) -> None:
    # A wiped Kafka numbers its events from 0 again: profiles kept from the old cluster would
    # take them for events already applied.
    first = demo_settings(Settings(), log_dir=tmp_path, cluster_id="AAA", environ={})
    again = demo_settings(Settings(), log_dir=tmp_path, cluster_id="AAA", environ={})
    wiped = demo_settings(Settings(), log_dir=tmp_path, cluster_id="BBB", environ={})
    assert first.data_dir == again.data_dir == worker_data_dir(tmp_path, "AAA")
    assert wiped.data_dir != first.data_dir
    assert first.rules_dir == EXAMPLE_RULES
    assert first.cluster_min_samples == 500


def test_settings_the_operator_made_are_kept(tmp_path: Path) -> None:
    environ = {"SEGSTREAM_DATA_DIR": "/somewhere", "SEGSTREAM_CLUSTER_MIN_SAMPLES": "2000"}
    base = Settings(data_dir=Path("/somewhere"), cluster_min_samples=2000)
    chosen = demo_settings(base, log_dir=tmp_path, cluster_id="AAA", environ=environ)
    assert chosen.data_dir == Path("/somewhere")
    assert chosen.cluster_min_samples == 2000


def test_printing_into_a_broken_pipe_neither_raises_nor_fails_the_exit() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)
    script = "from streams.demo import say; say('one'); say('two'); print('three')"
    try:
        done = subprocess.run(
            [sys.executable, "-c", script], stdout=write_end, stderr=subprocess.PIPE, check=False
        )
    finally:
        os.close(write_end)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stderr == b""
