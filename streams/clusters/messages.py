"""The samples-topic message: one per envelope, every sample a worker took while handling it.

A sample is (customer key, vector); the key (a pseudonym) lets the trainer keep each sampled
customer's latest vector only. The fingerprint names the feature layout, so a trainer never learns
vectors of other features (a worker still running an older configuration during a rolling change).

>>> raw = encode_samples("ab12", [("k1", (1.0, 2.5))])
>>> decode_samples(raw)
('ab12', [('k1', (1.0, 2.5))])
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

Vector = tuple[float, ...]
Sample = tuple[str, Vector]


class SamplesMessageError(ValueError):
    """A samples message that cannot be read."""


def encode_samples(fingerprint: str, samples: Sequence[Sample]) -> bytes:
    body = {"fingerprint": fingerprint, "samples": [[key, list(v)] for key, v in samples]}
    return json.dumps(body, separators=(",", ":")).encode()


def decode_samples(raw: bytes | None) -> tuple[str, list[Sample]]:
    try:
        body = json.loads(raw or b"")
        fingerprint = str(body["fingerprint"])
        samples = [(str(key), tuple(float(x) for x in vector)) for key, vector in body["samples"]]
    except (ValueError, TypeError, KeyError) as exc:
        raise SamplesMessageError(f"not a samples message: {exc!r}") from exc
    vectors = [vector for _, vector in samples]
    if len({len(v) for v in vectors}) > 1 or not all(math.isfinite(x) for v in vectors for x in v):
        raise SamplesMessageError("vectors of different lengths or non-finite values")
    return fingerprint, samples
