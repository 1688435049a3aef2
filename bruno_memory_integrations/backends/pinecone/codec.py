"""How ids, names, vectors and metadata map onto Pinecone records, and Pinecone's limits.

Pure functions, no I/O. docs/backends/pinecone.md describes the layout.

Pinecone's documented limits, checked before anything is sent (a batch that breaks
one is refused whole, so nothing is half-written):

* a record id is at most :data:`MAX_ID_BYTES` bytes (ids longer than that, or with
  characters outside printable ASCII, are stored under a hash and the id itself
  goes into the metadata);
* a record's metadata is at most :data:`MAX_METADATA_BYTES` bytes of JSON;
* metadata values are strings, numbers, booleans or lists of strings;
* one upsert request carries at most :data:`MAX_BATCH` records and
  :data:`MAX_REQUEST_BYTES` bytes (bigger batches are split).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from array import array
from collections.abc import Iterator, Sequence
from typing import Any

from ...errors import InvalidInputError
from ...filters import value_kind
from ...types import CollectionInfo
from ..encoding import float32_from_base64

__all__ = [
    "MAX_BATCH",
    "MAX_ID_BYTES",
    "MAX_METADATA_BYTES",
    "MAX_REQUEST_BYTES",
    "LimitError",
]

#: Pinecone's documented limits.
MAX_ID_BYTES = 512
MAX_METADATA_BYTES = 40 * 1024
MAX_BATCH = 1000
MAX_REQUEST_BYTES = 2 * 1024 * 1024
#: Value bytes per key-value record (base64 makes 4/3 of it; the key rides along).
KV_CHUNK = 24_000

# Metadata fields the backend writes (user keys never become Pinecone keys: see filters.py).
ID, TEXT, META, VEC, TAGS = "_i", "_x", "_m", "_v", "_t"

_SAFE = re.compile(r"[A-Za-z0-9_.\-]")
_RAW_ID = re.compile(r"^[!-}]{1,512}$")  # printable ASCII without space and "~"


class LimitError(InvalidInputError):
    """A record breaks one of Pinecone's documented limits; nothing was written."""


def digest(text: str, n: int = 32) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:n]


def enc(text: str) -> str:
    """Percent-encode ``text`` to ``[A-Za-z0-9_.-%]``: injective and prefix-preserving."""
    out = []
    for ch in text:
        if _SAFE.match(ch):
            out.append(ch)
        else:
            out.extend(f"%{b:02X}" for b in ch.encode("utf-8", "surrogatepass"))
    return "".join(out)


def dec(text: str) -> str:
    from urllib.parse import unquote

    return unquote(text, errors="surrogatepass")


def short(text: str, limit: int = 100) -> str:
    """``enc(text)`` when at most ``limit`` characters, else ``~`` and a hash (never
    starting with ``~`` otherwise, so the two forms never meet)."""
    e = enc(text)
    return e if len(e) <= limit else "~" + digest(text, 40)


def record_id(rid: str) -> str:
    """The Pinecone id of a record id: itself when it is printable ASCII of at most 512
    bytes not starting with ``~``, else ``~`` and a hash."""
    if _RAW_ID.match(rid) and not rid.startswith("~"):
        return rid
    return "~" + digest(rid, 64)


def namespace(prefix: str, kind: str, name: str = "") -> str:
    return f"{prefix}-{kind}" + (f"-{short(name)}" if name else "")


def check_id(pid: str) -> str:
    if len(pid.encode("ascii")) > MAX_ID_BYTES:  # pragma: no cover - ids are built short
        raise LimitError(f"Pinecone ids are at most {MAX_ID_BYTES} bytes, got {len(pid)}")
    return pid


# ------------------------------------------------------------------ metadata
def json_size(obj: Any) -> int:
    return len(json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def check_metadata(md: dict[str, Any], what: str) -> dict[str, Any]:
    """Refuse metadata Pinecone would refuse: too big, or a value of another type."""
    for k, v in md.items():
        ok = isinstance(v, (str, bool, int, float)) or (
            isinstance(v, list) and all(isinstance(x, str) for x in v)
        )
        if not ok or (isinstance(v, float) and not math.isfinite(v)):
            raise LimitError(  # pragma: no cover - only our own fields reach here
                f"Pinecone metadata values are strings, numbers, booleans or lists of "
                f"strings; {what} has {k!r} = {v!r}"
            )
    size = json_size(md)
    if size > MAX_METADATA_BYTES:
        raise LimitError(
            f"{what} needs {size} bytes of Pinecone metadata, over Pinecone's limit of "
            f"{MAX_METADATA_BYTES} bytes (40 KB) per record: store less text or metadata per "
            f"record (split long texts into chunks)"
        )
    return md


def tag(key: str, kind: str) -> str:
    return f"{digest(key, 16)}.{kind}"


def field(key: str, kind: str) -> str:
    """The Pinecone metadata field holding ``key``'s value of one kind (s, n, b, l)."""
    return f"{kind}_{digest(key, 16)}"


def filter_fields(metadata: dict[str, Any]) -> dict[str, Any]:
    """Typed, hashed copies of the top-level metadata values filters can reach.

    ``_t`` lists a tag per present (non-null) key and its kind, and always holds
    ``"."`` so it is never empty: negations test it instead of relying on how
    Pinecone treats absent fields.
    """
    out: dict[str, Any] = {}
    tags = ["."]
    for key, value in metadata.items():
        if value is None:
            continue
        kind = value_kind(value)
        if kind == "number":
            out[field(key, "n")] = value
            tags.append(tag(key, "n"))
        elif kind == "string":
            out[field(key, "s")] = value
            tags.append(tag(key, "s"))
        elif kind == "bool":
            out[field(key, "b")] = value
            tags.append(tag(key, "b"))
        elif isinstance(value, list):
            strings = sorted({x for x in value if isinstance(x, str)})
            if strings:
                out[field(key, "l")] = strings
                tags.append(tag(key, "l"))
            else:
                tags.append(tag(key, "e"))
    out[TAGS] = tags
    return out


# ------------------------------------------------------------------ vectors
def f32(values: Sequence[float]) -> list[float]:
    return array("f", values).tolist()


class Space:
    """How one collection's vectors live in the index (its metric on the index's metric).

    ==================  ==========================================================
    collection / index  stored vector (zero-padded to the index dimension)
    ==================  ==========================================================
    cosine / cosine     ``x``
    dot / dotproduct    ``x``
    euclidean / dot     ``[x, |x|^2]``, queried with ``[2q, -1]``: score = 2q.x - |x|^2
    euclidean / eucl.   ``x``
    cosine / dot, eucl  ``x / |x|`` (the exact float32 ``x`` rides in metadata ``_v``)
    ==================  ==========================================================
    """

    def __init__(self, info: CollectionInfo, index_metric: str, index_dim: int) -> None:
        self.metric, self.index_metric, self.dim, self.index_dim = (
            info.metric, index_metric, info.dimension, index_dim
        )
        self.normalize = info.metric == "cosine" and index_metric != "cosine"
        self.augment = info.metric == "euclidean" and index_metric == "dotproduct"

    def _pad(self, v: list[float]) -> list[float]:
        return v + [0.0] * (self.index_dim - len(v))

    def stored(self, v: Sequence[float]) -> list[float]:
        x = f32(v)
        if self.normalize:
            n = math.sqrt(sum(a * a for a in x))
            return self._pad([a / n for a in x] if n else x)
        if self.augment:
            return [*self._pad(x)[:self.index_dim - 1], sum(a * a for a in x)]
        return self._pad(x)

    def query(self, v: Sequence[float]) -> list[float]:
        x = f32(v)
        if self.augment:
            return [*self._pad([2.0 * a for a in x])[:self.index_dim - 1], -1.0]
        return self.stored(x)

    def distance(self, score: float, q: Sequence[float]) -> float:
        """Our canonical distance (scores.py) from Pinecone's score."""
        if self.metric == "cosine":
            if self.index_metric == "euclidean":  # |q^ - x^|^2 = 2 - 2 cos
                return max(0.0, min(2.0, score / 2.0))
            return max(0.0, min(2.0, 1.0 - score))
        if self.metric == "dot":
            return -score
        if self.augment:
            qq = sum(a * a for a in f32(q))
            return math.sqrt(max(qq - score, 0.0))
        return math.sqrt(max(score, 0.0))  # Pinecone's euclidean score is the squared distance

    def vector(self, values: Sequence[float] | None, md: dict[str, Any]) -> list[float] | None:
        if self.normalize:
            return float32_from_base64(md[VEC]) if VEC in md else None
        if values is None:
            return None
        return [float(a) for a in values[: self.dim]]


def metrics_for(index_metric: str) -> tuple[str, ...]:
    """Our metrics an index of ``index_metric`` serves exactly."""
    return {
        "dotproduct": ("cosine", "euclidean", "dot"),
        "euclidean": ("cosine", "euclidean"),
        "cosine": ("cosine",),
    }.get(index_metric, ("cosine",))


def needed_dimension(info: CollectionInfo, index_metric: str) -> int:
    return info.dimension + (1 if info.metric == "euclidean" and index_metric == "dotproduct"
                             else 0)


# ------------------------------------------------------------------ batches
def request_size(vec: dict[str, Any]) -> int:
    """Bytes one record adds to an upsert request's JSON body (an upper bound: the SDK
    escapes non-ASCII text, and a float takes at most 24 characters and a separator)."""
    md = json.dumps(vec.get("metadata") or {}, separators=(",", ":"))
    return len(md) + 26 * len(vec["values"]) + len(vec["id"]) + 64


def batches(vectors: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """Split into requests of at most MAX_BATCH records and MAX_REQUEST_BYTES bytes."""
    cur: list[dict[str, Any]] = []
    size = 0
    for v in vectors:
        n = request_size(v)
        if cur and (len(cur) >= MAX_BATCH or size + n > MAX_REQUEST_BYTES - 1024):
            yield cur
            cur, size = [], 0
        cur.append(v)
        size += n
    if cur:
        yield cur


def chunks(items: Sequence[Any], n: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


# ------------------------------------------------------------------ collection info
def encode_info(info: CollectionInfo) -> str:
    return json.dumps(
        {"name": info.name, "dimension": info.dimension, "metric": info.metric,
         "model": info.embedding_model},
        ensure_ascii=False,
    )


def decode_info(text: str) -> CollectionInfo | None:
    try:
        d = json.loads(text)
        return CollectionInfo(d["name"], int(d["dimension"]), d["metric"], d.get("model"))
    except (ValueError, KeyError, TypeError):
        return None
