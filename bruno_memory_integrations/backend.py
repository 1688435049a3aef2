"""The backend contract: the small surface a store implements, each operation once.

A backend receives input the :class:`~bruno_memory_integrations.store.Store`
has already checked (ids, vectors, metadata, names, parsed filters, collection
dimension), so it only stores and fetches. Every write is batched.

Each operation is written **once**, as a generator (see :mod:`.sansio`) that
yields the steps it needs and returns its result. The backend supplies how a step
runs: :meth:`Backend.execute` on its blocking client and, when the driver has
native async I/O, :meth:`Backend.aexecute` on its async client. :meth:`Backend.run`
and :meth:`Backend.arun` derive the sync and the async form of every operation
from that. A backend whose client is blocking only writes plain methods marked
:func:`~bruno_memory_integrations.sansio.blocking`; its async form runs in the
backend's own worker threads, so it never blocks the event loop either.

Callers pass :meth:`run`/:meth:`arun` a zero-argument callable that makes the
operation (``functools.partial(backend.get, "docs", ["a"])``), so a driver that
retries after a lost connection can make a fresh one.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from .capabilities import Capabilities
from .errors import NotSupportedError
from .filters import FilterNode
from .logs import log_slow, logger_for
from .sansio import Op, adrive, drive
from .types import CollectionInfo, Message, Page, Record

__all__ = [
    "Backend", "Delegate", "DelegatingBackend", "Hit", "KeyBound", "MakeOp", "key_range", "on",
]

T = TypeVar("T")

Hit = tuple[Record, float]
"""A search hit: the record and, for vector search, its canonical distance
(see :mod:`bruno_memory_integrations.scores`); for keyword search, its text
relevance (higher is better, any positive scale)."""

MakeOp = Callable[[], Op[T]]
"""Makes one operation: usually ``functools.partial(backend.method, *args)``."""

KeyBound = tuple[str, str]
"""One side of a key range: ``(operator, key)``, the operator one of ``>=``, ``>``, ``<``."""


def key_range(
    prefix: str | None, after: str | None = None, reverse: bool = False
) -> tuple[KeyBound | None, KeyBound | None]:
    """The lower and upper bound of the keys a ``kv_keys`` / ``kv_scan`` reads, in
    code-point order (what SQL stores compare with a binary collation).

    At most one bound per side, the tighter of the prefix's and ``after``'s: a SQL
    engine ranges an index on one bound of each side and only filters on others
    (SQLite then walks back over every earlier page of a descending read). The upper
    bound of a prefix is the prefix with its last character incremented (none when
    that is not a character: the caller's own prefix check decides, as it always must).
    """
    low: KeyBound | None = None
    high: KeyBound | None = None
    if prefix:
        low = (">=", prefix)
        last = ord(prefix[-1]) + 1
        if last <= 0x10FFFF and not 0xD800 <= last <= 0xDFFF:
            high = ("<", prefix[:-1] + chr(last))
    if after is not None and reverse:
        if high is None or after < high[1]:
            high = ("<", after)
    elif after is not None and (low is None or after >= low[1]):
        low = (">", after)
    return low, high


class Backend(ABC):
    """Abstract store: operations written once, run sync or async by :meth:`run`/:meth:`arun`."""

    #: Registry name, used in messages ("the redis backend does not support ...").
    name: ClassVar[str] = "backend"
    capabilities: ClassVar[Capabilities] = Capabilities()
    #: Worker threads for operations of blocking-only clients run from async code.
    async_workers: ClassVar[int] = 4

    _executor: ThreadPoolExecutor | None = None
    _executor_lock = threading.Lock()

    # ================================================================ running
    def execute(self, step: Any) -> Any:
        """Run one step on the blocking client and return its reply."""
        raise NotImplementedError(f"the {self.name} backend's operations yield no steps")

    async def aexecute(self, step: Any) -> Any:
        """Run one step on the async client (backends with ``native_async``)."""
        return await self._in_thread(self.execute, step)

    def run(self, make: MakeOp[T]) -> T:
        """Run one operation to completion with the blocking client."""
        if type(make) is functools.partial:
            body = getattr(make.func, "blocking_body", None)
            owner = getattr(make.func, "__self__", None)
            if body is not None and owner is not None:  # a @blocking method: no steps
                return body(owner, *make.args, **make.keywords)  # type: ignore[no-any-return]
        return drive(make(), self.execute)

    async def arun(self, make: MakeOp[T]) -> T:
        """Run one operation without blocking the event loop.

        With native async I/O every step is awaited on the async client; otherwise
        the whole operation runs in the backend's worker threads.
        """
        if self.capabilities.native_async:
            return await adrive(make(), self.aexecute)
        return await self._in_thread(self.run, make)

    def call(self, method: Callable[..., Op[T]], *args: Any, **kwargs: Any) -> T:
        """Run ``method(*args, **kwargs)`` (an operation of this backend) synchronously."""
        return self.run(functools.partial(method, *args, **kwargs))

    async def acall(self, method: Callable[..., Op[T]], *args: Any, **kwargs: Any) -> T:
        """Run ``method(*args, **kwargs)`` (an operation of this backend) asynchronously."""
        return await self.arun(functools.partial(method, *args, **kwargs))

    # ================================================================ operations
    # ------------------------------------------------------------ collections
    @abstractmethod
    def create_collection(self, info: CollectionInfo) -> Op[None]:
        """Create a vector collection (a no-op if it exists with the same info)."""

    @abstractmethod
    def get_collection(self, name: str) -> Op[CollectionInfo | None]:
        """What ``name`` was created with, or ``None`` when it does not exist."""

    @abstractmethod
    def list_collections(self) -> Op[list[str]]:
        """Names of the vector collections, sorted."""

    @abstractmethod
    def drop_collection(self, name: str) -> Op[None]:
        """Delete a collection and all its records (a no-op when missing)."""

    # ---------------------------------------------------------------- records
    @abstractmethod
    def upsert(
        self, collection: str, records: Sequence[Record], ttl: float | None = None
    ) -> Op[None]:
        """Insert or replace records by id. Ids are unique within the batch."""

    @abstractmethod
    def get(
        self, collection: str, ids: Sequence[str], include_vectors: bool = True
    ) -> Op[list[Record]]:
        """Records with these ids, any order; missing ids are left out."""

    @abstractmethod
    def delete(self, collection: str, ids: Sequence[str]) -> Op[int]:
        """Delete by id; returns how many existed."""

    @abstractmethod
    def delete_where(self, collection: str, where: FilterNode | None) -> Op[int]:
        """Delete every record matching ``where`` (all when ``None``); returns the count."""

    @abstractmethod
    def count(self, collection: str, where: FilterNode | None = None) -> Op[int]:
        """How many records match ``where``."""

    @abstractmethod
    def scan(
        self,
        collection: str,
        where: FilterNode | None,
        limit: int,
        cursor: str | None,
        include_vectors: bool = False,
    ) -> Op[Page]:
        """One page of matching records; ``cursor`` is opaque and backend-defined.

        Every record present for the whole scan appears exactly once.
        """

    @abstractmethod
    def search(
        self,
        collection: str,
        vector: Sequence[float],
        k: int,
        where: FilterNode | None,
        include_vectors: bool = False,
    ) -> Op[list[Hit]]:
        """The ``k`` nearest records matching ``where``, nearest first, with distances."""

    def keyword_search(
        self, collection: str, query: str, k: int, where: FilterNode | None
    ) -> Op[list[Hit]]:
        """Records whose text contains every word of ``query``, best first."""
        raise NotSupportedError(self.name, "keyword search")

    def hybrid_search(
        self,
        collection: str,
        query: str,
        vector: Sequence[float],
        k: int,
        where: FilterNode | None,
    ) -> Op[list[Hit]]:
        """Vector and keyword search fused by the store (``native_hybrid`` backends).

        Returns the ``k`` best records matching ``where`` with fused scores in
        [0, 1], best first.
        """
        raise NotSupportedError(self.name, "native hybrid search")

    # ---------------------------------------------------------------- chat
    @abstractmethod
    def append_messages(
        self, namespace: str, session_id: str, messages: Sequence[Message], ttl: float | None = None
    ) -> Op[None]:
        """Append messages to a session, in order (mark it ``non_idempotent`` if a
        retry after a lost connection could store them twice)."""

    @abstractmethod
    def get_messages(
        self, namespace: str, session_id: str, last_n: int | None = None
    ) -> Op[list[Message]]:
        """A session's messages, oldest first (only the last ``last_n`` when given)."""

    @abstractmethod
    def clear_messages(self, namespace: str, session_id: str) -> Op[None]:
        """Forget a session's messages."""

    @abstractmethod
    def list_sessions(self, namespace: str) -> Op[list[str]]:
        """Sessions in a namespace that hold messages, sorted."""

    # ---------------------------------------------------------------- key-value
    @abstractmethod
    def kv_put(
        self, collection: str, items: Sequence[tuple[str, bytes]], ttl: float | None = None
    ) -> Op[None]:
        """Set values; keys are unique within the batch."""

    @abstractmethod
    def kv_get(self, collection: str, keys: Sequence[str]) -> Op[list[bytes | None]]:
        """Values in the order of ``keys``; ``None`` for a missing key."""

    @abstractmethod
    def kv_delete(self, collection: str, keys: Sequence[str]) -> Op[None]:
        """Delete keys (missing ones are ignored)."""

    @abstractmethod
    def kv_keys(self, collection: str, prefix: str | None = None) -> Op[list[str]]:
        """Keys in a collection, sorted, optionally only those starting with ``prefix``."""

    def kv_scan(
        self,
        collection: str,
        prefix: str | None = None,
        after: str | None = None,
        limit: int | None = None,
        reverse: bool = False,
    ) -> Op[list[tuple[str, bytes]]]:
        """Items ``(key, value)`` in key order (descending with ``reverse``), only keys
        starting with ``prefix``, only keys strictly beyond ``after`` in that order, at
        most ``limit`` of them.

        Key order is code-point order (Python's ``str`` order). This default lists the
        keys and then reads the values: two calls, and an item deleted in between is
        left out. Stores that can range-read keys with their values in one call
        override it.
        """
        keys = yield from self.kv_keys(collection, prefix)
        if reverse:
            keys.reverse()
        if after is not None:
            keys = [k for k in keys if (k < after if reverse else k > after)]
        if limit is not None:
            keys = keys[:limit]
        if not keys:
            return []
        values = yield from self.kv_get(collection, keys)
        return [(k, v) for k, v in zip(keys, values, strict=True) if v is not None]

    # ---------------------------------------------------------------- expiry
    def purge_expired(self) -> Op[int]:
        """Delete what has expired (``ttl=`` writes) now; returns how many rows went.

        Expired data is never returned whether or not this runs; it frees the space.
        Stores that expire data themselves (Redis) and stores without TTL have
        nothing to do and return 0.
        """
        return 0
        yield  # pragma: no cover - makes this an operation with no steps

    # ================================================================ lifecycle
    def close(self) -> None:
        """Release connections and threads. Idempotent."""
        self._shutdown_executor()

    async def aclose(self) -> None:
        await self._in_thread(self.close)

    def _shutdown_executor(self) -> None:
        ex, self._executor = self._executor, None
        if ex is not None:
            ex.shutdown(wait=False)

    async def _in_thread(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run blocking ``fn`` in this backend's worker threads."""
        ex = self._executor
        if ex is None:
            with self._executor_lock:
                if self._executor is None:
                    self._executor = ThreadPoolExecutor(
                        max_workers=self.async_workers, thread_name_prefix=f"bruno-{self.name}"
                    )
                ex = self._executor
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(ex, functools.partial(fn, *args, **kwargs))


# ==================================================================== backends of backends
@dataclass(frozen=True)
class Delegate:
    """A step: run one operation (``make()``) on another backend, ``backend``.

    Backends made of other backends (a composite store, a fallback between stores)
    yield these; :class:`DelegatingBackend` runs them with ``backend.run`` and awaits
    them with ``backend.arun``, so each of their operations is written once, like any
    backend's, and an async call never blocks the loop.
    """

    backend: Backend
    make: MakeOp[Any]


def on(backend: Backend, method: Callable[..., Op[Any]], *args: Any) -> Delegate:
    """The step running ``method(*args)`` (an operation of ``backend``) on ``backend``."""
    return Delegate(backend, functools.partial(method, *args))


class DelegatingBackend(Backend):
    """A backend whose steps are operations on other backends (its *parts*).

    Each part's operation is timed under the part's own logger, as the Store times
    a backend it holds directly.
    """

    name: ClassVar[str] = "wrapper"
    #: Replaced per instance from the parts' capabilities.
    capabilities: ClassVar[Capabilities] = Capabilities(native_async=True)

    def execute(self, step: Delegate) -> Any:
        with log_slow(logger_for(step.backend), _op_name(step.make)):
            return step.backend.run(step.make)

    async def aexecute(self, step: Delegate) -> Any:
        with log_slow(logger_for(step.backend), _op_name(step.make)):
            return await step.backend.arun(step.make)

    def parts(self) -> Sequence[Backend]:
        """The distinct backends this one is made of."""
        raise NotImplementedError

    def purge_expired(self) -> Op[int]:
        """Purge every part (each once); the rows deleted, summed."""
        total = 0
        for part in self.parts():
            total += yield on(part, part.purge_expired)
        return total

    def close(self) -> None:
        for part in self.parts():
            part.close()
        super().close()

    async def aclose(self) -> None:
        for part in self.parts():
            await part.aclose()
        self._shutdown_executor()


def _op_name(make: Any) -> str:
    target = make.func if isinstance(make, functools.partial) else make
    return str(getattr(target, "__name__", "operation"))
