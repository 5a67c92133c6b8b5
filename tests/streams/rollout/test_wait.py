"""`rules publish` confirms its own publish: earlier records of the same version do not count."""

from __future__ import annotations

import json

from streams.rollout.receipts import RECEIPT_PREFIX, Receipt, receipts
from streams.rollout.wait import summarize
from streams.schedule.scheduler import ScanProgress


def record(version: str, *, done: bool) -> str:
    return json.dumps({"version": version, "done": done, "scanned": 4, "total": 4,
                       "stale": 1, "processed": 1 if done else 0})  # fmt: skip


def receipt(offset: int, version: str, *done: int) -> str:
    return Receipt(offset, version, done, at=1.0).to_json()


OLD_RECORDS = {str(p): record("v2", done=True) for p in range(4)}  # an earlier rollout of v2


def test_records_of_an_earlier_rollout_of_the_same_version_confirm_nothing() -> None:
    """Issue 17: with no worker running, `rules publish` printed "100% ... rolled out" on these."""
    assert summarize(OLD_RECORDS, 4, "v2").done  # what the publisher trusted before
    state = summarize(OLD_RECORDS, 4, "v2", offset=10)
    assert (state.partitions_done, state.readers, state.done) == (0, 0, False)
    stale = {**OLD_RECORDS, RECEIPT_PREFIX + "h:1": receipt(10, "v2", 0, 1, 2, 3)}  # read up to 9
    assert summarize(stale, 4, "v2", offset=10).readers == 0


def test_partitions_count_once_a_worker_that_read_the_publish_reports_them_done() -> None:
    progress = {
        **OLD_RECORDS,
        RECEIPT_PREFIX + "a:1": receipt(11, "v2", 0, 1),  # read the publish at 10
        RECEIPT_PREFIX + "b:2": receipt(9, "v2", 2, 3),  # has not read it yet
    }
    state = summarize(progress, 4, "v2", offset=10)
    assert (state.partitions_done, state.readers, state.done) == (2, 1, False)
    progress[RECEIPT_PREFIX + "b:2"] = receipt(11, "v2", 2, 3)
    assert summarize(progress, 4, "v2", offset=10).done


def test_a_worker_running_another_version_confirms_nothing_of_this_one() -> None:
    progress = {**OLD_RECORDS, RECEIPT_PREFIX + "a:1": receipt(11, "v3", 0, 1, 2, 3)}
    state = summarize(progress, 4, "v2", offset=10)
    assert (state.partitions_done, state.readers) == (0, 1)


def test_only_a_refusal_of_this_publish_counts() -> None:
    refused_before = json.dumps({"version": "v2", "problems": "bad", "at": 1.0, "offset": 4})
    assert summarize({"rejected": refused_before}, 4, "v2", offset=10).rejected is None
    refused_now = refused_before.replace('"offset": 4', '"offset": 10')
    assert summarize({"rejected": refused_now}, 4, "v2", offset=10).rejected == "bad"
    assert summarize({"rejected": refused_before}, 4, "v2").rejected == "bad"  # `rules status`


def test_a_receipt_lists_the_partitions_scanned_under_the_running_version() -> None:
    scans = {
        0: ScanProgress("v2", "rule_change", total=2, scanned=2),
        1: ScanProgress("v2", "rule_change", total=2, scanned=1),  # still scanning
        2: ScanProgress("v1", "elapsed", total=0),  # done, under the version before
    }
    made = Receipt.of(12, "v2", scans)
    assert (made.offset, made.version, made.done) == (12, "v2", (0,))
    assert receipts({RECEIPT_PREFIX + "w": made.to_json(), RECEIPT_PREFIX + "x": "junk"}) == [made]
