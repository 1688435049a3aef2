"""`Store`: the one public face of every backend.

The store checks input (so bad input never reaches a backend and stored data is
unchanged), keeps each collection's dimension / metric / embedding model
honest, turns distances into the one score rule, fuses hybrid search, and gives
every operation a sync and an async form. Backends only store and fetch.

Each public operation is written once, as a *flow* (``_get``, ``_search``, …): a
generator that checks its input and yields the backend calls it needs (see
:mod:`.sansio`). ``get`` drives the flow with the backend's blocking client and
``aget`` awaits it on the async one, so the two forms cannot drift apart.
"""

from __future__ import annotations

import functools
import itertools
import logging
import time
from collections.abc import (
    AsyncIterator,
    Callable,
    Generator,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from typing import Any, TypeVar

from .backend import Backend, Hit
from .capabilities import Capabilities
from .errors import (
    CollectionMismatchError,
    DimensionMismatchError,
    InvalidInputError,
    NotSupportedError,
    StoreClosedError,
)
from .filters import FilterNode, evaluate, parse_filter
from .logs import log_elapsed, logger_for
from .sansio import Offload, adrive, drive
from .scores import canonical_metric, distance, scorer
from .types import CollectionInfo, Message, Page, Record, SearchResult
from .validation import (
    check_cursor,
    check_id,
    check_ids,
    check_name,
    check_prefix,
    check_records,
    check_vector,
)

__all__ = ["DEFAULT_NAMESPACE", "Store"]

T = TypeVar("T")
Flow = Generator[Any, Any, T]
"""A Store operation: yields backend calls (``functools.partial`` of a backend
operation) or :class:`~.sansio.Offload` steps, returns the result."""

DEFAULT_NAMESPACE = "default"
#: Async upserts larger than this are checked in a worker thread, not on the loop.
_CHECK_INLINE_MAX = 256
FilterLike = Mapping[str, Any] | FilterNode | None


#: Distances closer than this are one distance (engines compute in float32, whose
#: rounding moves equal distances by ~1e-7 from call to call): ties go by id.
TIE_DISTANCE = 1e-6


def _tie_key(distance: float) -> int:
    return round(distance / TIE_DISTANCE)


def _logger_of(backend: Backend) -> logging.Logger:
    """``bruno_memory_integrations.backends.<folder>``: where a backend's package logs."""
    return logger_for(backend)


#: Key-value collection names a Store remembers as checked (see ``_prepare_kv``).
_KV_NAMES_KEPT = 4096


def _op_name(call: Any) -> str:
    """The backend operation a call runs (``functools.partial`` of a backend method)."""
    target = call.func if isinstance(call, functools.partial) else call
    return str(getattr(target, "__name__", "operation"))


def _check_k(k: Any, what: str = "k") -> int:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise InvalidInputError(f"{what} must be a positive integer, got {k!r}")
    return k


def _check_ttl(ttl: Any) -> float | None:
    if ttl is None:
        return None
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not ttl > 0:
        raise InvalidInputError(f"ttl must be a positive number of seconds, got {ttl!r}")
    return float(ttl)


def _check_message(m: Any) -> Message:
    if not isinstance(m, Mapping):
        raise InvalidInputError(
            f"a chat message must be a JSON object (dict), got {type(m).__name__}"
        )
    from .validation import check_metadata

    return check_metadata(m, nested=True)


def _check_items(
    items: Mapping[str, bytes] | Sequence[tuple[str, bytes]],
) -> list[tuple[str, bytes]]:
    pairs = list(items.items()) if isinstance(items, Mapping) else list(items)
    out: dict[str, bytes] = {}
    for pair in pairs:
        if not isinstance(pair, tuple) or len(pair) != 2:
            raise InvalidInputError(f"key-value items are (key, bytes) pairs, got {pair!r}")
        key, value = pair
        check_id(key, "key")
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise InvalidInputError(
                f"values are bytes, got {type(value).__name__} for key {key!r}; encode it first"
            )
        out.pop(key, None)
        out[key] = bytes(value)
    return list(out.items())


class Store:
    """Vector records, chat messages and key-value items in one backend.

    Args:
        backend: The backend instance (usually made by :func:`open_store`).
        default_metric: Metric of collections created implicitly by the first write.
        default_ttl: Seconds after which writes expire, for backends with TTL.

    Use :func:`bruno_memory_integrations.open_store` to get one from a URL.
    """

    def __init__(
        self,
        backend: Backend,
        *,
        default_metric: str = "cosine",
        default_ttl: float | None = None,
    ) -> None:
        self.backend = backend
        self.default_metric = canonical_metric(default_metric)
        self.default_ttl = _check_ttl(default_ttl)
        if self.default_ttl is not None and not backend.capabilities.ttl:
            raise NotSupportedError(backend.name, "TTL (expiry)", "leave default_ttl unset")
        self._infos: dict[str, CollectionInfo] = {}
        self._kv_names: set[str] = set()
        self._closed = False
        # Every backend call is timed here (DEBUG; WARNING when slow): one place
        # gives every backend the same operation logging.
        self._log = _logger_of(backend)

    @classmethod
    def from_url(cls, url: str, **options: Any) -> Store:
        """Open a store from a URL; see :func:`bruno_memory_integrations.open_store`."""
        from .registry import open_store

        return open_store(url, **options)

    # ------------------------------------------------------------------ running flows
    def _backend_call(self, method: Callable[..., Any], *args: Any) -> Callable[[], Any]:
        return functools.partial(method, *args)

    # Every backend call is timed and logged as log_slow does, written out: this runs
    # on every call, where a context manager object costs more than a small read.
    def _step(self, step: Any) -> Any:
        backend = self._open()
        started = time.perf_counter()
        try:
            result = backend.run(step)
        except BaseException:
            log_elapsed(self._log, lambda: _op_name(step), time.perf_counter() - started, True)
            raise
        log_elapsed(self._log, lambda: _op_name(step), time.perf_counter() - started)
        return result

    async def _astep(self, step: Any) -> Any:
        backend = self._open()
        started = time.perf_counter()
        try:
            result = await backend.arun(step)
        except BaseException:
            log_elapsed(self._log, lambda: _op_name(step), time.perf_counter() - started, True)
            raise
        log_elapsed(self._log, lambda: _op_name(step), time.perf_counter() - started)
        return result

    def _sync(self, flow: Flow[T]) -> T:
        return drive(flow, self._step)

    async def _async(self, flow: Flow[T]) -> T:
        return await adrive(flow, self._astep)

    # ------------------------------------------------------------------ basics
    @property
    def capabilities(self) -> Capabilities:
        return self.backend.capabilities

    @property
    def backend_name(self) -> str:
        return self.backend.name

    def __repr__(self) -> str:
        return f"Store({self.backend!r})"

    def _open(self) -> Backend:
        if self._closed:
            raise StoreClosedError("this store is closed; open a new one with open_store(url)")
        return self.backend

    def close(self) -> None:
        """Close the store and its connections. Later calls raise StoreClosedError."""
        if not self._closed:
            self._closed = True
            self.backend.close()

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            await self.backend.aclose()

    def __enter__(self) -> Store:  # noqa: PYI034 (Self needs Python 3.11)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Store:  # noqa: PYI034 (Self needs Python 3.11)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    @property
    def closed(self) -> bool:
        return self._closed

    def _ttl(self, ttl: Any) -> float | None:
        ttl = _check_ttl(ttl)
        if ttl is None:
            return self.default_ttl
        if not self.capabilities.ttl:
            raise NotSupportedError(self.backend_name, "TTL (expiry)", "call without ttl=")
        return ttl

    def tenant(self, name: str) -> Store:
        """A view of this store that holds only tenant ``name``'s data.

        Every collection, key-value collection and chat namespace the view is given
        lives in the tenant's own space (see :mod:`.tenants`), so nothing done
        through it can see, count or change another tenant's data; listings show
        the tenant's names only. The view shares this store's connections:
        closing it leaves this store open. Every adapter takes ``tenant=`` and
        calls this.

        Raises:
            InvalidNameError: ``name`` is not a valid name or contains ``\\x1f``.
        """
        return self._tenant_view(name, owns=False)

    def _tenant_view(self, name: str, *, owns: bool) -> Store:
        from .tenants import TenantBackend

        view = Store(
            TenantBackend(self._open(), name, owns=owns),
            default_metric=self.default_metric,
            default_ttl=self.default_ttl,
        )
        view._log = self._log
        return view

    def _purge(self) -> Flow[int]:
        return int((yield self._backend_call(self.backend.purge_expired)))

    def purge_expired(self) -> int:
        """Delete everything whose TTL has passed, now; returns how many rows went.

        Expired data is never returned by any read whether or not this runs; the
        stores that keep expiry times in rows (SQLite, PostgreSQL) also clean up
        as they write. Call it from a periodic job to free space on a store that
        is mostly read. Stores that expire data themselves (Redis) return 0.
        """
        return self._sync(self._purge())

    async def apurge_expired(self) -> int:
        return await self._async(self._purge())

    # ------------------------------------------------------------------ collections
    def _new_info(
        self, name: str, dimension: int, metric: str | None, model: str | None
    ) -> CollectionInfo:
        metric = canonical_metric(metric or self.default_metric)
        if metric not in self.capabilities.metrics:
            raise NotSupportedError(self.backend_name, f"the {metric} metric")
        if isinstance(dimension, bool) or not isinstance(dimension, int) or dimension < 1:
            raise InvalidInputError(f"dimension must be a positive integer, got {dimension!r}")
        return CollectionInfo(name, dimension, metric, model)

    @staticmethod
    def _check_match(
        info: CollectionInfo, dimension: int | None, metric: str | None, model: str | None
    ) -> None:
        if dimension is not None and dimension != info.dimension:
            raise DimensionMismatchError(info.name, info.dimension, dimension)
        if metric is not None and canonical_metric(metric) != info.metric:
            raise CollectionMismatchError(
                f"collection {info.name!r} uses the {info.metric} metric, not {metric}; "
                f"use another collection name to index with another metric"
            )
        if model is not None and info.embedding_model is not None and model != info.embedding_model:
            raise CollectionMismatchError(
                f"collection {info.name!r} was built with embedding model "
                f"{info.embedding_model!r}, not {model!r}; mixing models gives meaningless "
                f"results: use the same model or another collection"
            )

    def _info(self, name: str) -> Flow[CollectionInfo | None]:
        """A collection's info, from the cache or the backend (the name is checked)."""
        check_name(name)
        info = self._infos.get(name)
        if info is None:
            info = yield self._backend_call(self.backend.get_collection, name)
            if info is not None:
                self._infos[name] = info
        return info

    def collection_info(self, name: str) -> CollectionInfo | None:
        """What a collection was created with, or ``None`` if it does not exist."""
        return self._sync(self._info(name))

    async def acollection_info(self, name: str) -> CollectionInfo | None:
        return await self._async(self._info(name))

    def _ensure(
        self, name: str, dimension: int, metric: str | None, model: str | None
    ) -> Flow[CollectionInfo]:
        info = yield from self._info(name)
        if info is None:
            new = self._new_info(name, dimension, metric, model)
            yield self._backend_call(self.backend.create_collection, new)
            self._infos.pop(name, None)
            info = (yield from self._info(name)) or new
        self._check_match(info, dimension, metric, model)
        return info

    def ensure_collection(
        self,
        name: str,
        dimension: int,
        metric: str | None = None,
        embedding_model: str | None = None,
    ) -> CollectionInfo:
        """Create a collection, or check that the existing one matches.

        Raises:
            DimensionMismatchError: it exists with another dimension.
            CollectionMismatchError: it exists with another metric or embedding model.
        """
        return self._sync(self._ensure(name, dimension, metric, embedding_model))

    async def aensure_collection(
        self,
        name: str,
        dimension: int,
        metric: str | None = None,
        embedding_model: str | None = None,
    ) -> CollectionInfo:
        return await self._async(self._ensure(name, dimension, metric, embedding_model))

    def _list_collections(self) -> Flow[list[str]]:
        return (yield self._backend_call(self.backend.list_collections))

    def list_collections(self) -> list[str]:
        """Names of the vector collections, sorted."""
        return self._sync(self._list_collections())

    async def alist_collections(self) -> list[str]:
        return await self._async(self._list_collections())

    def _drop(self, name: str) -> Flow[None]:
        check_name(name)
        yield self._backend_call(self.backend.drop_collection, name)
        self._infos.pop(name, None)

    def drop_collection(self, name: str) -> None:
        """Delete a collection with all its records."""
        self._sync(self._drop(name))

    async def adrop_collection(self, name: str) -> None:
        await self._async(self._drop(name))

    # ------------------------------------------------------------------ records
    def _upsert(
        self,
        collection: str,
        records: Sequence[Record],
        embedding_model: str | None,
        metric: str | None,
        ttl: float | None,
    ) -> Flow[list[str]]:
        check_name(collection)
        info = yield from self._info(collection)
        if isinstance(records, Record):
            records = [records]
        dim = info.dimension if info is not None else None
        nested = self.capabilities.nested_metadata

        def check() -> list[Record]:
            return check_records(records, nested, collection, dim)

        if isinstance(records, Sequence) and len(records) > _CHECK_INLINE_MAX:
            # Checking thousands of vectors takes long enough to stall an event loop.
            batch = yield Offload(check)
        else:
            batch = check()
        ttl = self._ttl(ttl)
        if not batch:
            return []
        yield from self._ensure(collection, len(batch[0].vector or ()), metric, embedding_model)
        yield self._backend_call(self.backend.upsert, collection, batch, ttl)
        return [r.id for r in batch]

    def upsert(
        self,
        collection: str,
        records: Sequence[Record],
        *,
        embedding_model: str | None = None,
        metric: str | None = None,
        ttl: float | None = None,
    ) -> list[str]:
        """Insert or replace records by id; the collection is created on first write.

        Returns:
            The ids written, in order (a repeated id is written once, last one wins).
        """
        return self._sync(self._upsert(collection, records, embedding_model, metric, ttl))

    async def aupsert(
        self,
        collection: str,
        records: Sequence[Record],
        *,
        embedding_model: str | None = None,
        metric: str | None = None,
        ttl: float | None = None,
    ) -> list[str]:
        return await self._async(self._upsert(collection, records, embedding_model, metric, ttl))

    def _upsert_stream(
        self,
        collection: str,
        records: Iterable[Record],
        batch_size: int,
        embedding_model: str | None,
        metric: str | None,
        ttl: float | None,
    ) -> Flow[int]:
        size = _check_k(batch_size, "batch_size")
        pages = iter(records)
        written = 0
        # Only one page is held at a time, so memory stays flat whatever the stream's length.
        while page := list(itertools.islice(pages, size)):
            ids = yield from self._upsert(collection, page, embedding_model, metric, ttl)
            written += len(ids)
        return written

    def upsert_stream(
        self,
        collection: str,
        records: Iterable[Record],
        *,
        batch_size: int = 1000,
        embedding_model: str | None = None,
        metric: str | None = None,
        ttl: float | None = None,
    ) -> int:
        """Upsert records from any iterable (a generator, a file reader) page by page.

        Holds at most ``batch_size`` records at a time, so a stream of millions of
        records loads in flat memory. Each page is one :meth:`upsert`: a page with
        bad input raises before it is written, and the pages before it stay written.

        Returns:
            The number of records written (a repeated id within a page counts once).
        """
        return self._sync(
            self._upsert_stream(collection, records, batch_size, embedding_model, metric, ttl)
        )

    async def aupsert_stream(
        self,
        collection: str,
        records: Iterable[Record],
        *,
        batch_size: int = 1000,
        embedding_model: str | None = None,
        metric: str | None = None,
        ttl: float | None = None,
    ) -> int:
        return await self._async(
            self._upsert_stream(collection, records, batch_size, embedding_model, metric, ttl)
        )

    @staticmethod
    def _order(ids: list[str], records: list[Record]) -> list[Record]:
        by_id = {r.id: r for r in records}
        return [by_id[i] for i in dict.fromkeys(ids) if i in by_id]

    def _get(
        self, collection: str, ids: Sequence[str], include_vectors: bool
    ) -> Flow[list[Record]]:
        check_name(collection)
        wanted = check_ids(ids)
        if not wanted or (yield from self._info(collection)) is None:
            return []
        found = yield self._backend_call(self.backend.get, collection, wanted, include_vectors)
        return self._order(wanted, found)

    def get(
        self, collection: str, ids: Sequence[str], *, include_vectors: bool = True
    ) -> list[Record]:
        """Records with these ids, in the order asked; missing ids are left out."""
        return self._sync(self._get(collection, ids, include_vectors))

    async def aget(
        self, collection: str, ids: Sequence[str], *, include_vectors: bool = True
    ) -> list[Record]:
        return await self._async(self._get(collection, ids, include_vectors))

    def _delete(
        self, collection: str, ids: Sequence[str] | None, filter: FilterLike
    ) -> Flow[int]:
        check_name(collection)
        if (ids is None) == (filter is None):
            raise InvalidInputError(
                "delete takes ids or a filter (exactly one); pass filter={} to delete everything"
            )
        wanted = list(dict.fromkeys(check_ids(ids))) if ids is not None else None
        where = parse_filter(filter) if ids is None else None
        if (yield from self._info(collection)) is None or wanted == []:
            return 0
        if wanted is not None:
            return (yield self._backend_call(self.backend.delete, collection, wanted))
        return (yield self._backend_call(self.backend.delete_where, collection, where))

    def delete(
        self, collection: str, ids: Sequence[str] | None = None, *, filter: FilterLike = None
    ) -> int:
        """Delete by ids, or every record matching ``filter`` (``{}`` = all). Returns the count."""
        return self._sync(self._delete(collection, ids, filter))

    async def adelete(
        self, collection: str, ids: Sequence[str] | None = None, *, filter: FilterLike = None
    ) -> int:
        return await self._async(self._delete(collection, ids, filter))

    def _count(self, collection: str, filter: FilterLike) -> Flow[int]:
        check_name(collection)
        where = parse_filter(filter)
        if (yield from self._info(collection)) is None:
            return 0
        return (yield self._backend_call(self.backend.count, collection, where))

    def count(self, collection: str, *, filter: FilterLike = None) -> int:
        """How many records match ``filter`` (all when ``None``)."""
        return self._sync(self._count(collection, filter))

    async def acount(self, collection: str, *, filter: FilterLike = None) -> int:
        return await self._async(self._count(collection, filter))

    def _scan(
        self,
        collection: str,
        filter: FilterLike,
        limit: int,
        cursor: str | None,
        include_vectors: bool,
    ) -> Flow[Page]:
        check_name(collection)
        where = parse_filter(filter)
        _check_k(limit, "limit")
        check_cursor(cursor)
        if (yield from self._info(collection)) is None:
            return Page([], None)
        return (
            yield self._backend_call(
                self.backend.scan, collection, where, limit, cursor, include_vectors
            )
        )

    def scan(
        self,
        collection: str,
        *,
        filter: FilterLike = None,
        limit: int = 100,
        cursor: str | None = None,
        include_vectors: bool = False,
    ) -> Page:
        """One page of records matching ``filter``; see :meth:`iter_records` for all."""
        return self._sync(self._scan(collection, filter, limit, cursor, include_vectors))

    async def ascan(
        self,
        collection: str,
        *,
        filter: FilterLike = None,
        limit: int = 100,
        cursor: str | None = None,
        include_vectors: bool = False,
    ) -> Page:
        return await self._async(self._scan(collection, filter, limit, cursor, include_vectors))

    def iter_records(
        self,
        collection: str,
        *,
        filter: FilterLike = None,
        batch_size: int = 500,
        include_vectors: bool = True,
    ) -> Iterator[Record]:
        """Every record matching ``filter``, page by page (for export and migration)."""
        cursor: str | None = None
        while True:
            page = self.scan(
                collection, filter=filter, limit=batch_size, cursor=cursor,
                include_vectors=include_vectors,
            )
            yield from page.records
            if page.cursor is None:
                return
            cursor = page.cursor

    async def aiter_records(
        self,
        collection: str,
        *,
        filter: FilterLike = None,
        batch_size: int = 500,
        include_vectors: bool = True,
    ) -> AsyncIterator[Record]:
        cursor: str | None = None
        while True:
            page = await self.ascan(
                collection, filter=filter, limit=batch_size, cursor=cursor,
                include_vectors=include_vectors,
            )
            for rec in page.records:
                yield rec
            if page.cursor is None:
                return
            cursor = page.cursor

    # ------------------------------------------------------------------ search
    @staticmethod
    def _rank_fetched(
        info: CollectionInfo,
        records: list[Record],
        vec: list[float],
        k: int,
        where: FilterNode | None,
        include_vectors: bool,
    ) -> list[Hit]:
        """Search restricted to ids: rank the fetched records as a backend would."""
        hits = [
            (r, distance(info.metric, vec, r.vector or []))
            for r in records
            if evaluate(where, r.metadata)
        ]
        hits.sort(key=lambda h: (h[1], h[0].id))
        if not include_vectors:
            for r, _ in hits:
                r.vector = None
        return hits[:k]

    @staticmethod
    def _scored(
        info: CollectionInfo, hits: list[Hit], score_threshold: float | None
    ) -> list[SearchResult]:
        score = scorer(info.metric)
        if score_threshold is None:
            return [SearchResult(rec, score(dist), dist) for rec, dist in hits]
        return [
            SearchResult(rec, s, dist)
            for rec, dist in hits
            if (s := score(dist)) >= score_threshold
        ]

    def _search(
        self,
        collection: str,
        vector: Sequence[float],
        k: int,
        filter: FilterLike,
        score_threshold: float | None,
        include_vectors: bool,
        embedding_model: str | None,
        ids: Sequence[str] | None,
    ) -> Flow[list[SearchResult]]:
        check_name(collection)
        info = yield from self._info(collection)
        _check_k(k)
        vec = check_vector(vector)
        where = parse_filter(filter)
        if info is not None:
            self._check_match(info, len(vec), None, embedding_model)
        wanted = list(dict.fromkeys(check_ids(ids))) if ids is not None else None
        if info is None or wanted == []:
            return []
        if wanted is not None:
            found = yield self._backend_call(self.backend.get, collection, wanted, True)
            hits = self._rank_fetched(info, found, vec, k, where, include_vectors)
        else:
            hits = yield from self._nearest(collection, vec, k, where, include_vectors)
        return self._scored(info, hits, score_threshold)

    def _nearest(
        self,
        collection: str,
        vec: list[float],
        k: int,
        where: FilterNode | None,
        include_vectors: bool,
    ) -> Flow[list[Hit]]:
        """The backend's k nearest, with ties broken by id the same way on every store.

        Engines order records at equal distance arbitrarily, may pick a different
        subset of them for another ``k`` (so pages overlapped), and compute in
        float32, so equal vectors come back a rounding error apart, differently
        from call to call. Distances closer than :data:`TIE_DISTANCE` count as
        equal: one extra hit shows whether the k-th place is tied; while it is,
        more are fetched; then hits are ordered by (distance, id) and cut to ``k``.
        """
        fetch = k + 1
        while True:
            hits: list[Hit] = yield self._backend_call(
                self.backend.search, collection, vec, fetch, where, include_vectors
            )
            if len(hits) < fetch or _tie_key(hits[k - 1][1]) != _tie_key(hits[-1][1]):
                break
            fetch *= 2  # the tie runs to the end of what came back: look further
        hits.sort(key=lambda h: (_tie_key(h[1]), h[0].id))
        return hits[:k]

    def search(
        self,
        collection: str,
        vector: Sequence[float],
        *,
        k: int = 4,
        filter: FilterLike = None,
        score_threshold: float | None = None,
        include_vectors: bool = False,
        embedding_model: str | None = None,
        ids: Sequence[str] | None = None,
    ) -> list[SearchResult]:
        """The ``k`` records nearest to ``vector`` among those matching ``filter``.

        Scores follow the one score rule (docs/architecture.md): in [0, 1], higher
        is closer, for every backend and metric; ``score_threshold`` drops results
        scoring below it. ``ids`` restricts the search to those records (fetched
        and ranked here, so keep the list short).
        """
        return self._sync(
            self._search(
                collection, vector, k, filter, score_threshold, include_vectors,
                embedding_model, ids,
            )
        )

    async def asearch(
        self,
        collection: str,
        vector: Sequence[float],
        *,
        k: int = 4,
        filter: FilterLike = None,
        score_threshold: float | None = None,
        include_vectors: bool = False,
        embedding_model: str | None = None,
        ids: Sequence[str] | None = None,
    ) -> list[SearchResult]:
        return await self._async(
            self._search(
                collection, vector, k, filter, score_threshold, include_vectors,
                embedding_model, ids,
            )
        )

    def _keyword(
        self, collection: str, query: str, k: int, filter: FilterLike
    ) -> Flow[list[SearchResult]]:
        check_name(collection)
        if not self.capabilities.keyword_search:
            raise NotSupportedError(self.backend_name, "keyword search")
        if not isinstance(query, str):
            raise InvalidInputError(f"a keyword query is a string, got {type(query).__name__}")
        _check_k(k)
        where = parse_filter(filter)
        if not query.strip() or (yield from self._info(collection)) is None:
            return []
        hits = yield self._backend_call(self.backend.keyword_search, collection, query, k, where)
        # Text relevance is positive and unbounded; x / (1 + x) keeps its order in [0, 1).
        return [SearchResult(r, max(s, 0.0) / (1.0 + max(s, 0.0)), None) for r, s in hits]

    def keyword_search(
        self, collection: str, query: str, *, k: int = 4, filter: FilterLike = None
    ) -> list[SearchResult]:
        """Records whose text contains every word of ``query``, most relevant first."""
        return self._sync(self._keyword(collection, query, k, filter))

    async def akeyword_search(
        self, collection: str, query: str, *, k: int = 4, filter: FilterLike = None
    ) -> list[SearchResult]:
        return await self._async(self._keyword(collection, query, k, filter))

    @staticmethod
    def _fuse(
        vector_hits: list[SearchResult], keyword_hits: list[SearchResult], k: int, rrf_k: int
    ) -> list[SearchResult]:
        """Reciprocal rank fusion, normalised so a record first in both lists scores 1."""
        fused: dict[str, float] = {}
        found: dict[str, SearchResult] = {}
        for hits in (vector_hits, keyword_hits):
            for rank, hit in enumerate(hits):
                fused[hit.record.id] = fused.get(hit.record.id, 0.0) + 1.0 / (rrf_k + rank + 1)
                found.setdefault(hit.record.id, hit)
        best = 2.0 / (rrf_k + 1)
        order = sorted(fused, key=lambda i: (-fused[i], i))[:k]
        return [SearchResult(found[i].record, fused[i] / best, found[i].distance) for i in order]

    def _hybrid(
        self,
        collection: str,
        query: str,
        vector: Sequence[float],
        k: int,
        filter: FilterLike,
        fetch_k: int | None,
        rrf_k: int | None,
        embedding_model: str | None,
    ) -> Flow[list[SearchResult]]:
        if not self.capabilities.hybrid_search:
            raise NotSupportedError(self.backend_name, "hybrid search")
        if rrf_k is not None:
            _check_k(rrf_k, "rrf_k")
        if self.capabilities.native_hybrid and fetch_k is None and rrf_k is None:
            return (
                yield from self._native_hybrid(
                    collection, query, vector, k, filter, embedding_model
                )
            )
        n = _check_k(fetch_k, "fetch_k") if fetch_k is not None else 4 * _check_k(k)
        vec = yield from self._search(
            collection, vector, n, filter, None, False, embedding_model, None
        )
        kw = yield from self._keyword(collection, query, n, filter)
        return self._fuse(vec, kw, k, 60 if rrf_k is None else rrf_k)

    def _native_hybrid(
        self,
        collection: str,
        query: str,
        vector: Sequence[float],
        k: int,
        filter: FilterLike,
        embedding_model: str | None,
    ) -> Flow[list[SearchResult]]:
        """One request to a store that fuses itself; its scores are already in [0, 1]."""
        check_name(collection)
        info = yield from self._info(collection)
        _check_k(k)
        vec = check_vector(vector)
        if not isinstance(query, str):
            raise InvalidInputError(f"a keyword query is a string, got {type(query).__name__}")
        where = parse_filter(filter)
        if info is None:
            return []
        self._check_match(info, len(vec), None, embedding_model)
        hits = yield self._backend_call(
            self.backend.hybrid_search, collection, query, vec, k, where
        )
        return [SearchResult(r, min(1.0, max(0.0, s)), None) for r, s in hits]

    def hybrid_search(
        self,
        collection: str,
        query: str,
        vector: Sequence[float],
        *,
        k: int = 4,
        filter: FilterLike = None,
        fetch_k: int | None = None,
        rrf_k: int | None = None,
        embedding_model: str | None = None,
    ) -> list[SearchResult]:
        """Vector and keyword search fused into one ranking, scores in [0, 1].

        By default the core fuses by reciprocal rank fusion (RRF): each side fetches
        ``fetch_k`` candidates (default ``4 * k``); a record's score is the sum of
        ``1 / (rrf_k + rank)`` over both lists (``rrf_k`` default 60), divided by its
        largest possible value. A backend with ``native_hybrid`` fuses in the store
        instead (one request; its page says how); passing ``fetch_k`` or ``rrf_k``
        asks for the core's RRF on every backend.
        """
        return self._sync(
            self._hybrid(collection, query, vector, k, filter, fetch_k, rrf_k, embedding_model)
        )

    async def ahybrid_search(
        self,
        collection: str,
        query: str,
        vector: Sequence[float],
        *,
        k: int = 4,
        filter: FilterLike = None,
        fetch_k: int | None = None,
        rrf_k: int | None = None,
        embedding_model: str | None = None,
    ) -> list[SearchResult]:
        return await self._async(
            self._hybrid(collection, query, vector, k, filter, fetch_k, rrf_k, embedding_model)
        )

    # ------------------------------------------------------------------ chat
    def _prepare_chat(self, session_id: str, namespace: str) -> None:
        if not self.capabilities.chat:
            raise NotSupportedError(self.backend_name, "chat messages")
        check_name(namespace, "namespace")
        check_name(session_id, "session")

    def _append(
        self, session_id: str, messages: Sequence[Message], namespace: str, ttl: float | None
    ) -> Flow[None]:
        self._prepare_chat(session_id, namespace)
        batch = [_check_message(m) for m in messages]
        ttl = self._ttl(ttl)
        if batch:
            yield self._backend_call(
                self.backend.append_messages, namespace, session_id, batch, ttl
            )

    def append_messages(
        self,
        session_id: str,
        messages: Sequence[Message],
        *,
        namespace: str = DEFAULT_NAMESPACE,
        ttl: float | None = None,
    ) -> None:
        """Append JSON-object messages to a session, in order, in one batch."""
        self._sync(self._append(session_id, messages, namespace, ttl))

    async def aappend_messages(
        self,
        session_id: str,
        messages: Sequence[Message],
        *,
        namespace: str = DEFAULT_NAMESPACE,
        ttl: float | None = None,
    ) -> None:
        await self._async(self._append(session_id, messages, namespace, ttl))

    def _messages(
        self, session_id: str, namespace: str, last_n: int | None
    ) -> Flow[list[Message]]:
        self._prepare_chat(session_id, namespace)
        if last_n is not None:
            _check_k(last_n, "last_n")
        return (
            yield self._backend_call(self.backend.get_messages, namespace, session_id, last_n)
        )

    def get_messages(
        self, session_id: str, *, namespace: str = DEFAULT_NAMESPACE, last_n: int | None = None
    ) -> list[Message]:
        """A session's messages, oldest first; only the last ``last_n`` when given."""
        return self._sync(self._messages(session_id, namespace, last_n))

    async def aget_messages(
        self, session_id: str, *, namespace: str = DEFAULT_NAMESPACE, last_n: int | None = None
    ) -> list[Message]:
        return await self._async(self._messages(session_id, namespace, last_n))

    def _clear(self, session_id: str, namespace: str) -> Flow[None]:
        self._prepare_chat(session_id, namespace)
        yield self._backend_call(self.backend.clear_messages, namespace, session_id)

    def clear_messages(self, session_id: str, *, namespace: str = DEFAULT_NAMESPACE) -> None:
        """Forget a session's messages."""
        self._sync(self._clear(session_id, namespace))

    async def aclear_messages(self, session_id: str, *, namespace: str = DEFAULT_NAMESPACE) -> None:
        await self._async(self._clear(session_id, namespace))

    def _sessions(self, namespace: str) -> Flow[list[str]]:
        check_name(namespace, "namespace")
        return (yield self._backend_call(self.backend.list_sessions, namespace))

    def list_sessions(self, *, namespace: str = DEFAULT_NAMESPACE) -> list[str]:
        """Sessions of a namespace that hold messages, sorted."""
        return self._sync(self._sessions(namespace))

    async def alist_sessions(self, *, namespace: str = DEFAULT_NAMESPACE) -> list[str]:
        return await self._async(self._sessions(namespace))

    # ------------------------------------------------------------------ key-value
    def _prepare_kv(self, collection: str) -> None:
        # Names already checked are remembered (a checkpointer names the same thread's
        # collection on every step); the set is emptied when it grows large.
        if collection in self._kv_names:
            return
        if not self.capabilities.kv:
            raise NotSupportedError(self.backend_name, "key-value items")
        check_name(collection, "key-value collection")
        if len(self._kv_names) >= _KV_NAMES_KEPT:
            self._kv_names.clear()
        self._kv_names.add(collection)

    def _mset(
        self,
        collection: str,
        items: Mapping[str, bytes] | Sequence[tuple[str, bytes]],
        ttl: float | None,
    ) -> Flow[None]:
        self._prepare_kv(collection)
        pairs = _check_items(items)
        ttl = self._ttl(ttl)
        if pairs:
            yield self._backend_call(self.backend.kv_put, collection, pairs, ttl)

    def kv_mset(
        self,
        collection: str,
        items: Mapping[str, bytes] | Sequence[tuple[str, bytes]],
        *,
        ttl: float | None = None,
    ) -> None:
        """Set many ``key -> bytes`` items in one batch."""
        self._sync(self._mset(collection, items, ttl))

    async def akv_mset(
        self,
        collection: str,
        items: Mapping[str, bytes] | Sequence[tuple[str, bytes]],
        *,
        ttl: float | None = None,
    ) -> None:
        await self._async(self._mset(collection, items, ttl))

    def _mget(self, collection: str, keys: Sequence[str]) -> Flow[list[bytes | None]]:
        self._prepare_kv(collection)
        wanted = check_ids(keys, "key")
        if not wanted:
            return []
        return (yield self._backend_call(self.backend.kv_get, collection, wanted))

    def kv_mget(self, collection: str, keys: Sequence[str]) -> list[bytes | None]:
        """Values for ``keys`` in order, ``None`` where a key is missing."""
        return self._sync(self._mget(collection, keys))

    async def akv_mget(self, collection: str, keys: Sequence[str]) -> list[bytes | None]:
        return await self._async(self._mget(collection, keys))

    def _mdelete(self, collection: str, keys: Sequence[str]) -> Flow[None]:
        self._prepare_kv(collection)
        wanted = list(dict.fromkeys(check_ids(keys, "key")))
        if wanted:
            yield self._backend_call(self.backend.kv_delete, collection, wanted)

    def kv_mdelete(self, collection: str, keys: Sequence[str]) -> None:
        """Delete keys (missing ones are ignored)."""
        self._sync(self._mdelete(collection, keys))

    async def akv_mdelete(self, collection: str, keys: Sequence[str]) -> None:
        await self._async(self._mdelete(collection, keys))

    def _keys(self, collection: str, prefix: str | None) -> Flow[list[str]]:
        self._prepare_kv(collection)
        checked = check_prefix(prefix)
        return (yield self._backend_call(self.backend.kv_keys, collection, checked))

    def kv_keys(self, collection: str, *, prefix: str | None = None) -> list[str]:
        """Keys of a collection, sorted; only those starting with ``prefix`` when given."""
        return self._sync(self._keys(collection, prefix))

    async def akv_keys(self, collection: str, *, prefix: str | None = None) -> list[str]:
        return await self._async(self._keys(collection, prefix))

    def _kv_range(
        self,
        collection: str,
        prefix: str | None,
        after: str | None,
        limit: int | None,
        reverse: bool,
    ) -> Flow[list[tuple[str, bytes]]]:
        self._prepare_kv(collection)
        checked = check_prefix(prefix)
        if after is not None:
            after = check_id(after, "key")
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or limit < 1
        ):
            raise InvalidInputError(f"limit must be a positive integer or None, got {limit!r}")
        if not isinstance(reverse, bool):
            raise InvalidInputError(f"reverse must be True or False, got {reverse!r}")
        return (
            yield self._backend_call(
                self.backend.kv_scan, collection, checked, after, limit, reverse
            )
        )

    def kv_scan(
        self,
        collection: str,
        *,
        prefix: str | None = None,
        after: str | None = None,
        limit: int | None = None,
        reverse: bool = False,
    ) -> list[tuple[str, bytes]]:
        """Items ``(key, value)`` in key order, in one call where the store can.

        Only keys starting with ``prefix``; only keys strictly after ``after`` in the
        scan's order (so the last key of one page is the ``after`` of the next); at most
        ``limit`` items; ``reverse=True`` scans from the largest key down. Key order is
        code-point order, as in :meth:`kv_keys`.
        """
        return self._sync(self._kv_range(collection, prefix, after, limit, reverse))

    async def akv_scan(
        self,
        collection: str,
        *,
        prefix: str | None = None,
        after: str | None = None,
        limit: int | None = None,
        reverse: bool = False,
    ) -> list[tuple[str, bytes]]:
        return await self._async(self._kv_range(collection, prefix, after, limit, reverse))
