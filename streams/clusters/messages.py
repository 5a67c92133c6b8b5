"""The samples-topic message: one per envelope, every vector a worker sampled while handling it.

The fingerprint names the feature layout, so a trainer never learns vectors of other features
(a worker still running an older configuration during a rolling change).

>>> raw = encode_samples("ab12", [(1.0, 2.5)])
>>> decode_samples(raw)
('ab12', [(1.0, 2.5)])
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

Vector = tuple[float, ...]


class SamplesMessageError(ValueError):
    """A samples message that cannot be read."""


def encode_samples(fingerprint: str, vectors: Sequence[Vector]) -> bytes:
    body = {"fingerprint": fingerprint, "vectors": [list(v) for v in vectors]}
    return json.dumps(body, separators=(",", ":")).encode()


def decode_samples(raw: bytes | None) -> tuple[str, list[Vector]]:
    try:
        body = json.loads(raw or b"")
        fingerprint = str(body["fingerprint"])
        vectors = [tuple(float(x) for x in vector) for vector in body["vectors"]]
    except (ValueError, TypeError, KeyError) as exc:
        raise SamplesMessageError(f"not a samples message: {exc!r}") from exc
    if len({len(v) for v in vectors}) > 1 or not all(math.isfinite(x) for v in vectors for x in v):
        raise SamplesMessageError("vectors of different lengths or non-finite values")
    return fingerprint, vectors
