"""Key names, record encoding and reply parsing for the Redis backend (no I/O).

Key layout under the root prefix ``P`` (default ``bruno``)::

    P:collections                 HASH   collection name -> JSON info
    P:fields:<cid>                SET    metadata keys indexed in collection <cid>
    P:idx:<cid>                   index  FT index of collection <cid>
    P:r:<cid>:<id digest>         HASH   one record (real id in field "id")
    P:chat:<len(ns)>:<ns>:<sid>   LIST   one chat session, JSON messages
    P:sessions:<ns>               SET    session ids of namespace <ns>
    P:kv:<name>                   HASH   one key-value collection

``<cid>`` is :func:`~bruno_memory_integrations.validation.safe_identifier` of the
collection name (``[a-z0-9_]`` plus a hash), so no collection's key prefix is a
prefix of another's; record keys use a digest of the id, so an id cannot reach
outside its collection. Chat and key-value keys embed the raw names in a form that
is unambiguous (Redis keys are binary-safe and never parsed).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...errors import BackendError
from ...types import CollectionInfo, Record
from ...validation import safe_identifier
from ..encoding import metadata_json_bytes
from . import filters as f
from . import query as q

__all__ = [
    "Keyspace",
    "SearchReply",
    "canonical_distance",
    "is_missing_index",
    "ok",
    "parse_search",
]


def ok(reply: Any, what: str) -> Any:
    """The reply, or a :class:`BackendError` when Redis refused the command."""
    if isinstance(reply, BaseException):
        raise BackendError(f"Redis refused to {what}: {reply}") from reply
    return reply


def is_missing_index(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "no such index" in text or "unknown index name" in text


def b(text: str) -> bytes:
    """UTF-8 bytes of any Python string (lone surrogates included)."""
    return text.encode("utf-8", "surrogatepass")


def s(data: bytes | str | None) -> str:
    """The Python string stored as ``data``."""
    if data is None:
        return ""
    if isinstance(data, str):
        return data
    return data.decode("utf-8", "surrogatepass")


@dataclass(frozen=True)
class Keyspace:
    """Every key and index name the backend uses, derived from a root prefix."""

    root: str = "bruno"

    @property
    def collections(self) -> str:
        return f"{self.root}:collections"

    @staticmethod
    def cid(collection: str) -> str:
        return safe_identifier(collection, "c", max_length=80)

    def index(self, collection: str) -> str:
        return f"{self.root}:idx:{self.cid(collection)}"

    def fields(self, collection: str) -> str:
        return f"{self.root}:fields:{self.cid(collection)}"

    def record_prefix(self, collection: str) -> str:
        return f"{self.root}:r:{self.cid(collection)}:"

    def record(self, collection: str, record_id: str) -> bytes:
        return record_key(self.record_prefix(collection), record_id)

    def chat_prefix(self, namespace: str) -> bytes:
        return b(f"{self.root}:chat:{len(namespace)}:{namespace}:")

    def chat(self, namespace: str, session_id: str) -> bytes:
        return self.chat_prefix(namespace) + b(session_id)

    def sessions(self, namespace: str) -> bytes:
        return b(f"{self.root}:sessions:{namespace}")

    def kv(self, collection: str) -> bytes:
        return b(f"{self.root}:kv:{collection}")


# ------------------------------------------------------------------ collections
def encode_info(info: CollectionInfo, algorithm: str) -> str:
    return json.dumps(
        {
            "name": info.name,
            "dimension": info.dimension,
            "metric": info.metric,
            "embedding_model": info.embedding_model,
            "algorithm": algorithm,
        }
    )


def decode_info(name: str, raw: bytes | str) -> tuple[CollectionInfo, str]:
    """A collection's info and index algorithm, from its registry entry."""
    data = json.loads(s(raw))
    info = CollectionInfo(name, int(data["dimension"]), data["metric"], data.get("embedding_model"))
    return info, str(data.get("algorithm", "hnsw"))


# ------------------------------------------------------------------ records
def sort_key(record_id: str) -> int:
    """A 52-bit number from the id: exact as a double, for keyset pagination."""
    return int(hashlib.blake2b(b(record_id), digest_size=8).hexdigest()[:13], 16)


def record_key(record_prefix: str, record_id: str) -> bytes:
    """A record's key under its collection's :meth:`Keyspace.record_prefix` (computed
    once per batch: the prefix costs more than the digest)."""
    return b(record_prefix + hashlib.blake2b(b(record_id), digest_size=16).hexdigest())


def vector_bytes(vector: list[float]) -> bytes:
    return np.asarray(vector, dtype="<f4").tobytes()


def vector_list(data: bytes) -> list[float]:
    return np.frombuffer(data, dtype="<f4").astype(float).tolist()


def encode_record(rec: Record, vector: bytes) -> dict[bytes | str, bytes | str]:
    """The hash fields that store one record; ``vector`` is its float32 bytes
    (``encoding.float32_blobs`` gives a batch's)."""
    out: dict[bytes | str, bytes | str] = {
        q.ID_FIELD: b(rec.id),
        q.TEXT_FIELD: b(rec.text),
        q.META_FIELD: metadata_json_bytes(rec.metadata),
        q.VECTOR_FIELD: vector,
        q.SORT_FIELD: str(sort_key(rec.id)),
    }
    words = q.words_of(rec.text)
    if words:
        out[q.WORDS_FIELD] = b(words)
    out.update(f.metadata_fields(rec.metadata))
    return out


RECORD_FIELDS = (q.ID_FIELD, q.TEXT_FIELD, q.META_FIELD)


def decode_record(fields: dict[str, Any], include_vectors: bool) -> Record:
    vec = fields.get(q.VECTOR_FIELD) if include_vectors else None
    return Record(
        s(fields[q.ID_FIELD]),
        s(fields.get(q.TEXT_FIELD)),
        vector_list(vec) if vec is not None else None,
        json.loads(s(fields.get(q.META_FIELD)) or "{}"),
    )


def canonical_distance(metric: str, reported: float) -> float:
    """Redis' distance in the canonical form of :mod:`...scores`.

    COSINE reports ``1 - cos`` already; L2 reports the *squared* distance; IP
    reports ``1 - a.b``, so the canonical ``-(a.b)`` is ``reported - 1``.
    """
    if metric == "euclidean":
        return math.sqrt(max(reported, 0.0))
    if metric == "dot":
        return reported - 1.0
    return reported


# ------------------------------------------------------------------ replies
@dataclass
class SearchDoc:
    key: bytes
    score: float | None = None
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass
class SearchReply:
    total: int
    docs: list[SearchDoc]


def _text(x: Any) -> str:
    return x.decode() if isinstance(x, bytes) else str(x)


def _pairs(flat: list[Any]) -> dict[str, Any]:
    return {_text(flat[i]): flat[i + 1] for i in range(0, len(flat) - 1, 2)}


def parse_search(reply: Any, with_scores: bool = False, no_content: bool = False) -> SearchReply:
    """Normalise an ``FT.SEARCH`` reply, RESP2 (flat list) or RESP3 (map)."""
    if isinstance(reply, dict):
        r = {_text(k): v for k, v in reply.items()}
        warnings = [_text(w) for w in r.get("warning") or []]
        if any("timeout" in w.lower() for w in warnings):
            raise BackendError(f"Redis search timed out and returned partial results: {warnings}")
        docs = []
        for item in r.get("results") or []:
            d = {_text(k): v for k, v in item.items()}
            attrs = d.get("extra_attributes") or {}
            if not attrs and not no_content:
                continue  # expired or deleted while the query ran: no longer there
            score = d.get("score")
            docs.append(
                SearchDoc(
                    d["id"],
                    float(score) if score is not None else None,
                    {_text(k): v for k, v in attrs.items()},
                )
            )
        return SearchReply(int(r.get("total_results", 0)), docs)
    if not isinstance(reply, list) or not reply:
        raise BackendError(f"unexpected FT.SEARCH reply: {reply!r:.200}")
    total, rest = int(reply[0]), reply[1:]
    docs = []
    step = 1 + (1 if with_scores else 0) + (0 if no_content else 1)
    for i in range(0, len(rest), step):
        doc = SearchDoc(rest[i])
        j = i + 1
        if with_scores:
            doc.score = float(rest[j])
            j += 1
        if not no_content:
            doc.fields = _pairs(rest[j] or [])
            if not doc.fields:
                continue  # expired or deleted while the query ran: no longer there
        docs.append(doc)
    return SearchReply(total, docs)


def info_num_docs(reply: Any) -> int:
    """``num_docs`` of an ``FT.INFO`` reply, RESP2 (flat list) or RESP3 (map)."""
    if isinstance(reply, dict):
        items = {_text(k): v for k, v in reply.items()}
    elif isinstance(reply, list):
        items = {_text(reply[i]): reply[i + 1] for i in range(0, len(reply) - 1, 2)}
    else:
        raise BackendError(f"unexpected FT.INFO reply: {reply!r:.200}")
    try:
        return int(float(_text(items.get("num_docs", 0))))
    except (TypeError, ValueError):
        raise BackendError(f"unexpected num_docs in FT.INFO: {items.get('num_docs')!r}") from None
