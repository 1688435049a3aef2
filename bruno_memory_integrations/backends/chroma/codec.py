"""How records, chat messages and key-value items become Chroma entries, and back.

Pure functions, no I/O.

* **Records.** The id is the caller's id (Chroma takes any string). The embedding
  is the record's vector. The metadata holds ``m`` (the caller's metadata as JSON
  text, so nested objects, lists of any kind and exact numbers come back as given),
  ``t`` (the text) and the generated filter fields (``filters.py``). The *document*
  is the text's words (``text.tokenize``, the package's one definition of a word),
  lower-cased and each wrapped in spaces, so Chroma's document ``$contains`` of
  ``" word "`` is an exact, case-insensitive word test: keyword search is exact.
  In cosine collections ``vb`` holds the vector's float32 bytes (base64): Chroma
  gives back a cosine collection's vectors normalised and de-normalised, an ulp off.
* **Chat messages and key-value items.** Chroma has no entry without an embedding,
  so they live in two collections of their own whose entries carry a one-number
  placeholder vector ``[1.0]`` (4 bytes, never searched). Their ids are UUIDv5 of
  (kind, names...), so the caller's names never reach an id's syntax.
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import numpy as np

from ...text import tokenize
from ...types import Message, Record
from ..encoding import float32_base64, float32_from_base64, metadata_json
from .filters import filter_fields

__all__ = [
    "PLACEHOLDER",
    "chat_head_id",
    "chat_message_id",
    "decode_record",
    "encode_record",
    "kv_id",
    "word_document",
    "word_query",
]

#: The vector of every chat and key-value entry.
PLACEHOLDER = [1.0]
ID_NAMESPACE = uuid.UUID("0b8e2f0a-8f5c-5d5e-b2a4-4f3c2a9e7c11")


def _uuid(*parts: str) -> str:
    # Names never contain NUL (validation.py), so the joined string is injective.
    return str(uuid.uuid5(ID_NAMESPACE, "\x00".join(parts)))


def chat_head_id(namespace: str, session: str) -> str:
    """The entry holding a chat session's length."""
    return _uuid("h", namespace, session)


def chat_message_id(namespace: str, session: str, seq: int) -> str:
    """The entry holding message number ``seq`` of a session."""
    return _uuid("m", namespace, session, str(seq))


def kv_id(collection: str, key: str) -> str:
    """The entry holding one key-value item."""
    return _uuid("k", collection, key)


# ------------------------------------------------------------------ words
def word_document(text: str) -> str:
    """The document Chroma keeps for a record: its words, each wrapped in spaces."""
    words = tokenize(text)
    return f" {' '.join(words)} " if words else ""


def word_query(words: list[str]) -> dict[str, Any]:
    """A ``where_document`` demanding every word."""
    parts = [{"$contains": f" {w} "} for w in words]
    return parts[0] if len(parts) == 1 else {"$and": parts}


# ------------------------------------------------------------------ records
def encode_record(rec: Record, metric: str) -> tuple[dict[str, Any], str]:
    """(metadata, document) of one record."""
    meta: dict[str, Any] = {
        "m": metadata_json(rec.metadata),
        "t": rec.text,
        **filter_fields(rec.metadata),
    }
    if metric == "cosine":
        # Chroma keeps a cosine collection's vectors normalised and gives back values
        # off by an ulp: the caller's float32 values ride along (little-endian, base64).
        meta["vb"] = float32_base64(rec.vector or [])
    return meta, word_document(rec.text)


def decode_vector(embedding: Any) -> list[float]:
    return np.asarray(embedding, dtype=np.float32).tolist()  # type: ignore[no-any-return]


def decode_record(rid: str, meta: dict[str, Any] | None, embedding: Any) -> Record:
    """A record from an entry's id, metadata (and embedding, when fetched)."""
    meta = meta or {}
    vec = decode_vector(embedding) if embedding is not None else None
    if vec is not None and "vb" in meta:
        vec = float32_from_base64(meta["vb"])
    return Record(str(rid), str(meta.get("t", "")), vec, json.loads(meta.get("m") or "{}"))


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
