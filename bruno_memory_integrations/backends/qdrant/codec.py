"""How records, chat messages and key-value items become Qdrant points, and back.

Pure functions, no I/O.

* **Point ids.** Qdrant ids are unsigned integers or UUIDs; ours are any
  string. A point's id is the UUIDv5 of the string (with a kind prefix for chat
  and key-value points), so the mapping is deterministic and collision-free in
  practice, and the caller's id is kept in the payload (``"id"``) so it comes
  back exactly.
* **Record payload.** ``id``, ``text``, ``metadata`` (exactly as given), ``f``
  (the generated filter fields, see ``filters.py``), ``w`` (the record's words,
  for keyword search) and, in cosine collections, ``vb``: Qdrant normalises cosine
  vectors when it stores them, so the caller's float32 values are kept there exactly
  (base64 of little-endian float32) and returned instead of the unit vector.
* **Keyword search.** A record's words (``text.tokenize``: the package's one
  definition of a word) become a sparse vector scored by Qdrant with its IDF
  modifier, and the list ``w`` that a filter uses to demand every query word.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import uuid
from collections import Counter
from collections.abc import Sequence
from typing import Any

from qdrant_client import models

from ...text import tokenize
from ...types import Message, Record
from ..encoding import float32_base64, float32_from_base64
from .filters import filter_fields

__all__ = [
    "KEYWORD_VECTOR",
    "chat_head_id",
    "chat_message_id",
    "decode_record",
    "kv_point_id",
    "query_sparse",
    "record_point",
    "record_point_id",
    "text_sparse",
]

#: Fixed namespace of every UUIDv5 this backend makes.
ID_NAMESPACE = uuid.UUID("6f1d1a0e-5a43-5c1b-9a57-2b1d6c0e8b42")
#: Name of the sparse vector that holds a record's words.
KEYWORD_VECTOR = "bruno-words"
#: BM25-style saturation of a word's count in a text; the average length is a fixed guess.
_K1, _B, _AVG_LEN = 1.2, 0.75, 64.0


def _uuid(*parts: str) -> str:
    # Names and ids never contain NUL (validation.py), so the joined string is injective.
    return str(uuid.uuid5(ID_NAMESPACE, "\x00".join(parts)))


def record_point_id(record_id: str) -> str:
    """The Qdrant point id of a record."""
    return _uuid("r", record_id)


def chat_head_id(namespace: str, session: str) -> str:
    """The point holding a chat session's length."""
    return _uuid("h", namespace, session)


def chat_message_id(namespace: str, session: str, seq: int) -> str:
    """The point holding message number ``seq`` of a session."""
    return _uuid("m", namespace, session, str(seq))


def kv_point_id(collection: str, key: str) -> str:
    """The point holding one key-value item."""
    return _uuid("k", collection, key)


# ------------------------------------------------------------------ words
@functools.lru_cache(maxsize=16384)
def _word_index(word: str) -> int:
    # Cached: a corpus repeats its words.
    return int.from_bytes(hashlib.blake2b(word.encode("utf-8"), digest_size=4).digest(), "big")


def text_sparse(words: Sequence[str]) -> models.SparseVector:
    """A text's sparse vector: one dimension per word, BM25-saturated counts."""
    counts = Counter(words)
    length = len(words)
    weights: dict[int, float] = {}
    for word, tf in counts.items():
        w = tf * (_K1 + 1) / (tf + _K1 * (1 - _B + _B * length / _AVG_LEN))
        # Two words sharing a dimension only blur the score, never the match (``w`` decides).
        idx = _word_index(word)
        weights[idx] = weights.get(idx, 0.0) + w
    # Built without pydantic validation: the indices and values are ours and well-formed.
    return models.SparseVector.model_construct(indices=list(weights), values=list(weights.values()))


def query_sparse(words: Sequence[str]) -> models.SparseVector:
    """A keyword query's sparse vector: weight 1 per distinct word."""
    idx = sorted({_word_index(w) for w in words})
    return models.SparseVector(indices=idx, values=[1.0] * len(idx))


# ------------------------------------------------------------------ records
def record_point(rec: Record, metric: str, keyword: bool) -> models.PointStruct:
    """The point that stores one record."""
    vector = rec.vector or []
    payload: dict[str, Any] = {
        "id": rec.id,
        "text": rec.text,
        "metadata": rec.metadata,
        "f": filter_fields(rec.metadata),
    }
    if metric == "cosine":
        # Qdrant keeps only the unit vector of a cosine collection: the caller's
        # float32 values ride along exactly, as little-endian float32 in base64.
        payload["vb"] = float32_base64(vector)
    vectors: Any = vector
    if keyword:
        words = tokenize(rec.text)
        payload["w"] = sorted(set(words))
        vectors = {"": vector, KEYWORD_VECTOR: text_sparse(words)}
    # Validating hundreds of floats per point costs more than the local engine's upsert;
    # every field here is already checked (validation.py) or made here.
    return models.PointStruct.model_construct(
        id=record_point_id(rec.id), vector=vectors, payload=payload
    )


def _dense(vector: Any) -> list[float] | None:
    if isinstance(vector, dict):
        vector = vector.get("")
    if vector is None:
        return None
    return [float(x) for x in vector]


def decode_record(payload: dict[str, Any] | None, vector: Any, include_vector: bool) -> Record:
    """A record from a point's payload (and vector, when fetched)."""
    payload = payload or {}
    vec = _dense(vector) if include_vector else None
    exact = payload.get("vb")
    if vec is not None and exact is not None:
        # Cosine collections store the unit vector; the caller's values are kept here.
        vec = float32_from_base64(exact)
    elif vec is not None and payload.get("norm") is not None:  # written by 0.1 layouts
        vec = [x * payload["norm"] for x in vec]
    return Record(
        str(payload.get("id", "")), str(payload.get("text", "")), vec,
        dict(payload.get("metadata") or {}),
    )


# ------------------------------------------------------------------ chat and key-value
def encode_message(message: Message) -> str:
    """A message as stored: JSON text, so it comes back exactly as given."""
    return json.dumps(message, ensure_ascii=False)


def decode_message(body: str) -> Message:
    message: Message = json.loads(body)
    return message


def encode_value(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def decode_value(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"))
