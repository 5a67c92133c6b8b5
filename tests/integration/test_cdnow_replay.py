"""Replay the real CDNOW history through Kafka: every profile equals pandas, to the cent."""

from __future__ import annotations

import os
import time

import pandas as pd
import pytest

from streams.profile import decode_profile
from streams.replay.cdnow import DEFAULT_PATH, purchase_event, read_cdnow
from streams.settings import Settings
from tests.integration.harness import WorkerProcess, produce, read_table, wait_drained

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def expected_totals() -> pd.DataFrame:
    frame = pd.read_csv(DEFAULT_PATH, sep=r"\s+", dtype={"customer_id": str, "dollar_value": str})
    # Cents from the decimal strings themselves: no float rounding anywhere.
    frame["cents"] = frame["dollar_value"].str.replace(".", "", regex=False).astype("int64")
    return frame.groupby("customer_id").agg(orders=("cents", "size"), cents=("cents", "sum"))


def test_cdnow_replay_is_exact_for_every_customer(
    settings: Settings, worker: WorkerProcess
) -> None:
    if not DEFAULT_PATH.exists():
        if os.environ.get("CI"):
            pytest.fail(f"CDNOW data missing at {DEFAULT_PATH}")
        pytest.skip(f"CDNOW data not found at {DEFAULT_PATH}")
    started = time.monotonic()
    sent = produce(settings, (purchase_event(row) for row in read_cdnow()))
    wait_drained(settings, timeout_s=600)
    elapsed = time.monotonic() - started
    print(f"\nCDNOW replay: {sent} events in {elapsed:.1f}s ({sent / elapsed:.0f} events/s)")

    profiles = {key.decode(): decode_profile(value) for key, value in read_table(settings).items()}
    expected = expected_totals()
    assert len(expected) == 23_570
    assert set(profiles) == set(expected.index)
    wrong = [
        (cid, row.orders, row.cents, profiles[cid].orders, profiles[cid].spend_cents)
        for cid, row in expected.iterrows()
        if (profiles[cid].orders, profiles[cid].spend_cents) != (row.orders, row.cents)
    ]
    assert wrong == [], f"{len(wrong)} customers differ, first: {wrong[:5]}"
