"""The in-process reference backend: plain dicts and pure Python, no dependencies.

It is the oracle the conformance suite compares other backends with, so it is
written for obviousness, not speed. Data lives as long as the object.
URL: ``memory://`` (every ``open_store("memory://")`` is a new, empty store;
pass ``name=`` to share one store between opens in the same process).
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..backend import Backend, Hit
from ..capabilities import Capabilities
from ..filters import FilterNode, evaluate
from ..sansio import blocking
from ..scores import distance
from ..text import keyword_relevance
from ..types import CollectionInfo, Message, Page, Record

__all__ = ["MemoryBackend"]


@dataclass
class _Collection:
    info: CollectionInfo
    records: dict[str, tuple[Record, float | None]] = field(default_factory=dict)


class MemoryBackend(Backend):
    """Everything in dicts, guarded by one lock; TTL by expiry time checked on read."""

    name: ClassVar[str] = "memory"
    capabilities: ClassVar[Capabilities] = Capabilities(
        keyword_search=True, hybrid_search=True, ttl=True, persistent=False
    )
    _shared: ClassVar[dict[str, MemoryBackend]] = {}
    _shared_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, clock: Any = time.monotonic) -> None:
        self._lock = threading.RLock()
        self._clock = clock
        self._collections: dict[str, _Collection] = {}
        self._chat: dict[tuple[str, str], list[tuple[Message, float | None]]] = {}
        self._kv: dict[str, dict[str, tuple[bytes, float | None]]] = {}

    @classmethod
    def from_url(cls, url: str, name: str | None = None, **options: Any) -> MemoryBackend:
        if options:
            raise TypeError(f"unknown options for the memory backend: {sorted(options)}")
        if name is None:
            return cls()
        with cls._shared_lock:
            return cls._shared.setdefault(name, cls())

    def __repr__(self) -> str:
        return "MemoryBackend()"

    # ------------------------------------------------------------ helpers
    def _expiry(self, ttl: float | None) -> float | None:
        return None if ttl is None else self._clock() + ttl

    def _alive(self, expires: float | None) -> bool:
        return expires is None or expires > self._clock()

    def _live_records(self, collection: str) -> list[Record]:
        coll = self._collections.get(collection)
        if coll is None:
            return []
        return [r for r, exp in coll.records.values() if self._alive(exp)]

    @staticmethod
    def _copy(rec: Record, include_vectors: bool) -> Record:
        return Record(
            rec.id,
            rec.text,
            list(rec.vector) if include_vectors and rec.vector is not None else None,
            copy.deepcopy(rec.metadata),
        )

    # ------------------------------------------------------------ collections
    @blocking
    def create_collection(self, info: CollectionInfo) -> None:
        with self._lock:
            self._collections.setdefault(info.name, _Collection(info))

    @blocking
    def get_collection(self, name: str) -> CollectionInfo | None:
        coll = self._collections.get(name)
        return coll.info if coll else None

    @blocking
    def list_collections(self) -> list[str]:
        return sorted(self._collections)

    @blocking
    def drop_collection(self, name: str) -> None:
        with self._lock:
            self._collections.pop(name, None)

    # ------------------------------------------------------------ records
    @blocking
    def upsert(self, collection: str, records: Sequence[Record], ttl: float | None = None) -> None:
        with self._lock:
            coll = self._collections[collection]
            exp = self._expiry(ttl)
            for rec in records:
                coll.records[rec.id] = (self._copy(rec, True), exp)

    @blocking
    def get(
        self, collection: str, ids: Sequence[str], include_vectors: bool = True
    ) -> list[Record]:
        with self._lock:
            coll = self._collections.get(collection)
            if coll is None:
                return []
            out = []
            for i in ids:
                item = coll.records.get(i)
                if item is not None and self._alive(item[1]):
                    out.append(self._copy(item[0], include_vectors))
            return out

    @blocking
    def delete(self, collection: str, ids: Sequence[str]) -> int:
        return self._delete(collection, ids)

    def _delete(self, collection: str, ids: Sequence[str]) -> int:
        with self._lock:
            coll = self._collections.get(collection)
            if coll is None:
                return 0
            n = 0
            for i in ids:
                item = coll.records.pop(i, None)
                n += item is not None and self._alive(item[1])
            return n

    @blocking
    def delete_where(self, collection: str, where: FilterNode | None) -> int:
        with self._lock:
            doomed = [r.id for r in self._live_records(collection) if evaluate(where, r.metadata)]
            return self._delete(collection, doomed)

    @blocking
    def count(self, collection: str, where: FilterNode | None = None) -> int:
        with self._lock:
            return sum(evaluate(where, r.metadata) for r in self._live_records(collection))

    @blocking
    def scan(
        self,
        collection: str,
        where: FilterNode | None,
        limit: int,
        cursor: str | None,
        include_vectors: bool = False,
    ) -> Page:
        with self._lock:
            rows = sorted(
                (r for r in self._live_records(collection) if evaluate(where, r.metadata)),
                key=lambda r: r.id,
            )
        if cursor is not None:
            rows = [r for r in rows if r.id > cursor]
        page = rows[:limit]
        more = len(rows) > limit
        return Page([self._copy(r, include_vectors) for r in page], page[-1].id if more else None)

    @blocking
    def search(
        self,
        collection: str,
        vector: Sequence[float],
        k: int,
        where: FilterNode | None,
        include_vectors: bool = False,
    ) -> list[Hit]:
        with self._lock:
            coll = self._collections.get(collection)
            if coll is None:
                return []
            metric = coll.info.metric
            scored = [
                (distance(metric, list(vector), r.vector or []), r.id, r)
                for r in self._live_records(collection)
                if evaluate(where, r.metadata)
            ]
        scored.sort(key=lambda t: (t[0], t[1]))
        return [(self._copy(r, include_vectors), d) for d, _, r in scored[:k]]

    @blocking
    def keyword_search(
        self, collection: str, query: str, k: int, where: FilterNode | None
    ) -> list[Hit]:
        with self._lock:
            scored = []
            for r in self._live_records(collection):
                rel = keyword_relevance(query, r.text)
                if rel > 0 and evaluate(where, r.metadata):
                    scored.append((rel, r.id, r))
        scored.sort(key=lambda t: (-t[0], t[1]))
        return [(self._copy(r, False), rel) for rel, _, r in scored[:k]]

    # ------------------------------------------------------------ chat
    @blocking
    def append_messages(
        self, namespace: str, session_id: str, messages: Sequence[Message], ttl: float | None = None
    ) -> None:
        with self._lock:
            log = self._chat.setdefault((namespace, session_id), [])
            log[:] = [(m, exp) for m, exp in log if self._alive(exp)]
            # Like Redis: the whole session expires ttl after its last write with a ttl;
            # a write without one keeps the session's expiry.
            exp = log[-1][1] if log else None
            if ttl is not None:
                exp = self._expiry(ttl)
                log[:] = [(m, exp) for m, _ in log]
            log.extend((copy.deepcopy(m), exp) for m in messages)

    def _session(self, namespace: str, session_id: str) -> list[Message]:
        log = self._chat.get((namespace, session_id), [])
        return [m for m, exp in log if self._alive(exp)]

    @blocking
    def get_messages(
        self, namespace: str, session_id: str, last_n: int | None = None
    ) -> list[Message]:
        with self._lock:
            if last_n is None:
                return copy.deepcopy(self._session(namespace, session_id))
            # Walk back from the end: the last N live messages cost O(N), not O(session).
            picked: list[Message] = []
            for m, exp in reversed(self._chat.get((namespace, session_id), [])):
                if len(picked) >= last_n:
                    break
                if self._alive(exp):
                    picked.append(m)
            return copy.deepcopy(picked[::-1])

    @blocking
    def clear_messages(self, namespace: str, session_id: str) -> None:
        with self._lock:
            self._chat.pop((namespace, session_id), None)

    @blocking
    def list_sessions(self, namespace: str) -> list[str]:
        with self._lock:
            return sorted(s for (ns, s) in self._chat if ns == namespace and self._session(ns, s))

    # ------------------------------------------------------------ expiry
    @blocking
    def purge_expired(self) -> int:
        with self._lock:
            n = 0
            for coll in self._collections.values():
                gone = [i for i, (_, exp) in coll.records.items() if not self._alive(exp)]
                for i in gone:
                    del coll.records[i]
                n += len(gone)
            for key, log in list(self._chat.items()):
                live = [(m, exp) for m, exp in log if self._alive(exp)]
                n += len(log) - len(live)
                if live:
                    log[:] = live
                else:
                    del self._chat[key]
            for bucket in self._kv.values():
                gone = [k for k, (_, exp) in bucket.items() if not self._alive(exp)]
                for k in gone:
                    del bucket[k]
                n += len(gone)
            return n

    # ------------------------------------------------------------ key-value
    @blocking
    def kv_put(
        self, collection: str, items: Sequence[tuple[str, bytes]], ttl: float | None = None
    ) -> None:
        with self._lock:
            bucket = self._kv.setdefault(collection, {})
            exp = self._expiry(ttl)
            for key, value in items:
                bucket[key] = (bytes(value), exp)

    @blocking
    def kv_get(self, collection: str, keys: Sequence[str]) -> list[bytes | None]:
        with self._lock:
            bucket = self._kv.get(collection, {})
            out: list[bytes | None] = []
            for key in keys:
                item = bucket.get(key)
                out.append(item[0] if item is not None and self._alive(item[1]) else None)
            return out

    @blocking
    def kv_delete(self, collection: str, keys: Sequence[str]) -> None:
        with self._lock:
            bucket = self._kv.get(collection, {})
            for key in keys:
                bucket.pop(key, None)

    @blocking
    def kv_keys(self, collection: str, prefix: str | None = None) -> list[str]:
        with self._lock:
            bucket = self._kv.get(collection, {})
            return sorted(
                k for k, (_, exp) in bucket.items()
                if self._alive(exp) and (prefix is None or k.startswith(prefix))
            )

    @blocking
    def kv_scan(
        self,
        collection: str,
        prefix: str | None = None,
        after: str | None = None,
        limit: int | None = None,
        reverse: bool = False,
    ) -> list[tuple[str, bytes]]:
        with self._lock:
            bucket = self._kv.get(collection, {})
            items = sorted(
                (
                    (k, v) for k, (v, exp) in bucket.items()
                    if self._alive(exp)
                    and (prefix is None or k.startswith(prefix))
                    and (after is None or (k < after if reverse else k > after))
                ),
                reverse=reverse,
            )
            return items[:limit] if limit is not None else items
