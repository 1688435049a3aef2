"""Encodings that several backends share (each keeps its own layout in its ``codec.py``).

* :func:`key_hash` names the generated filter fields of a metadata key;
* :func:`float32_base64` / :func:`float32_from_base64` carry a vector's exact float32
  values as text where a store keeps its own (rounded or normalised) copy;
* :func:`metadata_json` / :func:`metadata_json_bytes` write checked metadata as JSON,
  fast, and :func:`json_loads` reads JSON;
* :func:`float32_matrix` / :func:`float32_blobs` give a batch's vectors as float32,
  converted once by the core's check when the batch came from it.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import sys
from array import array
from collections.abc import Sequence
from typing import Any

from ..types import Record

try:  # a dependency of the package; json alone if it was removed
    import orjson
except ImportError:  # pragma: no cover - depends on the extras installed
    orjson = None  # type: ignore[assignment]

__all__ = [
    "float32_base64",
    "float32_blobs",
    "float32_from_base64",
    "float32_matrix",
    "json_loads",
    "key_hash",
    "metadata_json",
    "metadata_json_bytes",
]


@functools.lru_cache(maxsize=4096)
def key_hash(key: str) -> str:
    """The hash naming a metadata key's generated fields (20 hex digits).

    Cached: every record of a collection repeats the same few keys.
    """
    return hashlib.blake2b(key.encode("utf-8"), digest_size=10).hexdigest()


def float32_matrix(records: Sequence[Record]) -> Any:
    """The records' vectors as one ``(n, dim)`` little-endian float32 numpy matrix.

    A batch that ``check_records`` returned carries it already
    (``validation.CheckedBatch``: the check converts every vector once); any other
    sequence is converted here, in one call. Every record needs a vector of one length.
    """
    import numpy as np

    matrix = getattr(records, "float32", None)
    if matrix is not None and len(matrix) == len(records):
        return matrix
    if not records:
        return np.empty((0, 0), dtype="<f4")
    return np.array([r.vector for r in records], dtype="<f4").reshape(len(records), -1)


def float32_blobs(records: Sequence[Record]) -> list[bytes]:
    """Each record's vector as little-endian float32 bytes, in order."""
    return [row.tobytes() for row in float32_matrix(records)]


def float32_base64(vector: Sequence[float]) -> str:
    """A vector's float32 values, little-endian, in base64."""
    values = array("f", vector)  # rounds like numpy's float32 cast (nearest)
    if sys.byteorder != "little":  # pragma: no cover - big-endian machines
        values.byteswap()
    return base64.b64encode(values.tobytes()).decode("ascii")


def float32_from_base64(text: str | bytes) -> list[float]:
    """The vector :func:`float32_base64` wrote."""
    values = array("f")
    values.frombytes(base64.b64decode(text))
    if sys.byteorder != "little":  # pragma: no cover - big-endian machines
        values.byteswap()
    return values.tolist()


def metadata_json_bytes(metadata: dict[str, Any]) -> bytes:
    """Metadata as compact JSON, UTF-8 encoded.

    orjson writes checked metadata (string keys, 64-bit integers, finite floats:
    validation.py) about 10x faster than ``json.dumps``, and ``json.loads`` reads back
    the same values; anything it refuses takes ``json.dumps``.
    """
    if orjson is not None:
        try:
            return orjson.dumps(metadata)
        except (TypeError, orjson.JSONEncodeError):
            pass
    return json.dumps(metadata, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def metadata_json(metadata: dict[str, Any]) -> str:
    """Metadata as compact JSON text (see :func:`metadata_json_bytes`)."""
    return metadata_json_bytes(metadata).decode("utf-8")


def json_loads(data: bytes | str) -> Any:
    """JSON read with orjson (about 4x faster than ``json.loads`` on metadata).

    orjson reads integers of 64 bits (signed or unsigned) as ``int`` and larger ones
    as ``float``; it refuses a number beyond a double's range, which ``json.loads``
    reads (as an integer): that input goes to ``json.loads``.
    """
    if orjson is not None:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    return json.loads(data)
