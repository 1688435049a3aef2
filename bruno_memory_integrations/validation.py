"""Input checks shared by every backend, run before anything is written.

One rule set for all stores: NUL characters are refused in ids, names, keys,
text and metadata strings because PostgreSQL cannot store them; every other
character (quotes, SQL, control characters, any Unicode) is stored exactly.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .errors import (
    DimensionMismatchError,
    InvalidIdError,
    InvalidMetadataError,
    InvalidNameError,
    InvalidVectorError,
)
from .types import Record

__all__ = [
    "check_id",
    "check_ids",
    "check_metadata",
    "check_name",
    "check_text",
    "check_vector",
    "new_id",
    "safe_identifier",
]

MAX_NAME_LENGTH = 512


def new_id() -> str:
    """A fresh random id (a UUID4 string)."""
    return str(uuid.uuid4())


def _encodable(value: str) -> bool:
    """False for strings with lone surrogates, which no store can encode as UTF-8."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_name(name: Any, what: str = "collection") -> str:
    """A collection, namespace, session or key-collection name: any non-empty string."""
    if not isinstance(name, str) or not name:
        raise InvalidNameError(f"a {what} name must be a non-empty string, got {name!r}")
    if "\x00" in name:
        raise InvalidNameError(f"a {what} name cannot contain a NUL character: {name!r}")
    if not _encodable(name):
        raise InvalidNameError(f"a {what} name must be valid Unicode (no lone surrogates)")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidNameError(f"a {what} name is at most {MAX_NAME_LENGTH} characters long")
    return name


def check_id(value: Any, what: str = "id") -> str:
    """An id or key: a non-empty string without NUL."""
    if not isinstance(value, str):
        raise InvalidIdError(f"{what}s must be strings, got {type(value).__name__} {value!r}")
    if not value:
        raise InvalidIdError(f"{what}s must be non-empty strings")
    if "\x00" in value:
        raise InvalidIdError(f"{what} {value!r} contains a NUL character, which no store keeps")
    if not _encodable(value):
        raise InvalidIdError(f"{what} {value!r} is not valid Unicode (it has a lone surrogate)")
    return value


def check_ids(values: Iterable[Any], what: str = "id") -> list[str]:
    """Check every id; a single string is refused (it would be read as characters)."""
    if isinstance(values, (str, bytes)):
        raise InvalidIdError(f"pass a list of {what}s, not a single string {values!r}")
    return [check_id(v, what) for v in values]


def check_text(text: Any) -> str:
    if text is None:
        return ""
    if not isinstance(text, str):
        raise InvalidMetadataError(f"record text must be a string, got {type(text).__name__}")
    if "\x00" in text:
        raise InvalidMetadataError("record text cannot contain a NUL character")
    if not _encodable(text):
        raise InvalidMetadataError("record text must be valid Unicode (no lone surrogates)")
    return text


def check_vector(vector: Any, dimension: int | None = None) -> list[float]:
    """A finite, non-empty list of floats (numpy arrays and tuples accepted)."""
    if vector is None:
        raise InvalidVectorError("a record needs a vector; embed its text first")
    if hasattr(vector, "tolist"):
        vector = vector.tolist()
    # Fast path for the common case, a list of finite floats (C-level loops only).
    if (
        type(vector) is list
        and vector
        and set(map(type, vector)) == {float}
        and all(map(math.isfinite, vector))
    ):
        if dimension is not None and len(vector) != dimension:
            raise InvalidVectorError(f"expected a vector of {dimension} numbers, got {len(vector)}")
        return list(vector)
    if isinstance(vector, (str, bytes)) or not isinstance(vector, Sequence):
        raise InvalidVectorError(f"a vector must be a list of numbers, got {type(vector).__name__}")
    if not vector:
        raise InvalidVectorError("a vector cannot be empty")
    out: list[float] = []
    for x in vector:
        if isinstance(x, bool) or not isinstance(x, (int, float)):
            raise InvalidVectorError(f"a vector holds numbers only, found {x!r}")
        f = float(x)
        if not math.isfinite(f):
            raise InvalidVectorError(f"a vector cannot contain NaN or infinity (found {x!r})")
        out.append(f)
    if dimension is not None and len(out) != dimension:
        raise InvalidVectorError(f"expected a vector of {dimension} numbers, got {len(out)}")
    return out


def _check_json(value: Any, path: str, nested: bool, depth: int = 0) -> None:
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, str):
        if "\x00" in value:
            raise InvalidMetadataError(f"metadata {path} contains a NUL character")
        if not _encodable(value):
            raise InvalidMetadataError(f"metadata {path} is not valid Unicode (lone surrogate)")
        return
    if isinstance(value, int):
        if abs(value) > 2**63 - 1:
            raise InvalidMetadataError(f"metadata {path} is an integer out of 64-bit range")
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidMetadataError(f"metadata {path} is {value!r}, which JSON cannot hold")
        return
    if depth > 32:
        raise InvalidMetadataError(f"metadata {path} is nested too deeply")
    if isinstance(value, (list, tuple)):
        if not nested and depth == 0 and all(isinstance(v, str) for v in value):
            for i, v in enumerate(value):
                _check_json(v, f"{path}[{i}]", nested, depth + 1)
            return
        if not nested:
            raise InvalidMetadataError(
                f"metadata {path} is a list of non-strings; this backend stores only "
                f"strings, numbers, booleans, null and lists of strings"
            )
        for i, v in enumerate(value):
            _check_json(v, f"{path}[{i}]", nested, depth + 1)
        return
    if isinstance(value, Mapping):
        if not nested:
            raise InvalidMetadataError(
                f"metadata {path} is a nested object; this backend cannot store or filter "
                f"nested metadata: flatten it (e.g. 'a.b': value)"
            )
        for k, v in value.items():
            if not isinstance(k, str):
                raise InvalidMetadataError(f"metadata {path} has a non-string key {k!r}")
            _check_json(v, f"{path}.{k}", nested, depth + 1)
        return
    raise InvalidMetadataError(
        f"metadata {path} is a {type(value).__name__}, which is not JSON; convert it to a "
        f"string, number, boolean, list or dict"
    )


def check_metadata(metadata: Any, nested: bool = True) -> dict[str, Any]:
    """A JSON object whose keys are non-empty strings; returns a plain-dict deep copy."""
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise InvalidMetadataError(f"metadata must be a dict, got {type(metadata).__name__}")
    for key, value in metadata.items():
        if not isinstance(key, str) or not key:
            raise InvalidMetadataError(f"metadata keys must be non-empty strings, got {key!r}")
        if "\x00" in key or not _encodable(key):
            raise InvalidMetadataError(
                f"metadata key {key!r} contains a NUL character or a lone surrogate"
            )
        _check_json(value, repr(key), nested)
    # A JSON round trip gives an independent copy with tuples as lists, like every store.
    return json.loads(json.dumps(dict(metadata)))


def check_records(
    records: Iterable[Record], nested: bool, collection: str, dimension: int | None
) -> list[Record]:
    """Check a batch; later duplicates of an id replace earlier ones (upsert semantics).

    ``dimension`` is the collection's, when it exists already.
    """
    by_id: dict[str, Record] = {}
    dim = dimension
    for rec in records:
        if not isinstance(rec, Record):
            raise InvalidIdError(f"expected Record objects, got {type(rec).__name__}")
        vec = check_vector(rec.vector)
        if dimension is not None and len(vec) != dimension:
            raise DimensionMismatchError(collection, dimension, len(vec))
        if dim is None:
            dim = len(vec)
        elif len(vec) != dim:
            raise InvalidVectorError(
                f"record {rec.id!r} has a vector of {len(vec)} numbers; expected {dim}"
            )
        rid = check_id(rec.id)
        by_id.pop(rid, None)
        by_id[rid] = Record(rid, check_text(rec.text), vec, check_metadata(rec.metadata, nested))
    return list(by_id.values())


_SAFE = re.compile(r"[^a-z0-9]+")


def safe_identifier(name: str, prefix: str = "c", max_length: int = 63) -> str:
    """A deterministic identifier made only of ``[a-z0-9_]`` for any name.

    Used where a store limits the characters of table, index or collection names:
    a readable part of the name plus a hash of the whole, so different names never
    collide and no name can inject anything.
    """
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:12]
    readable = _SAFE.sub("_", name.lower()).strip("_")
    room = max_length - len(prefix) - len(digest) - 2
    readable = readable[: max(room, 0)]
    return f"{prefix}_{readable}_{digest}" if readable else f"{prefix}_{digest}"
