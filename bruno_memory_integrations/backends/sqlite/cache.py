"""An in-memory copy of each searched collection's vectors, kept in step with the file.

Reading 50 000 vectors of dimension 384 out of SQLite takes about 300 ms; scoring
them in numpy takes about 12 ms. So the numpy engine keeps each collection's
float32 matrix and refreshes it only by what changed:

* Every write bumps the collection's ``version`` (same transaction), so an
  unchanged collection costs one indexed read to validate, across processes too.
* Rids come from ``AUTOINCREMENT`` and an upsert deletes and re-inserts, so a rid
  names one immutable vector forever and new rows are exactly ``rid > max_rid``:
  they are appended to a growable buffer without copying the old rows.
* Deleted rows are found by counting rows ``rid <= max_rid``: if the count equals
  the cached live count nothing was deleted (no row with a smaller rid can
  appear later); otherwise the rid list is read and a liveness mask updated.
  Dead rows are compacted away once they are a quarter of the buffer.

A snapshot never sees later appends (it only reads its first ``n`` rows), so
searches use snapshots without holding the lock.

Beside the vectors, each buffer keeps the metadata that filters read, as columns
(:class:`MetadataColumn`): one per field a filter named, built on first use and
extended by the rows appended since, under the buffer's lock. A rid's metadata and
expiry are as immutable as its vector, so the columns need no other invalidation:
they are dropped with the buffer. ``filters.to_mask`` evaluates a filter on them,
so a filtered search reads no metadata from SQLite once its fields are cached.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "ARRAY", "FALSE", "MISSING", "NUMBER", "OTHER", "STRING", "TRUE", "UNKNOWN",
    "MetadataColumn", "Scalars", "Snapshot", "VectorCache", "matrix_from_blobs",
]

# What a slot (a row's field, or one element of a list) holds. MISSING covers JSON
# null too (the filter language treats null as absent); UNKNOWN marks a row that was
# deleted before its field was read, which only a snapshot older than the read can see.
MISSING, FALSE, TRUE, NUMBER, STRING, ARRAY, OTHER, UNKNOWN = range(8)
_EXACT = 2**53  # integers up to this magnitude are exact in float64
_JSON_KINDS = {
    None: MISSING, "null": MISSING, "false": FALSE, "true": TRUE, "integer": NUMBER,
    "real": NUMBER, "text": STRING, "array": ARRAY, "object": OTHER,
}


def matrix_from_blobs(blobs: list[bytes], dim: int) -> np.ndarray:
    """Stack float32 vector blobs into an ``(n, dim)`` array."""
    if not blobs:
        return np.empty((0, dim), dtype=np.float32)
    return np.frombuffer(b"".join(blobs), dtype="<f4").reshape(len(blobs), dim)


class Scalars:
    """Slots in columns: a kind, a float64 value for numbers, a string code.

    Numbers compare in float64; an integer that float64 cannot hold exactly also
    keeps its exact value in ``big`` (by slot), and float ties are re-checked
    exactly (``filters.to_mask``), so comparisons are Python's, as in the reference.
    """

    def __init__(self, capacity: int) -> None:
        self.kind = np.full(capacity, UNKNOWN, dtype=np.int8)
        self.num = np.zeros(capacity, dtype=np.float64)
        self.code = np.full(capacity, -1, dtype=np.int32)
        self.big: dict[int, int] = {}

    def grow(self, capacity: int) -> None:
        old = len(self.kind)
        for name, fill in (("kind", UNKNOWN), ("num", 0.0), ("code", -1)):
            arr = getattr(self, name)
            new = np.full(capacity, fill, dtype=arr.dtype)
            new[:old] = arr
            setattr(self, name, new)

    def big_among(self, positions: np.ndarray) -> np.ndarray:
        """The positions in ``positions`` whose number is an inexact big integer."""
        if not self.big:
            return positions[:0]
        return positions[np.isin(positions, np.fromiter(self.big, dtype=np.int64))]


class MetadataColumn:
    """One metadata field of every row of a buffer, and the elements of its lists.

    ``rows`` covers buffer positions ``[0, fill)``; ``elements`` holds the items of
    the rows whose value is a list (``element_row`` gives each one's position).
    Strings of both share one dictionary (``strings``; codes index it).
    """

    def __init__(self, field: str, capacity: int) -> None:
        self.field = field
        self.rows = Scalars(capacity)
        self.elements = Scalars(64)
        self.element_row = np.zeros(64, dtype=np.int64)
        self.element_fill = 0
        self.strings: list[str] = []
        self._codes: dict[str, int] = {}
        self.unknown: list[int] = []
        self.fill = 0

    def code_of(self, value: str) -> int | None:
        return self._codes.get(value)

    def _parse(self, text: str) -> Any:
        return json.loads(text).get(self.field)

    def _put(self, slots: Scalars, i: int, value: Any) -> None:
        if value is None:
            slots.kind[i] = MISSING
        elif value is True or value is False:
            slots.kind[i] = TRUE if value else FALSE
        elif isinstance(value, (int, float)):
            slots.kind[i] = NUMBER
            f = float(value)
            slots.num[i] = f
            if f != value:  # an integer beyond float64's exact range
                slots.big[i] = int(value)
        elif isinstance(value, str):
            slots.kind[i] = STRING
            code = self._codes.get(value)
            if code is None:
                code = self._codes[value] = len(self._codes)
                self.strings.append(value)
            slots.code[i] = code
        else:
            slots.kind[i] = OTHER  # null inside a list, a nested list or object

    def _add_elements(self, pos: int, items: list[Any]) -> None:
        end = self.element_fill + len(items)
        if end > len(self.element_row):
            capacity = max(end, 2 * len(self.element_row))
            self.elements.grow(capacity)
            grown = np.zeros(capacity, dtype=np.int64)
            grown[: self.element_fill] = self.element_row[: self.element_fill]
            self.element_row = grown
        for j, item in enumerate(items, self.element_fill):
            self._put(self.elements, j, item)
        self.element_row[self.element_fill:end] = pos
        self.element_fill = end

    def extend(self, cur: Any, cid: int, rids: np.ndarray, n: int, field_sql: Any) -> None:
        """Read the field for buffer positions ``[fill, n)`` (their rids are ``rids``).

        ``field_sql`` is ``filters._field("metadata", field)``: SQL reading the field's
        JSON type and value, so keys are looked up exactly as the SQL filters do.
        Floats and lists are taken from Python's parse of the row's JSON (what the
        reference sees); a row already deleted is marked UNKNOWN.
        """
        start = self.fill
        if n <= start:
            return
        low = int(rids[start - 1]) if start else -1
        rows = cur.execute(
            f"SELECT rid, {field_sql.type_sql} AS t, {field_sql.value_sql}, "
            f"CASE WHEN {field_sql.type_sql} IN ('real', 'array') THEN metadata END "
            f"FROM bruno_records WHERE cid = ? AND rid > ? AND rid <= ? ORDER BY rid",
            [field_sql.arg, field_sql.arg, field_sql.arg, cid, low, int(rids[n - 1])],
        ).fetchall()
        found = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        positions = start + np.searchsorted(rids[start:n], found)
        present = np.zeros(n - start, dtype=bool)
        present[positions - start] = True
        slots = self.rows
        kinds = np.fromiter(
            (_JSON_KINDS.get(r[1], OTHER) for r in rows), dtype=np.int8, count=len(rows)
        )
        # Integers and strings are taken in bulk; floats and lists from Python's parse
        # of the row's JSON, exactly what the reference sees; true and false by their
        # kind (json_extract reads true as 1).
        slots.kind[positions] = kinds
        numbers = np.flatnonzero(kinds == NUMBER).tolist()
        ints = [i for i in numbers if rows[i][3] is None]
        if ints:
            values = [rows[i][2] for i in ints]
            slots.num[positions[ints]] = np.array(values, dtype=np.float64)
            for i, v in zip(ints, values, strict=True):
                if not -_EXACT <= v <= _EXACT and float(v) != v:
                    slots.big[int(positions[i])] = v
        for i in numbers:
            if rows[i][3] is not None:
                self._put(slots, int(positions[i]), self._parse(rows[i][3]))
        strings = np.flatnonzero(kinds == STRING)
        if len(strings):
            codes, before = self._codes, len(self._codes)
            slots.code[positions[strings]] = [
                codes.setdefault(rows[i][2], len(codes)) for i in strings.tolist()
            ]
            self.strings.extend(list(codes)[before:])
        for i in np.flatnonzero(kinds == ARRAY).tolist():
            self._add_elements(int(positions[i]), self._parse(rows[i][3]))
        self.unknown += (start + np.flatnonzero(~present)).tolist()
        self.fill = n

    def has_unknown(self, n: int, alive: np.ndarray | None) -> bool:
        """Whether a live row among the first ``n`` was never read (see UNKNOWN)."""
        live = [p for p in self.unknown if p < n]
        return bool(live) and (alive is None or bool(alive[live].any()))


class _Buffer:
    """Append-only rows of (rid, vector, squared norm, expiry) with spare capacity,
    and the metadata columns built on them."""

    def __init__(self, dim: int, capacity: int) -> None:
        capacity = max(capacity, 64)
        self.vectors = np.empty((capacity, dim), dtype=np.float32)
        self.rids = np.empty(capacity, dtype=np.int64)
        self.sq_norms = np.empty(capacity, dtype=np.float32)
        self.expires = np.empty(capacity, dtype=np.float64)  # NaN: never
        self.expiring = False  # whether any row has an expiry
        self.fill = 0
        self.lock = threading.Lock()  # guards columns
        self.columns: dict[str, MetadataColumn] = {}

    @property
    def capacity(self) -> int:
        return len(self.rids)

    def append(self, rids: np.ndarray, vectors: np.ndarray, expires: np.ndarray) -> None:
        end = self.fill + len(rids)
        self.rids[self.fill:end] = rids
        self.vectors[self.fill:end] = vectors
        self.sq_norms[self.fill:end] = (vectors * vectors).sum(axis=1)
        self.expires[self.fill:end] = expires
        self.expiring = self.expiring or not bool(np.isnan(expires).all())
        self.fill = end

    def columns_for(
        self, cur: Any, cid: int, n: int, fields: Iterable[str], field_sql: Any
    ) -> dict[str, MetadataColumn]:
        """The columns of ``fields`` covering the first ``n`` rows (call under ``lock``)."""
        out = {}
        for name in fields:
            col = self.columns.get(name)
            if col is None:
                col = self.columns[name] = MetadataColumn(name, self.capacity)
            col.extend(cur, cid, self.rids, n, field_sql(name))
            out[name] = col
        return out


@dataclass(frozen=True)
class Snapshot:
    """A collection's vectors as of one ``version``: the first ``n`` buffer rows.

    ``alive`` is ``None`` when every row is live, else a mask over the ``n`` rows.
    """

    cid: int
    version: int
    buffer: _Buffer
    n: int
    alive: np.ndarray | None
    live: int
    max_rid: int

    @property
    def rids(self) -> np.ndarray:
        return self.buffer.rids[: self.n]

    @property
    def vectors(self) -> np.ndarray:
        return self.buffer.vectors[: self.n]

    @property
    def sq_norms(self) -> np.ndarray:
        return self.buffer.sq_norms[: self.n]

    @property
    def expires(self) -> np.ndarray:
        return self.buffer.expires[: self.n]


def _read_rows(
    cur: Any, cid: int, after: int, dim: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows = cur.execute(
        "SELECT r.rid, r.expires_at, d.vector FROM bruno_records AS r "
        "JOIN bruno_record_data AS d ON d.rid = r.rid WHERE r.cid = ? AND r.rid > ? "
        "ORDER BY r.rid",
        (cid, after),
    ).fetchall()
    rids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    expires = np.fromiter(
        (np.nan if r[1] is None else r[1] for r in rows), dtype=np.float64, count=len(rows)
    )
    return rids, matrix_from_blobs([r[2] for r in rows], dim), expires


_CHUNK = 4096  # rows read at a time into a new buffer


def _read_all(cur: Any, cid: int, dim: int) -> _Buffer:
    """A collection's rows, read in chunks straight into a buffer with spare room.

    Chunks keep the transient copies (the row blobs, their join) to a few MB, so
    the process grows by the buffer, not by two more copies of the vectors.
    """
    count = cur.execute("SELECT count(*) FROM bruno_records WHERE cid = ?", (cid,)).fetchone()[0]
    buf = _Buffer(dim, count + count // 4)
    rows = cur.execute(
        "SELECT r.rid, r.expires_at, d.vector FROM bruno_records AS r "
        "JOIN bruno_record_data AS d ON d.rid = r.rid WHERE r.cid = ? ORDER BY r.rid",
        (cid,),
    )
    while chunk := rows.fetchmany(_CHUNK):
        rids = np.fromiter((r[0] for r in chunk), dtype=np.int64, count=len(chunk))
        expires = np.fromiter(
            (np.nan if r[1] is None else r[1] for r in chunk), dtype=np.float64, count=len(chunk)
        )
        buf.append(rids, matrix_from_blobs([r[2] for r in chunk], dim), expires)
    return buf


class VectorCache:
    """Per-collection vector snapshots for one backend, shared by its threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, Snapshot] = {}

    def forget(self, name: str) -> None:
        with self._lock:
            self._entries.pop(name, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def snapshot(self, cur: Any, name: str, cid: int, version: int, dim: int) -> Snapshot | None:
        """The collection's vectors as seen by ``cur``'s read transaction.

        Returns ``None`` when the transaction sees an older version than the cache
        holds (another thread raced ahead); the caller then reads without the cache.
        """
        with self._lock:
            old = self._entries.get(name)
            if old is not None and old.cid == cid:
                if old.version == version:
                    return old
                if old.version > version:
                    return None
                if old.buffer.fill == old.n:
                    snap = self._refresh(cur, old, version, dim)
                    self._entries[name] = snap
                    return snap
            buf = _read_all(cur, cid, dim)
            snap = Snapshot(cid, version, buf, buf.fill, None, buf.fill,
                            int(buf.rids[buf.fill - 1]) if buf.fill else -1)
            self._entries[name] = snap
            return snap

    def _refresh(self, cur: Any, old: Snapshot, version: int, dim: int) -> Snapshot:
        alive = old.alive
        still = cur.execute(
            "SELECT count(*) FROM bruno_records WHERE cid = ? AND rid <= ?", (old.cid, old.max_rid)
        ).fetchone()[0]
        if still != old.live:
            present = np.fromiter(
                (
                    r[0]
                    for r in cur.execute(
                        "SELECT rid FROM bruno_records WHERE cid = ? AND rid <= ?",
                        (old.cid, old.max_rid),
                    )
                ),
                dtype=np.int64,
            )
            alive = np.isin(old.rids, present, assume_unique=True)
        new_rids, new_vectors, new_expires = _read_rows(cur, old.cid, old.max_rid, dim)
        buf, n = old.buffer, old.n
        live = (int(alive.sum()) if alive is not None else n) + len(new_rids)
        dead = n + len(new_rids) - live
        if dead * 4 > n + len(new_rids) or n + len(new_rids) > buf.capacity:
            # Compact into a new, larger buffer (old snapshots keep the old one).
            keep = np.arange(n) if alive is None else np.flatnonzero(alive)
            total = len(keep) + len(new_rids)
            fresh = _Buffer(dim, total + total // 2)
            fresh.append(buf.rids[keep], buf.vectors[keep], buf.expires[keep])
            fresh.append(new_rids, new_vectors, new_expires)
            return Snapshot(old.cid, version, fresh, total, None, total,
                            max(old.max_rid, int(new_rids[-1]) if len(new_rids) else -1))
        buf.append(new_rids, new_vectors, new_expires)
        if alive is not None:
            alive = np.concatenate([alive, np.ones(len(new_rids), dtype=bool)])
            if alive.all():
                alive = None
        max_rid = int(new_rids[-1]) if len(new_rids) else old.max_rid
        return Snapshot(old.cid, version, buf, buf.fill, alive, live, max_rid)
