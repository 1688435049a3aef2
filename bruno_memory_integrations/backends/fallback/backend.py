"""Fallback between stores: keep working while a store is unreachable, catch it up when back.

``create_with_fallback(["postgresql://…", "redis://…"])`` returns one
:class:`~bruno_memory_integrations.store.Store` over a :class:`FallbackBackend`.
The stores (*members*) are listed in order of preference and are meant to hold
the same data (start them empty, or copy one into the others first).

Consistency rules (docs/cookbook/fallback.md explains them with examples):

* **Writes go to every reachable, up-to-date member**, and are acknowledged (the
  call returns) when at least one member has applied them. For each member that
  could not take a write (unreachable, or still behind), the write is appended to
  that member's **replay journal**, in order. A write no member applied raises
  ``BackendUnavailableError`` and is journaled nowhere: it was not acknowledged.
* So a write acknowledged during an outage lives in the members that were up, and
  in the journal of each member that was down: in process memory, or in a SQLite
  file with ``journal_path=`` (written before the write is acknowledged).
* **Recovery:** before an operation, a member that is behind and whose back-off
  has elapsed gets a health check (``list_collections``); if it answers, its
  journal is replayed in order, then it is up to date again and, being preferred,
  serves reads again. Back-off doubles after each failed check (``min_backoff`` to
  ``max_backoff`` seconds). Every switch is logged (WARNING when a member is lost,
  INFO when it is back).
* **Reads are served only by an up-to-date member** (its journal is empty), the
  most preferred one that answers. When none answers, a read raises
  ``BackendUnavailableError`` rather than answer from a member that may miss an
  acknowledged write: a read never silently misses one.
* Replay applies each write once. Upserts, deletes, key-value sets and collection
  changes are idempotent. A chat append that failed *while* its member went down may
  or may not have been stored there; the journal notes the session's length with it
  (read from a member that applied it), and the replay appends it only if the
  member's session is shorter. (With concurrent appends to the same session that
  length can be larger than needed, and the replay then appends: at-least-once.)
* Without ``journal_path`` the journal lives in this process: if the process ends
  while a member is behind, that member misses the journaled writes (the other
  members hold them). With ``journal_path``, a fallback opened again over the same
  stores replays them.
* A scan cursor belongs to the member that produced it: if that member becomes
  unreachable mid-scan, the next page raises ``BackendUnavailableError`` (start the
  scan again).
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from ...backend import Backend, Delegate, DelegatingBackend, Hit, MakeOp, on
from ...capabilities import Capabilities
from ...errors import (
    BackendUnavailableError,
    BrunoMemoryError,
    ConfigurationError,
    InvalidInputError,
)
from ...filters import FilterNode
from ...sansio import Offload, adrive, drive
from ...types import CollectionInfo, Message, Page, Record
from .journal import Journal

__all__ = ["FallbackBackend", "MemberStatus", "create_with_fallback"]

#: Journal entry of an append whose store failed mid-call: (its arguments..., the
#: session's length with it), replayed only if the store's session is shorter.
_APPEND_ONCE = "append_messages_once"
log = logging.getLogger(__name__.rsplit(".", 1)[0])  # the package: where its Store logs too
T = TypeVar("T")
Flow = Generator[Any, Any, T]


@dataclass
class _Member:
    index: int
    backend: Backend
    journal: Journal
    up: bool = True
    diverged: bool = False
    next_check: float = 0.0
    backoff: float = 0.0
    busy: bool = False  # a flow is checking / replaying it

    @property
    def label(self) -> str:
        return f"member {self.index} ({self.backend.name})"

    @property
    def behind(self) -> int:
        return self.journal.behind(self.index)

    @property
    def current(self) -> bool:
        return self.up and not self.diverged and not self.behind


@dataclass(frozen=True)
class MemberStatus:
    """One member's state, for monitoring (:meth:`FallbackBackend.status`)."""

    index: int
    backend: str
    up: bool
    behind: int
    """Journaled writes it has not applied yet."""


def _to_flow(exc: BaseException) -> bool:
    return isinstance(exc, Exception)


def _capabilities(parts: Sequence[Backend]) -> Capabilities:
    caps = [p.capabilities for p in parts]
    metrics = tuple(m for m in caps[0].metrics if all(m in c.metrics for c in caps))
    refused: frozenset[str] = frozenset().union(*(c.refused_filters for c in caps))
    return Capabilities(
        keyword_search=all(c.keyword_search for c in caps),
        hybrid_search=all(c.hybrid_search for c in caps),
        native_hybrid=all(c.native_hybrid for c in caps),
        ttl=all(c.ttl for c in caps),
        native_async=True,
        nested_metadata=all(c.nested_metadata for c in caps),
        persistent=all(c.persistent for c in caps),
        chat=all(c.chat for c in caps),
        kv=all(c.kv for c in caps),
        kv_ranges=all(c.kv_ranges for c in caps),
        metrics=metrics,
        refused_filters=refused,
    )


class FallbackBackend(DelegatingBackend):
    """Members in order of preference; see the module docstring for the rules.

    Args:
        members: Two or more backends meant to hold the same data, preferred first.
        min_backoff: Seconds before the first health check of a lost member.
        max_backoff: Longest wait between two health checks of a lost member.
        journal_path: A file keeping the replay journal on disk (SQLite), so writes
            journaled for an unreachable member survive the process; ``None`` keeps it
            in memory.
        clock: Monotonic clock (tests pass their own).
    """

    name = "fallback"

    def __init__(
        self,
        members: Sequence[Backend],
        *,
        min_backoff: float = 0.5,
        max_backoff: float = 30.0,
        journal_path: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if len(members) < 2:
            raise ConfigurationError("fallback needs at least two stores, preferred first")
        if not 0 < min_backoff <= max_backoff:
            raise ConfigurationError("need 0 < min_backoff <= max_backoff (seconds)")
        self._journal = Journal([b.name for b in members], journal_path)
        self._members = [_Member(i, b, self._journal) for i, b in enumerate(members)]
        self.min_backoff, self.max_backoff, self._clock = min_backoff, max_backoff, clock
        self._lock = threading.Lock()
        self._reader: int | None = 0  # the member that served the last read (for logging)
        self.capabilities = _capabilities(members)  # type: ignore[misc]
        self.name = "fallback(" + ", ".join(b.name for b in members) + ")"  # type: ignore[misc]

    def __repr__(self) -> str:
        return "FallbackBackend([" + ", ".join(repr(m.backend) for m in self._members) + "])"

    def parts(self) -> Sequence[Backend]:
        return [m.backend for m in self._members]

    def close(self) -> None:
        super().close()
        self._journal.close()

    async def aclose(self) -> None:
        await super().aclose()
        self._journal.close()

    def status(self) -> list[MemberStatus]:
        """Each member: reachable at the last try, and how many writes it is behind."""
        with self._lock:
            return [
                MemberStatus(m.index, m.backend.name, m.up and not m.diverged, m.behind)
                for m in self._members
            ]

    # ------------------------------------------------------------ running
    # Errors of a member's step are handed to the flow (which decides what a lost
    # member means, and re-raises the rest) instead of ending it.
    def run(self, make: MakeOp[T]) -> T:
        return drive(make(), self.execute, _to_flow)

    async def arun(self, make: MakeOp[T]) -> T:
        return await adrive(make(), self.aexecute, _to_flow)

    def differences(self, namespace: str = "default") -> list[str]:
        """What differs between the reachable stores, by a cheap check (not a proof).

        Compares the vector collections, their record counts and the chat sessions of
        ``namespace``. Empty when they look the same, or when a store is behind (its
        journal explains the difference).
        """
        return self.run(functools.partial(self._differences, namespace))

    def _differences(self, namespace: str) -> Flow[list[str]]:
        if len(self._journal):
            return []
        seen: list[tuple[_Member, dict[str, int], list[str]]] = []
        for m in self._members:
            try:
                names = yield on(m.backend, m.backend.list_collections)
                counts = {}
                for name in names:
                    counts[name] = yield on(m.backend, m.backend.count, name, None)
                sessions = yield on(m.backend, m.backend.list_sessions, namespace)
            except BackendUnavailableError:
                continue  # cannot tell
            seen.append((m, counts, sessions))
        out = []
        for m, counts, sessions in seen[1:]:
            first, first_counts, first_sessions = seen[0]
            if counts != first_counts:
                out.append(
                    f"{m.label} has collections {counts} (name: record count), "
                    f"{first.label} has {first_counts}"
                )
            if sessions != first_sessions:
                out.append(
                    f"{m.label} has {len(sessions)} chat sessions in {namespace!r}, "
                    f"{first.label} has {len(first_sessions)}"
                )
        return out

    def recover(self) -> None:
        """Health-check every member that is behind now, ignoring back-off."""
        with self._lock:
            for m in self._members:
                m.next_check = 0.0
        self.run(self._maintain)

    async def arecover(self) -> None:
        with self._lock:
            for m in self._members:
                m.next_check = 0.0
        await self.arun(self._maintain)

    @staticmethod
    def _call(m: _Member, name: str, args: tuple[Any, ...]) -> Delegate:
        return Delegate(m.backend, functools.partial(getattr(m.backend, name), *args))

    # ------------------------------------------------------------ member state
    def _lost(self, m: _Member, exc: BaseException) -> None:
        with self._lock:
            was_up = m.up
            m.up = False
            m.backoff = min(self.max_backoff, max(self.min_backoff, m.backoff * 2))
            m.next_check = self._clock() + m.backoff
        if was_up:
            log.warning(
                "fallback: %s is unreachable (%s); operations go to the next member, and "
                "its writes are journaled until it is back", m.label, exc,
            )

    def _diverged(self, m: _Member, exc: BaseException) -> None:
        """A member refused a write another member applied: it no longer holds the same data."""
        with self._lock:
            m.diverged = True
            m.next_check = float("inf")
        self._journal.discard(m.index)
        log.error(
            "fallback: %s refused a write another member applied (%r); it no longer holds "
            "the same data and serves nothing more: copy the data over and open a new "
            "fallback store", m.label, exc,
        )

    def _claim(self) -> list[_Member]:
        """Members that are behind and due for a check, claimed by this flow."""
        now = self._clock()
        with self._lock:
            due = [
                m for m in self._members
                if not m.current and not m.diverged and not m.busy and m.next_check <= now
            ]
            for m in due:
                m.busy = True
            return due

    def _maintain(self) -> Flow[None]:
        """Health-check and replay members that are behind and due (each by one flow)."""
        for m in self._claim():
            try:
                yield from self._catch_up(m)
            finally:
                m.busy = False

    def _catch_up(self, m: _Member) -> Flow[None]:
        if not m.up:
            try:
                yield Delegate(m.backend, m.backend.list_collections)
            except BackendUnavailableError as exc:
                self._lost(m, exc)
                return
        replayed = 0
        while True:
            entry = self._journal.first(m.index)
            if entry is None:
                with self._lock:
                    was_down = not m.up
                    m.up, m.backoff = True, 0.0
                if self._journal.first(m.index) is None:
                    break
                continue  # a write was journaled meanwhile
            seq, name, args = entry
            try:
                if name == _APPEND_ONCE:  # applied already if the session is that long
                    *append, length = args
                    have = yield self._call(m, "get_messages", (append[0], append[1], None))
                    if len(have) < length:
                        yield self._call(m, "append_messages", tuple(append))
                else:
                    yield self._call(m, name, args)
            except BackendUnavailableError as exc:
                self._lost(m, exc)
                return
            except BrunoMemoryError as exc:  # it refuses a write the others applied
                self._diverged(m, exc)
                return
            yield from self._journaled(self._journal.pop, m.index, seq)
            replayed += 1
        if was_down or replayed:
            log.info(
                "fallback: %s is back: %d journaled writes replayed; it serves reads and "
                "writes again", m.label, replayed,
            )

    # ------------------------------------------------------------ reads and writes
    def _read(self, name: str, *args: Any) -> Flow[Any]:
        yield from self._maintain()
        for m in self._members:
            if not m.current:
                continue
            try:
                result = yield self._call(m, name, args)
            except BackendUnavailableError as exc:
                self._lost(m, exc)
                continue
            self._note_reader(m)
            return result
        raise BackendUnavailableError(self._none_current())

    def _journaled(self, fn: Callable[..., None], *args: Any) -> Flow[None]:
        """Change the journal: inline when it is in memory; as an Offload step (a worker
        thread under async) when it is a file, so a disk write never blocks the loop."""
        if self._journal.path is None:
            fn(*args)
        else:
            yield Offload(functools.partial(fn, *args))

    def _note_reader(self, m: _Member) -> None:
        if self._reader != m.index:
            previous, self._reader = self._reader, m.index
            log.warning("fallback: reads now served by %s (were by member %s)", m.label, previous)

    def _none_current(self) -> str:
        states = "; ".join(
            f"{m.label}: {'reachable' if m.up else 'unreachable'}, {m.behind} writes behind"
            for m in self._members
        )
        return (
            f"no store that holds every acknowledged write is reachable ({states}); "
            f"retry when one is back"
        )

    def _write(self, name: str, *args: Any) -> Flow[Any]:
        yield from self._maintain()
        done: list[Any] = []
        first_ok: _Member | None = None
        missed: list[_Member] = []  # never tried: certainly not applied
        unsure: list[_Member] = []  # failed while trying: applied or not, no one knows
        for m in self._members:
            if m.diverged:
                continue
            if not m.current:
                missed.append(m)
                continue
            try:
                result = yield self._call(m, name, args)
            except BackendUnavailableError as exc:
                self._lost(m, exc)
                unsure.append(m)
                continue
            except Exception as exc:
                if not done:
                    raise  # refused before any member applied it: the caller's error
                self._diverged(m, exc)
                continue
            done.append(result)
            first_ok = first_ok or m
        if not done or first_ok is None:
            raise BackendUnavailableError(
                f"no store took the write, so it was not acknowledged; {self._none_current()}"
            )
        if unsure and name == "append_messages":
            # Replaying an append its store may have applied before the connection
            # dropped would store it twice: note how long the session is with it (on a
            # store that applied it), so the replay can tell whether it is already there.
            namespace, session_id = args[0], args[1]
            try:
                session = yield self._call(first_ok, "get_messages", (namespace, session_id, None))
            except BackendUnavailableError as exc:
                self._lost(first_ok, exc)  # cannot tell: replay it (at-least-once)
            else:
                yield from self._journaled(
                    self._journal.append, [m.index for m in unsure], _APPEND_ONCE,
                    (*args, len(session)),
                )
                unsure = []
        yield from self._journaled(
            self._journal.append, [m.index for m in missed + unsure], name, args
        )
        return done[0]

    # ------------------------------------------------------------ collections
    def create_collection(self, info: CollectionInfo) -> Flow[None]:
        return (yield from self._write("create_collection", info))

    def get_collection(self, name: str) -> Flow[CollectionInfo | None]:
        return (yield from self._read("get_collection", name))

    def list_collections(self) -> Flow[list[str]]:
        return (yield from self._read("list_collections"))

    def drop_collection(self, name: str) -> Flow[None]:
        return (yield from self._write("drop_collection", name))

    # ------------------------------------------------------------ records
    def upsert(
        self, collection: str, records: Sequence[Record], ttl: float | None = None
    ) -> Flow[None]:
        return (yield from self._write("upsert", collection, records, ttl))

    def get(
        self, collection: str, ids: Sequence[str], include_vectors: bool = True
    ) -> Flow[list[Record]]:
        return (yield from self._read("get", collection, ids, include_vectors))

    def delete(self, collection: str, ids: Sequence[str]) -> Flow[int]:
        return (yield from self._write("delete", collection, ids))

    def delete_where(self, collection: str, where: FilterNode | None) -> Flow[int]:
        return (yield from self._write("delete_where", collection, where))

    def count(self, collection: str, where: FilterNode | None = None) -> Flow[int]:
        return (yield from self._read("count", collection, where))

    def scan(
        self,
        collection: str,
        where: FilterNode | None,
        limit: int,
        cursor: str | None,
        include_vectors: bool = False,
    ) -> Flow[Page]:
        yield from self._maintain()
        if cursor is None:
            order = [m for m in self._members if m.current]
            inner = None
        else:
            index, sep, inner = cursor.partition(":")
            if not sep or not index.isdigit() or int(index) >= len(self._members) or not inner:
                raise InvalidInputError(
                    f"not a cursor of this store: {cursor!r}; pass the Page.cursor of the "
                    f"previous page"
                )
            member = self._members[int(index)]
            if not member.current:
                raise BackendUnavailableError(
                    f"the scan started on {member.label}, which is no longer reachable or "
                    f"up to date; start the scan again"
                )
            order = [member]
        for m in order:
            try:
                page: Page = yield Delegate(
                    m.backend,
                    functools.partial(
                        m.backend.scan, collection, where, limit, inner, include_vectors
                    ),
                )
            except BackendUnavailableError as exc:
                self._lost(m, exc)
                if cursor is not None:
                    raise BackendUnavailableError(
                        f"the scan started on {m.label}, which is no longer reachable; "
                        f"start the scan again"
                    ) from exc
                continue
            self._note_reader(m)
            return Page(page.records, None if page.cursor is None else f"{m.index}:{page.cursor}")
        raise BackendUnavailableError(self._none_current())

    def search(
        self,
        collection: str,
        vector: Sequence[float],
        k: int,
        where: FilterNode | None,
        include_vectors: bool = False,
    ) -> Flow[list[Hit]]:
        return (yield from self._read("search", collection, vector, k, where, include_vectors))

    def keyword_search(
        self, collection: str, query: str, k: int, where: FilterNode | None
    ) -> Flow[list[Hit]]:
        return (yield from self._read("keyword_search", collection, query, k, where))

    def hybrid_search(
        self,
        collection: str,
        query: str,
        vector: Sequence[float],
        k: int,
        where: FilterNode | None,
    ) -> Flow[list[Hit]]:
        return (yield from self._read("hybrid_search", collection, query, vector, k, where))

    # ------------------------------------------------------------ chat
    def append_messages(
        self, namespace: str, session_id: str, messages: Sequence[Message], ttl: float | None = None
    ) -> Flow[None]:
        return (yield from self._write("append_messages", namespace, session_id, messages, ttl))

    def get_messages(
        self, namespace: str, session_id: str, last_n: int | None = None
    ) -> Flow[list[Message]]:
        return (yield from self._read("get_messages", namespace, session_id, last_n))

    def clear_messages(self, namespace: str, session_id: str) -> Flow[None]:
        return (yield from self._write("clear_messages", namespace, session_id))

    def list_sessions(self, namespace: str) -> Flow[list[str]]:
        return (yield from self._read("list_sessions", namespace))

    # ------------------------------------------------------------ key-value
    def kv_put(
        self, collection: str, items: Sequence[tuple[str, bytes]], ttl: float | None = None
    ) -> Flow[None]:
        return (yield from self._write("kv_put", collection, items, ttl))

    def kv_get(self, collection: str, keys: Sequence[str]) -> Flow[list[bytes | None]]:
        return (yield from self._read("kv_get", collection, keys))

    def kv_delete(self, collection: str, keys: Sequence[str]) -> Flow[None]:
        return (yield from self._write("kv_delete", collection, keys))

    def kv_keys(self, collection: str, prefix: str | None = None) -> Flow[list[str]]:
        return (yield from self._read("kv_keys", collection, prefix))

    def kv_scan(
        self,
        collection: str,
        prefix: str | None = None,
        after: str | None = None,
        limit: int | None = None,
        reverse: bool = False,
    ) -> Flow[list[tuple[str, bytes]]]:
        return (yield from self._read("kv_scan", collection, prefix, after, limit, reverse))


def create_with_fallback(
    stores: Sequence[Any],
    *,
    min_backoff: float = 0.5,
    max_backoff: float = 30.0,
    journal_path: str | None = None,
    check_same_data: bool = True,
    default_metric: str = "cosine",
    default_ttl: float | None = None,
    **options: Any,
) -> Any:
    """One :class:`~bruno_memory_integrations.store.Store` over stores that back each other up.

    Args:
        stores: URLs, Stores or Backends, preferred first, meant to hold the same data.
        min_backoff: Seconds before the first health check of a lost store.
        max_backoff: Longest wait between two health checks of a lost store.
        journal_path: Keep the replay journal in this SQLite file, so writes a lost
            store missed survive the process (default: in memory).
        check_same_data: Refuse stores that visibly hold different data (their vector
            collections, record counts and default chat sessions differ): a read from
            the second would miss what only the first holds. Copy one into the other
            first, or pass ``False`` if you know they match.
        default_metric: The Store's default metric.
        default_ttl: The Store's default TTL (every store must support TTL).
        **options: Options for every store opened from a URL here.

    Returns:
        A Store; ``store.backend`` is the :class:`FallbackBackend` (``status()``,
        ``recover()``).
    """
    from ...registry import open_backend
    from ...store import Store

    opened: list[Backend] = []
    try:
        members = []
        for target in stores:
            backend = open_backend(target, **(options if isinstance(target, str) else {}))
            if isinstance(target, str):
                opened.append(backend)
            members.append(backend)
        backend = FallbackBackend(
            members, min_backoff=min_backoff, max_backoff=max_backoff, journal_path=journal_path
        )
        differ = backend.differences() if check_same_data else []
        if differ:
            backend._journal.close()
            raise ConfigurationError(
                "these stores do not hold the same data, so a read from a fallback store "
                "could miss what only the preferred one holds: " + "; ".join(differ)
                + ". Copy one into the others first (or start them empty), or pass "
                "check_same_data=False if you know they match"
            )
    except BaseException:
        for b in opened:
            b.close()
        raise
    return Store(backend, default_metric=default_metric, default_ttl=default_ttl)
