"""The CDNOW purchase history (1997-98) as segstream purchase events, for replays and previews.

Each row becomes one ``purchase`` event keyed by the 5-digit customer id, at noon UTC of its date
(the file has no time of day); several purchases on one date stay separate events.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

DEFAULT_PATH = Path(__file__).resolve().parents[2].parent / "shared/datasets/cdnow/CDNOW_master.txt"


@dataclass(frozen=True, slots=True)
class CdnowPurchase:
    row: int
    customer_id: str
    date: str  # YYYYMMDD
    cds: int
    dollars: Decimal


def read_cdnow(path: Path = DEFAULT_PATH) -> Iterator[CdnowPurchase]:
    """Rows of ``CDNOW_master.txt`` in file order, money as exact decimals."""
    with path.open() as lines:
        header = next(lines).split()
        if header[:2] != ["customer_id", "date"]:
            raise ValueError(f"{path}: not a CDNOW master file (header {header})")
        for row, line in enumerate(lines, start=1):
            customer_id, date, cds, dollars = line.split()
            yield CdnowPurchase(row, customer_id, date, int(cds), Decimal(dollars))


def purchase_event(purchase: CdnowPurchase) -> tuple[str, bytes]:
    """(Kafka key, JSON bytes) of the purchase event for one CDNOW row."""
    d = purchase.date
    quantity = max(purchase.cds, 1)
    unit_price = (purchase.dollars / quantity).quantize(Decimal("0.01"))
    event = {
        "type": "purchase",
        "event_id": f"cdnow-{purchase.row}",
        "customer_id": purchase.customer_id,
        "ts": f"{d[:4]}-{d[4:6]}-{d[6:]}T12:00:00Z",
        "order_id": f"cdnow-{purchase.row}",
        "total": str(purchase.dollars),
        "items": [
            {"sku": "cd", "category": "music", "unit_price": str(unit_price), "quantity": quantity}
        ],
        "context": {"channel": "web", "country": "US"},
    }
    return purchase.customer_id, json.dumps(event, separators=(",", ":")).encode()
