"""The CDNOW purchase history (1997-98) as segstream purchase events, for replays and previews.

Each row becomes one ``purchase`` event keyed by the 5-digit customer id, at noon UTC of its date
(the file has no time of day); several purchases on one date stay separate events.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

DATASET = Path("shared/datasets/cdnow/CDNOW_master.txt")  # beside the checkout
CHECKOUT = Path(__file__).resolve().parents[2]


def _cloned_from(checkout: Path) -> Path | None:
    """The local checkout that ``checkout`` was cloned from (``git clone . /tmp/x``), if any."""
    try:
        config = (checkout / ".git" / "config").read_text()
    except OSError:
        return None
    origin = re.search(r'\[remote "origin"\][^\[]*?\burl = (.+)', config)
    if origin is None:
        return None
    path = Path(origin.group(1).strip())
    return path if path.is_absolute() else None  # a URL: no data beside it on this machine


def default_path(checkout: Path = CHECKOUT) -> Path:
    """The dataset beside this checkout, or else beside the one it was cloned from (so a clone in
    /tmp finds it too); the first of them when neither has it, for error messages."""
    candidates = [checkout.parent / DATASET]
    origin = _cloned_from(checkout)
    if origin is not None:
        candidates.append(origin.parent / DATASET)
    return next((path for path in candidates if path.exists()), candidates[0])


DEFAULT_PATH = default_path()


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
