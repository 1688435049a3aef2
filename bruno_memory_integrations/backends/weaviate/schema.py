"""How our data is laid out in Weaviate: collection names, property names, object ids.

Everything here is deterministic and pure, so it is documented and unit-tested once
(docs/backends/weaviate.md has the same rules in prose).

* **Collection names.** Weaviate collection (class) names match
  ``[A-Z][_0-9A-Za-z]*`` and are compared case-insensitively. A vector collection
  named ``name`` becomes ``{prefix}V_{readable}_{hash}``: ``readable`` is the name
  lower-cased with every run of other characters turned into ``_`` (at most 40
  characters), ``hash`` the first 16 hex digits of the SHA-256 of the exact name.
  Distinct names therefore never share a collection, whatever their case, and no
  name can inject anything. The exact name, dimension, metric and embedding model are
  kept in the collection's *description* (JSON), which is how ``list_collections``
  reads the real names back.
* **Chat messages** live in one collection ``{prefix}Chat`` and **key-value items**
  in ``{prefix}Kv``, both without vectors; namespaces, sessions and key collections
  are property values there, never collection names (see the page for why).
* **Object ids.** Weaviate ids are UUIDs: ours are UUID5 of a JSON array naming the
  kind and the caller's id (``["r", id]``, ``["m", namespace, session, seq]``, ...),
  so every id maps to exactly one object, and the caller's id is stored in the object.
* **Metadata** becomes typed properties, one per (key, kind of value) (see
  :func:`meta_property`), because a Weaviate property has one data type while one
  metadata key may hold an int in one record and a string in another.
* **Strings that filters compare** are stored wrapped as ``|value|``: Weaviate's
  ``field`` tokenization trims surrounding whitespace, and the wrapping keeps
  ``"  a  "`` and ``"a"`` distinct.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ...errors import BackendError
from ...types import CollectionInfo

__all__ = [
    "BRUNO_NAMESPACE",
    "ID",
    "KEY",
    "KEYS",
    "META",
    "TEXT",
    "Kind",
    "chat_class",
    "decode_info",
    "encode_info",
    "kv_class",
    "meta_property",
    "object_key",
    "object_uuid",
    "vector_class",
    "wrap",
]

#: The UUID5 namespace of every object id this package derives.
BRUNO_NAMESPACE = uuid.UUID("6a0c4d4e-2f57-5b1e-9a43-7d1f0b6e8c21")
_FORMAT = 1

# Fixed properties of a vector collection.
ID = "bruno_id"  # the caller's id, exactly (not indexed)
TEXT = "bruno_text"  # the record text: word tokenization, BM25 (searchable, not filterable)
META = "bruno_meta"  # the metadata as JSON, for exact round trips (not indexed)
KEYS = "bruno_keys"  # the metadata keys present and not null, wrapped (filterable text[])
KEY = "bruno_key"  # 52 bits of the object UUID: the order of paged scans (int)

_NOT_NAME = re.compile(r"[^a-z0-9]+")


def _readable(name: str, room: int) -> str:
    return _NOT_NAME.sub("_", name.lower()).strip("_")[:room].strip("_")


def _digest(name: str, n: int) -> str:
    return hashlib.sha256(name.encode("utf-8")).hexdigest()[:n]


def vector_class(prefix: str, name: str) -> str:
    """The Weaviate collection of our vector collection ``name``."""
    readable = _readable(name, 40)
    middle = f"{readable}_" if readable else ""
    return f"{prefix}V_{middle}{_digest(name, 16)}"


def chat_class(prefix: str) -> str:
    return f"{prefix}Chat"


def kv_class(prefix: str) -> str:
    return f"{prefix}Kv"


def vector_prefix(prefix: str) -> str:
    """Every vector collection of this prefix starts with this."""
    return f"{prefix}V_"


def object_uuid(*parts: Any) -> str:
    """The deterministic object id of ``parts`` (a kind letter and the caller's names)."""
    return str(uuid.uuid5(BRUNO_NAMESPACE, json.dumps(list(parts), ensure_ascii=False)))


def object_key(object_id: str) -> int:
    """52 bits of an object id: an int property exact in a float64, used to page scans."""
    return int(uuid.UUID(object_id).hex[:13], 16)


def wrap(value: str) -> str:
    """A string as stored in a ``field``-tokenized property (kept distinct from its trim)."""
    return f"|{value}|"


def unwrap(value: str) -> str:
    return value[1:-1]


# ------------------------------------------------------------------ collection info
def encode_info(info: CollectionInfo) -> str:
    """The collection description: our real name and what the collection was built with."""
    return json.dumps(
        {
            "bruno": _FORMAT,
            "name": info.name,
            "dimension": info.dimension,
            "metric": info.metric,
            "embedding_model": info.embedding_model,
        },
        ensure_ascii=False,
    )


def decode_info(description: str | None) -> CollectionInfo | None:
    """The info in a description, or ``None`` if the collection is not one of ours."""
    try:
        data = json.loads(description or "")
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("bruno") != _FORMAT:
        return None
    try:
        return CollectionInfo(
            str(data["name"]), int(data["dimension"]), str(data["metric"]),
            data.get("embedding_model"),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise BackendError(f"unreadable collection description {description!r}: {exc}") from exc


# ------------------------------------------------------------------ metadata properties
@dataclass(frozen=True)
class Kind:
    """One kind of metadata value and the Weaviate data type that holds it."""

    code: str
    data_type: str  # Weaviate's dataType name


KINDS: dict[str, Kind] = {
    k.code: k
    for k in (
        Kind("s", "text"),
        Kind("i", "int"),
        Kind("f", "number"),
        Kind("b", "boolean"),
        Kind("ls", "text[]"),
        Kind("li", "int[]"),
        Kind("lf", "number[]"),
        Kind("lb", "boolean[]"),
    )
}


def meta_property(key: str, kind: str) -> str:
    """The property holding values of ``kind`` of metadata key ``key``.

    ``m{kind}_{readable}_{hash}``: lower case only (Weaviate compares property names
    without regard to case), a readable part of the key, and 12 hex digits of the
    SHA-256 of the exact key, so distinct keys never share a property. The exact key
    is also written in the property's description.
    """
    readable = _readable(key, 32)
    middle = f"{readable}_" if readable else ""
    return f"m{kind}_{middle}{_digest(key, 12)}"


def property_description(key: str, kind: str) -> str:
    return json.dumps({"key": key, "kind": kind}, ensure_ascii=False)


def _scalar_kind(value: Any) -> str | None:
    if isinstance(value, bool):
        return "b"
    if isinstance(value, int):
        return "i"
    if isinstance(value, float):
        return "f"
    if isinstance(value, str):
        return "s"
    return None


def metadata_properties(metadata: Mapping[str, Any]) -> Iterator[tuple[str, str, Any]]:
    """``(key, kind, value)`` for every indexed part of ``metadata``.

    Scalars go to their kind's property (strings wrapped); a list's strings, ints,
    floats and booleans go to one list property each, so ``$contains`` finds any of
    them. Nested objects, nested lists and nulls are not indexed (no filter can
    compare them); they round-trip through the JSON copy.
    """
    for key, value in metadata.items():
        if value is None:
            continue
        kind = _scalar_kind(value)
        if kind is not None:
            yield key, kind, wrap(value) if kind == "s" else value
            continue
        if isinstance(value, list):
            parts: dict[str, list[Any]] = {}
            for item in value:
                k = _scalar_kind(item)
                if k is not None:
                    parts.setdefault("l" + k, []).append(wrap(item) if k == "s" else item)
            for k, items in parts.items():
                yield key, k, items
