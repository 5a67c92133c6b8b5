"""Profile categories: disjoint, first match wins, main thread only."""

from __future__ import annotations

from pathlib import Path

from bench.hotspots import OTHER, category, shares

MAIN = "thread (1): MainThread;_run_once (asyncio/base_events.py:1)"


def test_a_stack_goes_to_the_first_category_that_names_one_of_its_frames() -> None:
    decode = f"{MAIN};BatchProcessor._decode (streams/pipeline/batch.py);decode_event (x.py)"
    assert category(decode) == "event validation (pydantic)"
    assert category(f"{MAIN};BatchProcessor._settle (streams/pipeline/batch.py)") == (
        "pipeline, other"
    )
    assert category("thread (1): MainThread;something_else (lib.py)") == OTHER


def test_cluster_assignment_means_segstream_models_not_fausts() -> None:
    assert category(f"{MAIN};assign (models/assign.py)") == "cluster assignment"
    assert category(f"{MAIN};Record.__init__ (faust/models/record.py)") != "cluster assignment"


def test_shares_count_the_main_thread_only_and_add_up_to_one(tmp_path: Path) -> None:
    profile = tmp_path / "raw.txt"
    profile.write_text(
        f"{MAIN};EpollSelector.select (selectors.py:1) 3\n"
        f"{MAIN};apply_event (streams/profile/apply.py:9) 1\n"
        "thread (2): Thread-1;apply_event (streams/profile/apply.py:9) 50\n"
    )
    found = {share.category: share.fraction for share in shares(profile)}
    assert found == {"waiting for I/O (idle)": 0.75, "profile updates": 0.25}
