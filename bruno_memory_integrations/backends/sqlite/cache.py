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
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Snapshot", "VectorCache", "matrix_from_blobs"]


def matrix_from_blobs(blobs: list[bytes], dim: int) -> np.ndarray:
    """Stack float32 vector blobs into an ``(n, dim)`` array."""
    if not blobs:
        return np.empty((0, dim), dtype=np.float32)
    return np.frombuffer(b"".join(blobs), dtype="<f4").reshape(len(blobs), dim)


class _Buffer:
    """Append-only rows of (rid, vector, squared norm) with spare capacity."""

    def __init__(self, dim: int, capacity: int) -> None:
        capacity = max(capacity, 64)
        self.vectors = np.empty((capacity, dim), dtype=np.float32)
        self.rids = np.empty(capacity, dtype=np.int64)
        self.sq_norms = np.empty(capacity, dtype=np.float32)
        self.fill = 0

    @property
    def capacity(self) -> int:
        return len(self.rids)

    def append(self, rids: np.ndarray, vectors: np.ndarray) -> None:
        end = self.fill + len(rids)
        self.rids[self.fill:end] = rids
        self.vectors[self.fill:end] = vectors
        self.sq_norms[self.fill:end] = (vectors * vectors).sum(axis=1)
        self.fill = end


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


def _read_rows(cur: Any, cid: int, after: int, dim: int) -> tuple[np.ndarray, np.ndarray]:
    rows = cur.execute(
        "SELECT r.rid, d.vector FROM bruno_records AS r JOIN bruno_record_data AS d "
        "ON d.rid = r.rid WHERE r.cid = ? AND r.rid > ? ORDER BY r.rid",
        (cid, after),
    ).fetchall()
    rids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    return rids, matrix_from_blobs([r[1] for r in rows], dim)


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
            rids, vectors = _read_rows(cur, cid, -1, dim)
            buf = _Buffer(dim, len(rids) + len(rids) // 4)
            buf.append(rids, vectors)
            snap = Snapshot(cid, version, buf, len(rids), None, len(rids),
                            int(rids[-1]) if len(rids) else -1)
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
        new_rids, new_vectors = _read_rows(cur, old.cid, old.max_rid, dim)
        buf, n = old.buffer, old.n
        live = (int(alive.sum()) if alive is not None else n) + len(new_rids)
        dead = n + len(new_rids) - live
        if dead * 4 > n + len(new_rids) or n + len(new_rids) > buf.capacity:
            # Compact into a new, larger buffer (old snapshots keep the old one).
            keep = np.arange(n) if alive is None else np.flatnonzero(alive)
            total = len(keep) + len(new_rids)
            fresh = _Buffer(dim, total + total // 2)
            fresh.append(buf.rids[keep], buf.vectors[keep])
            fresh.append(new_rids, new_vectors)
            return Snapshot(old.cid, version, fresh, total, None, total,
                            max(old.max_rid, int(new_rids[-1]) if len(new_rids) else -1))
        buf.append(new_rids, new_vectors)
        if alive is not None:
            alive = np.concatenate([alive, np.ones(len(new_rids), dtype=bool)])
            if alive.all():
                alive = None
        max_rid = int(new_rids[-1]) if len(new_rids) else old.max_rid
        return Snapshot(old.cid, version, buf, buf.fill, alive, live, max_rid)
