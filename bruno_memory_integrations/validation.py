"""Input checks shared by every backend, run before anything is written.

One rule set for all stores:

* NUL characters and lone surrogates are refused in ids, names, keys, text and
  metadata strings (PostgreSQL cannot store a NUL, and no store can encode a lone
  surrogate as UTF-8); every other character (quotes, SQL, control characters,
  any Unicode) is stored exactly.
* Ids, keys and names are at most :data:`MAX_KEY_BYTES` bytes of UTF-8, so that
  two of them fit in one PostgreSQL B-tree index entry (about 2 700 bytes).
* Vector components are float32 values of bounded magnitude (:func:`check_vector`).
* Metadata numbers are 64-bit integers or finite floats, in the canonical form of
  :func:`~bruno_memory_integrations.filters.canonical_number`.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import uuid
from array import array
from collections.abc import Iterable, Mapping, Sequence
from operator import countOf
from typing import Any

from .errors import (
    DimensionMismatchError,
    InvalidIdError,
    InvalidInputError,
    InvalidMetadataError,
    InvalidNameError,
    InvalidVectorError,
)
from .filters import canonical_number
from .types import Record

__all__ = [
    "MAX_KEY_BYTES",
    "MAX_VECTOR_COMPONENT",
    "MIN_VECTOR_COMPONENT",
    "check_cursor",
    "check_id",
    "check_ids",
    "check_metadata",
    "check_name",
    "check_prefix",
    "check_text",
    "check_vector",
    "new_id",
    "safe_identifier",
]

#: Longest id, key or name, in bytes of UTF-8 (S3's key limit too). PostgreSQL
#: indexes (collection, key) and (namespace, session) pairs, and one B-tree entry
#: holds at most about 2 700 bytes: two of these always fit.
MAX_KEY_BYTES = 1024
#: Largest magnitude of a vector component. Stores compute distances in float32:
#: with components up to 1e16, squared norms and distances of up to 850 000
#: dimensions stay below float32's maximum (3.4e38), so no distance overflows.
MAX_VECTOR_COMPONENT = 1e16
#: A vector that is not all zeros needs a component at least this large, or its
#: squared norm underflows float32 to zero and float32 stores would see a zero vector.
MIN_VECTOR_COMPONENT = 1e-16


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


def _short(value: str) -> str:
    return repr(value) if len(value) <= 60 else repr(value[:40]) + f"... ({len(value)} chars)"


def _too_long(value: str) -> int | None:
    """The UTF-8 size of ``value`` when it exceeds :data:`MAX_KEY_BYTES`, else None."""
    if len(value) * 4 <= MAX_KEY_BYTES:  # cannot be too long: skip the encoding
        return None
    size = len(value.encode("utf-8"))
    return size if size > MAX_KEY_BYTES else None


def check_name(name: Any, what: str = "collection") -> str:
    """A collection, namespace, session or key-collection name: any non-empty string
    of at most :data:`MAX_KEY_BYTES` bytes of UTF-8, without NUL or lone surrogates."""
    if not isinstance(name, str) or not name:
        raise InvalidNameError(f"a {what} name must be a non-empty string, got {name!r}")
    if "\x00" in name:
        raise InvalidNameError(f"a {what} name cannot contain a NUL character: {_short(name)}")
    if not _encodable(name):
        raise InvalidNameError(f"a {what} name must be valid Unicode (no lone surrogates)")
    size = _too_long(name)
    if size is not None:
        raise InvalidNameError(
            f"a {what} name is at most {MAX_KEY_BYTES} bytes of UTF-8, got {size} bytes: "
            f"{_short(name)}; use a shorter name (e.g. a hash of it)"
        )
    return name


def check_id(value: Any, what: str = "id") -> str:
    """An id or key: a non-empty string of at most :data:`MAX_KEY_BYTES` bytes of UTF-8,
    without NUL or lone surrogates."""
    if not isinstance(value, str):
        raise InvalidIdError(f"{what}s must be strings, got {type(value).__name__} {value!r}")
    if not value:
        raise InvalidIdError(f"{what}s must be non-empty strings")
    if "\x00" in value:
        raise InvalidIdError(
            f"{what} {_short(value)} contains a NUL character, which no store keeps"
        )
    if not _encodable(value):
        raise InvalidIdError(
            f"{what} {_short(value)} is not valid Unicode (it has a lone surrogate)"
        )
    size = _too_long(value)
    if size is not None:
        raise InvalidIdError(
            f"{what} {_short(value)} is {size} bytes of UTF-8; {what}s are at most "
            f"{MAX_KEY_BYTES} bytes in every store: use a shorter {what} (e.g. a hash of it)"
        )
    return value


def check_cursor(cursor: Any) -> str | None:
    """A scan cursor: ``None`` (the first page) or the string a previous page returned."""
    if cursor is None:
        return None
    if not isinstance(cursor, str) or not cursor:
        raise InvalidInputError(
            f"a scan cursor is None or the non-empty string a previous page returned "
            f"(Page.cursor), got {type(cursor).__name__} {cursor!r}"
        )
    if "\x00" in cursor or not _encodable(cursor):
        raise InvalidInputError(
            f"a scan cursor cannot contain a NUL character or a lone surrogate: {_short(cursor)}; "
            f"pass the Page.cursor of the previous page"
        )
    return cursor


def check_prefix(prefix: Any) -> str | None:
    """A key prefix: ``None`` or a string (``""`` means no prefix) without NUL or
    lone surrogates, which no stored key can contain."""
    if prefix is None:
        return None
    if not isinstance(prefix, str):
        raise InvalidInputError(f"prefix must be a string, got {type(prefix).__name__} {prefix!r}")
    if "\x00" in prefix or not _encodable(prefix):
        raise InvalidInputError(
            f"prefix {_short(prefix)} contains a NUL character or a lone surrogate, which no "
            f"key can contain"
        )
    return prefix or None


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


_SAFE_LARGEST = MAX_VECTOR_COMPONENT * (1 - 2**-20)
_SAFE_SMALLEST = MIN_VECTOR_COMPONENT * (1 + 2**-20)


def _float32(values: list[float]) -> list[float]:
    """Check the magnitude rule and round every component to the nearest float32."""
    largest = max(max(values), -min(values))  # noqa: PLW3301 - no unpacking of the vector
    if largest > MAX_VECTOR_COMPONENT:
        raise InvalidVectorError(
            f"a vector component has magnitude {largest!r}; components are stored as float32 "
            f"and must lie within ±{MAX_VECTOR_COMPONENT:g} so distances cannot overflow: "
            f"scale the vector down (normalised embeddings lie within ±1)"
        )
    if 0.0 < largest < MIN_VECTOR_COMPONENT:
        raise InvalidVectorError(
            f"every component of this vector is below {MIN_VECTOR_COMPONENT:g} in magnitude "
            f"(largest {largest!r}): its squared norm underflows float32; scale it up"
        )
    return array("f", values).tolist()


def check_vector(vector: Any, dimension: int | None = None) -> list[float]:
    """A non-empty list of finite numbers, returned rounded to float32.

    The one vector rule: every store keeps 4-byte floats, so the core rounds each
    component to the nearest float32 before any store sees it, and every backend
    returns exactly those values. Components must lie within
    ±:data:`MAX_VECTOR_COMPONENT`; a non-zero vector needs one of magnitude at
    least :data:`MIN_VECTOR_COMPONENT`. numpy arrays and tuples are accepted.
    """
    if vector is None:
        raise InvalidVectorError("a record needs a vector; embed its text first")
    if hasattr(vector, "tolist"):
        vector = vector.tolist()
    if type(vector) is list and vector and countOf(map(type, vector), float) == len(vector):
        # Fast path, a list of floats (C-level loops only, no numpy): the norm bounds
        # every component from above, and a norm of at least sqrt(n) times the smallest
        # allowed magnitude means one component reaches it. Anything else (a vector of
        # zeros, one near a limit, NaN, infinity, another length) takes the exact
        # check below, which says what is wrong.
        norm = math.hypot(*vector)
        if _SAFE_SMALLEST * math.sqrt(len(vector)) <= norm <= _SAFE_LARGEST and (
            dimension is None or len(vector) == dimension
        ):
            return array("f", vector).tolist()
    if isinstance(vector, (str, bytes)) or not isinstance(vector, Sequence):
        raise InvalidVectorError(f"a vector must be a list of numbers, got {type(vector).__name__}")
    if not vector:
        raise InvalidVectorError("a vector cannot be empty")
    out: list[float] = []
    for x in vector:
        if isinstance(x, bool) or not isinstance(x, (int, float)):
            raise InvalidVectorError(f"a vector holds numbers only, found {x!r}")
        try:
            f = float(x)
        except OverflowError:
            raise InvalidVectorError(
                "a vector component is an integer beyond the range of floats"
            ) from None
        if not math.isfinite(f):
            raise InvalidVectorError(f"a vector cannot contain NaN or infinity (found {x!r})")
        out.append(f)
    if dimension is not None and len(out) != dimension:
        raise InvalidVectorError(f"expected a vector of {dimension} numbers, got {len(out)}")
    return _float32(out)


def _check_json(value: Any, path: str, nested: bool, depth: int = 0) -> bool:
    """Raise for a value no store can hold; True when a number needs :func:`_canonical`."""
    if value is None or isinstance(value, bool):
        return False
    if isinstance(value, str):
        if "\x00" in value:
            raise InvalidMetadataError(f"metadata {path} contains a NUL character")
        if not _encodable(value):
            raise InvalidMetadataError(f"metadata {path} is not valid Unicode (lone surrogate)")
        return False
    if isinstance(value, int):
        if abs(value) > 2**63 - 1:
            raise InvalidMetadataError(f"metadata {path} is an integer out of 64-bit range")
        return False
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidMetadataError(f"metadata {path} is {value!r}, which JSON cannot hold")
        return canonical_number(value) is not value
    if depth > 32:
        raise InvalidMetadataError(f"metadata {path} is nested too deeply")
    fix = False
    if isinstance(value, (list, tuple)):
        if not nested and depth == 0 and all(isinstance(v, str) for v in value):
            for i, v in enumerate(value):
                _check_json(v, f"{path}[{i}]", nested, depth + 1)
            return False
        if not nested:
            raise InvalidMetadataError(
                f"metadata {path} is a list of non-strings; this backend stores only "
                f"strings, numbers, booleans, null and lists of strings"
            )
        for i, v in enumerate(value):
            fix |= _check_json(v, f"{path}[{i}]", nested, depth + 1)
        return fix
    if isinstance(value, Mapping):
        if not nested:
            raise InvalidMetadataError(
                f"metadata {path} is a nested object; this backend cannot store or filter "
                f"nested metadata: flatten it (e.g. 'a.b': value)"
            )
        for k, v in value.items():
            if not isinstance(k, str):
                raise InvalidMetadataError(f"metadata {path} has a non-string key {k!r}")
            fix |= _check_json(v, f"{path}.{k}", nested, depth + 1)
        return fix
    raise InvalidMetadataError(
        f"metadata {path} is a {type(value).__name__}, which is not JSON; convert it to a "
        f"string, number, boolean, list or dict"
    )


def _canonical(value: Any) -> Any:
    """``value`` (a JSON copy) with every float in canonical form (see canonical_number)."""
    if isinstance(value, float):
        return canonical_number(value)
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    return value


def check_metadata(metadata: Any, nested: bool = True) -> dict[str, Any]:
    """A JSON object whose keys are non-empty strings; returns a plain-dict deep copy.

    Floats of magnitude 2**53 or more (whole numbers) become ints of the same value
    (:func:`~bruno_memory_integrations.filters.canonical_number`), so that every
    store keeps and compares their exact value.
    """
    if metadata is None:
        return {}
    if type(metadata) is dict:
        copy = _plain_copy(metadata)
        if copy is not None:
            return copy
    return _check_metadata(metadata, nested)


#: Largest magnitude of a float kept as it is (canonical_number turns larger ones into ints).
_PLAIN_FLOAT = float(2**53)


def _plain_copy(metadata: dict[Any, Any]) -> dict[str, Any] | None:
    """What :func:`_check_metadata` returns for the usual metadata, by a shorter road:
    ASCII string keys, values of exactly ``str`` (ASCII), ``bool``, ``None``, ``int``
    within 64 bits or ``float`` finite and below 2**53. ``None`` for anything else,
    which takes the full check."""
    copy: dict[str, Any] = {}
    for key, value in metadata.items():
        if type(key) is not str or not key or not key.isascii() or "\x00" in key:
            return None
        kind = type(value)
        if kind is str:
            if not value.isascii() or "\x00" in value:
                return None
        elif kind is int:
            if not -(2**63) < value < 2**63:
                return None
        elif kind is float:
            if not -_PLAIN_FLOAT < value < _PLAIN_FLOAT:  # also False for NaN
                return None
        elif value is not None and kind is not bool:
            return None
        copy[key] = value
    return copy


def _check_metadata(metadata: Any, nested: bool) -> dict[str, Any]:
    if not isinstance(metadata, Mapping):
        raise InvalidMetadataError(f"metadata must be a dict, got {type(metadata).__name__}")
    fix = False
    for key, value in metadata.items():
        if not isinstance(key, str) or not key:
            raise InvalidMetadataError(f"metadata keys must be non-empty strings, got {key!r}")
        if "\x00" in key or not _encodable(key):
            raise InvalidMetadataError(
                f"metadata key {key!r} contains a NUL character or a lone surrogate"
            )
        fix |= _check_json(value, repr(key), nested)
    copy = _flat_copy(metadata)
    if copy is None:
        # A JSON round trip gives an independent copy with tuples as lists and plain
        # types for subclasses (an IntEnum becomes its int), like every store.
        copy = json.loads(json.dumps(dict(metadata)))
    return _canonical(copy) if fix else copy


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _flat_copy(metadata: Mapping[str, Any]) -> dict[str, Any] | None:
    """The copy the JSON round trip makes, without it, for the usual metadata: plain
    ``str`` keys and values that are plain scalars or lists / tuples of plain strings
    (immutable, so sharing them is a copy). ``None`` for anything else. Checked values
    only: NaN and infinity are refused before this."""
    copy: dict[str, Any] = {}
    for key, value in metadata.items():
        kind = type(value)
        if type(key) is not str:
            return None
        if kind in _SCALARS:
            copy[key] = value
        elif (kind is list or kind is tuple) and all(type(v) is str for v in value):
            copy[key] = list(value)
        else:
            return None
    return copy


_FLOATS = {float}
_VECTOR_CHUNK = 4096  # rows converted at once: bounds the float64 copy (12 MB at 384-d)


class CheckedBatch(list):  # type: ignore[type-arg]
    """The records :func:`check_records` returns, in order (a ``list`` of them).

    ``float32`` is their vectors as one little-endian float32 matrix, row ``n`` being
    record ``n``'s vector, when the whole batch took the fast path (else ``None``).
    Backends read it through ``backends.encoding.float32_matrix`` instead of converting
    the lists again. A slice or copy is a plain list and carries no matrix.
    """

    __slots__ = ("float32",)

    def __init__(self, records: Iterable[Record] = (), float32: Any = None) -> None:
        super().__init__(records)
        self.float32 = float32


def _check_vector_batch(records: list[Any]) -> tuple[list[list[float] | None], Any]:
    """:func:`check_vector`'s fast path for a whole batch, in a few numpy passes.

    Returns, for each record, its checked vector, or ``None`` where
    :func:`check_vector` must decide: anything but a plain list of floats of the
    batch's usual length, and any vector near a magnitude limit, with NaN or infinity
    (the one rule refuses or rounds those with its own message). Also returns the
    float32 matrix of those vectors (row ``n`` for record ``n``; rows left ``None``
    hold zeros), or ``None`` when no vector took this path.

    A vector whose values are float32 already (embeddings computed in float32 are) is
    passed on as the caller's own list: turning the batch's float32 values back into
    Python floats, or even copying the lists, costs more than the rest of the check
    (the copies are what the garbage collector then walks). Backends write the values
    and keep no record object (the memory store copies what it keeps).
    """
    out: list[list[float] | None] = [None] * len(records)
    vectors: list[Any] = [getattr(r, "vector", None) for r in records]
    lengths = [len(v) for v in vectors if type(v) is list]
    if len(records) < 2 or not lengths:
        return out, None
    dim = max(set(lengths), key=lengths.count)
    rows = [
        n
        for n, v in enumerate(vectors)
        if type(v) is list and len(v) == dim and set(map(type, v)) == _FLOATS
    ]
    if not rows:
        return out, None
    import numpy as np

    matrix = np.zeros((len(records), dim), dtype="<f4")
    for start in range(0, len(rows), _VECTOR_CHUNK):
        part = rows[start : start + _VECTOR_CHUNK]
        given = np.array([vectors[n] for n in part], dtype=np.float64)
        with np.errstate(over="ignore", invalid="ignore"):
            rounded = given.astype("<f4")
            largest = np.abs(rounded).max(axis=1)  # NaN stays NaN, outside both bounds
            safe = (largest >= _SAFE_SMALLEST) & (largest <= _SAFE_LARGEST)
            same = (rounded == given).all(axis=1)
        matrix[part] = rounded
        for j, n in enumerate(part):
            if safe[j]:
                out[n] = vectors[n] if same[j] else rounded[j].tolist()
    return out, matrix


def check_records(
    records: Iterable[Record], nested: bool, collection: str, dimension: int | None
) -> CheckedBatch:
    """Check a batch; later duplicates of an id replace earlier ones (upsert semantics).

    ``dimension`` is the collection's, when it exists already.
    """
    by_id: dict[str, tuple[int, Record]] = {}
    dim = dimension
    batch = records if isinstance(records, list) else list(records)
    checked, matrix = _check_vector_batch(batch)
    for n, rec in enumerate(batch):
        if not isinstance(rec, Record):
            raise InvalidIdError(f"expected Record objects, got {type(rec).__name__}")
        vec = checked[n] or check_vector(rec.vector)
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
        by_id[rid] = (
            n,
            Record(rid, check_text(rec.text), vec, check_metadata(rec.metadata, nested)),
        )
    kept = [n for n, _ in by_id.values()]
    if matrix is not None and all(checked[n] is not None for n in kept):
        if len(kept) != len(batch):
            matrix = matrix[kept]
    else:
        matrix = None
    return CheckedBatch((rec for _, rec in by_id.values()), matrix)


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
