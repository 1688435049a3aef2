"""Exact k-nearest-neighbour search over the float32 vectors stored in SQLite.

Both engines score only the rows that match the metadata filter, and both return
*candidates*: every row whose approximate distance
could place it in the top ``k`` (ties and float32 rounding included), with its
distance recomputed in float64. The backend then orders candidates by
``(distance, id)`` and keeps ``k``, which is exactly the reference order.

* :class:`NumpyKnn` scores the vectors with numpy; with ``cache=True`` it keeps
  each collection's matrix in memory, refreshed by what changed (``cache.py``), and
  evaluates the filter on metadata columns cached beside it (``filters.to_mask``);
  without the cache (or when a snapshot cannot answer) the filter runs in SQL.
* :class:`SqliteVecKnn` scores rows inside SQLite with the ``sqlite-vec``
  extension's distance functions (no copy of the vectors in Python).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ...filters import FilterNode, fields_of
from .cache import Snapshot, VectorCache, matrix_from_blobs
from .filters import field_sql, to_mask

__all__ = [
    "CollectionRow", "NumpyKnn", "SearchFilter", "SqliteVecKnn", "exact_distances", "to_blob",
]

# Rows whose float32 approximate key is within this fraction of the data's scale
# of the k-th key are re-scored exactly; float32 dot products err by ~1e-6 of it.
_REL_TOL = 2e-5


@dataclass(frozen=True)
class CollectionRow:
    """What search needs to know about a collection, read in the search's snapshot."""

    cid: int
    name: str
    dimension: int
    metric: str
    version: int


@dataclass(frozen=True)
class SearchFilter:
    """Which rows a search may return: the parsed filter, and the same as SQL on
    ``r`` (already narrowed to unexpired rows when the collection has expired ones)."""

    node: FilterNode | None
    sql: str
    params: list[Any]
    now: float  # expiry is judged against this time


def to_blob(vector: Any) -> bytes:
    """A vector as stored: little-endian float32 bytes."""
    return np.asarray(vector, dtype="<f4").tobytes()


def exact_distances(metric: str, vectors: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Canonical distances (see ``scores.py``) in float64, the reference's formulas."""
    v = vectors.astype(np.float64)
    q = query.astype(np.float64)
    if metric == "euclidean":
        return np.sqrt(((v - q) ** 2).sum(axis=1))
    # Not `v @ q`: BLAS may sum rows in different orders, and equal vectors must get
    # bit-equal distances so that ties break by id as in the reference.
    dots = (v * q).sum(axis=1)
    if metric == "dot":
        return -dots
    norms = np.sqrt((v * v).sum(axis=1))
    qn = float(np.sqrt(q @ q))
    denom = norms * qn
    out = np.ones(len(v), dtype=np.float64)  # the reference's distance for a zero vector
    ok = denom > 0
    out[ok] = 1.0 - dots[ok] / denom[ok]
    return out


_BLOCK = 1024


def _matvec(vectors: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``vectors @ q`` in blocks of rows small enough for BLAS to stay single-threaded.

    On a machine whose cores are busy, BLAS worker threads of one large product
    were measured stalling for 20-160 ms; blocks kept every call under ~10 ms at
    50 000 x 384, for a product that is memory-bound anyway.
    """
    out = np.empty(len(vectors), dtype=np.float32)
    for start in range(0, len(vectors), _BLOCK):
        np.dot(vectors[start:start + _BLOCK], q, out=out[start:start + _BLOCK])
    return out


def _approx_keys(
    metric: str, vectors: np.ndarray, sq_norms: np.ndarray, query: np.ndarray
) -> tuple[np.ndarray, float]:
    """Float32 ranking keys (smaller is nearer) and the tolerance to apply to them."""
    q = query.astype(np.float32)
    dots = _matvec(np.ascontiguousarray(vectors, dtype=np.float32), q)
    qq = float(q @ q)
    vmax = float(sq_norms.max()) if len(sq_norms) else 0.0
    if metric == "euclidean":
        return sq_norms - 2.0 * dots, _REL_TOL * (qq + vmax) + 1e-30
    if metric == "dot":
        return -dots, _REL_TOL * float(np.sqrt(qq * vmax)) + 1e-30
    norms = np.sqrt(sq_norms) * np.float32(np.sqrt(qq))
    with np.errstate(divide="ignore", invalid="ignore"):
        keys = np.where(norms > 0, -dots / norms, np.float32(0.0))
    return keys, _REL_TOL


def _select(keys: np.ndarray, k: int, tol: float) -> np.ndarray:
    """Indices of every key that might be among the ``k`` smallest."""
    if len(keys) <= k:
        return np.arange(len(keys))
    kth = np.partition(keys, k - 1)[k - 1]
    return np.flatnonzero(keys <= kth + tol)


class NumpyKnn:
    """Brute-force k-NN in numpy over vectors read from SQLite.

    Args:
        cache: Keep each searched collection's vectors in memory (about
            ``4 * dimension`` bytes per record), refreshed on change (``cache.py``).
    """

    name = "numpy"

    def __init__(self, cache: bool = True) -> None:
        self.cache = VectorCache() if cache else None

    def forget(self, name: str) -> None:
        """Drop the cached vectors of a collection."""
        if self.cache is not None:
            self.cache.forget(name)

    def clear(self) -> None:
        if self.cache is not None:
            self.cache.clear()

    def candidates(
        self, cur: Any, coll: CollectionRow, query: np.ndarray, k: int, where: SearchFilter
    ) -> tuple[np.ndarray, np.ndarray]:
        """Rids that may be among the ``k`` nearest matching rows, and their exact distances."""
        snap = None
        if self.cache is not None:
            snap = self.cache.snapshot(cur, coll.name, coll.cid, coll.version, coll.dimension)
        if snap is None:
            rows = cur.execute(
                f"SELECT r.rid, d.vector FROM bruno_records AS r JOIN bruno_record_data AS d "
                f"ON d.rid = r.rid WHERE r.cid = ? AND {where.sql} ORDER BY r.rid",
                [coll.cid, *where.params],
            ).fetchall()
            rids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            vectors = matrix_from_blobs([r[1] for r in rows], coll.dimension)
            return _best(coll.metric, rids, vectors, (vectors * vectors).sum(axis=1), query, k)
        rids, vectors, sq = snap.rids, snap.vectors, snap.sq_norms
        mask = _matching(cur, snap, where)
        if mask is None:
            if snap.alive is None:
                return _best(coll.metric, rids, vectors, sq, query, k)
            pos = np.flatnonzero(snap.alive)
        elif isinstance(mask, np.ndarray):
            pos = np.flatnonzero(mask)
        else:  # the columns cannot answer for this snapshot: ask SQL
            wanted = np.fromiter(
                (r[0] for r in cur.execute(
                    f"SELECT r.rid FROM bruno_records AS r WHERE r.cid = ? AND {where.sql} "
                    f"ORDER BY r.rid",
                    [coll.cid, *where.params],
                )),
                dtype=np.int64,
            )
            pos = np.searchsorted(rids, wanted)
        if len(pos) * 4 < len(rids):  # few rows: score just them
            return _best(coll.metric, rids[pos], vectors[pos], sq[pos], query, k)
        # Many rows: one product over the whole matrix is cheaper than copying rows out.
        keys, tol = _approx_keys(coll.metric, vectors, sq, query)
        chosen = pos[_select(keys[pos], k, tol)]
        return rids[chosen], exact_distances(coll.metric, vectors[chosen], query)


def _matching(cur: Any, snap: Snapshot, where: SearchFilter) -> np.ndarray | bool | None:
    """The snapshot's rows a search may return, as a mask over its ``n`` rows;
    ``None`` when that is every row, ``False`` when the cached columns cannot say
    (a live row of this snapshot was deleted before its field was read)."""
    buf, n = snap.buffer, snap.n
    mask = None
    if where.node is not None:
        with buf.lock:
            columns = buf.columns_for(cur, snap.cid, n, sorted(fields_of(where.node)), field_sql)
            if any(c.has_unknown(n, snap.alive) for c in columns.values()):
                return False
            mask = to_mask(where.node, columns, n)
    if buf.expiring:
        live = ~(snap.expires <= where.now)  # NaN (never expires) compares False
        mask = live if mask is None else np.logical_and(mask, live, out=mask)
    if snap.alive is not None and mask is not None:
        mask &= snap.alive
    return mask


def _best(
    metric: str, rids: np.ndarray, vectors: np.ndarray, sq: np.ndarray, query: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    if len(rids) == 0:
        return rids, np.empty(0)
    keys, tol = _approx_keys(metric, vectors, sq, query)
    chosen = _select(keys, k, tol)
    return rids[chosen], exact_distances(metric, vectors[chosen], query)


class SqliteVecKnn:
    """Brute-force k-NN inside SQLite with the sqlite-vec distance functions.

    sqlite-vec has no dot-product distance: the ``dot`` metric is delegated to
    ``fallback`` (a :class:`NumpyKnn`).
    """

    name = "sqlite-vec"
    _FUNCTIONS: ClassVar[dict[str, str]] = {
        "cosine": "vec_distance_cosine", "euclidean": "vec_distance_l2",
    }

    def __init__(self, fallback: NumpyKnn) -> None:
        self.fallback = fallback

    def forget(self, name: str) -> None:
        self.fallback.forget(name)

    def clear(self) -> None:
        self.fallback.clear()

    def candidates(
        self, cur: Any, coll: CollectionRow, query: np.ndarray, k: int, where: SearchFilter
    ) -> tuple[np.ndarray, np.ndarray]:
        fn = self._FUNCTIONS.get(coll.metric)
        if fn is None:
            return self.fallback.candidates(cur, coll, query, k, where)
        where_sql, where_params = where.sql, where.params
        # A zero vector has no cosine: sqlite-vec gives NULL, the reference 1.0.
        dist = f"IFNULL({fn}(d.vector, ?), 1.0)"
        base = (
            f"SELECT r.rid, {dist} AS dist FROM bruno_records AS r JOIN bruno_record_data AS d "
            f"ON d.rid = r.rid WHERE r.cid = ? AND {where_sql}"
        )
        blob = to_blob(query)
        params = [blob, coll.cid, *where_params]
        limit = k + 16
        rows = cur.execute(f"{base} ORDER BY dist LIMIT ?", [*params, limit]).fetchall()
        if len(rows) == limit:
            # float32 near-ties may continue past the limit: take every row close to the k-th.
            kth = float(rows[k - 1][1])
            scale = 2.0 if coll.metric == "cosine" else kth + float(np.linalg.norm(query)) + 1.0
            bound = kth + _REL_TOL * 10 * scale
            rows = cur.execute(f"{base} AND {dist} <= ?", [*params, blob, bound]).fetchall()
        rids = [r[0] for r in rows]
        blobs = dict(
            cur.execute(
                "SELECT rid, vector FROM bruno_record_data "
                "WHERE rid IN (SELECT value FROM json_each(?))",
                (json.dumps(rids),),
            ).fetchall()
        )
        vectors = matrix_from_blobs([blobs[r] for r in rids], coll.dimension)
        return np.asarray(rids, dtype=np.int64), exact_distances(coll.metric, vectors, query)
