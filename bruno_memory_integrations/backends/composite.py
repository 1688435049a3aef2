"""A composite store: vector records, chat messages and key-value items in different stores.

``open_store(records="qdrant://…", chat="sqlite:///chat.db", kv="redis://…")``
returns one :class:`~bruno_memory_integrations.store.Store`; each kind of data goes
to its part, so every adapter works on it unchanged (a LangChain vector store reads
the records part, a chat history the chat part, a byte store the key-value part).
A kind with no part is an absent capability: the Store refuses it with
``NotSupportedError`` before anything is sent.

Capabilities come from the part that does the work: keyword and hybrid search,
metrics, nested metadata and refused filters from the records part; ``chat`` and
``kv`` from their parts; ``ttl`` and ``persistent`` only when every part has them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..backend import Backend, DelegatingBackend, Hit, on
from ..capabilities import Capabilities
from ..errors import ConfigurationError, NotSupportedError
from ..filters import FilterNode
from ..sansio import Op, non_idempotent
from ..types import CollectionInfo, Message, Page, Record

__all__ = ["CompositeBackend", "open_composite"]

KINDS = ("records", "chat", "kv")


def _capabilities(
    records: Backend | None, chat: Backend | None, kv: Backend | None
) -> Capabilities:
    parts = [p for p in (records, chat, kv) if p is not None]
    base = records.capabilities if records is not None else Capabilities()
    return base.with_(
        native_async=True,  # every step awaits the part's own arun: never blocks the loop
        chat=chat is not None and chat.capabilities.chat,
        kv=kv is not None and kv.capabilities.kv,
        kv_ranges=kv is not None and kv.capabilities.kv_ranges,
        ttl=all(p.capabilities.ttl for p in parts),
        persistent=all(p.capabilities.persistent for p in parts),
    )


class CompositeBackend(DelegatingBackend):
    """Records, chat and key-value operations sent to three (possibly equal) parts.

    Args:
        records: The backend for vector records (``None``: the store has none).
        chat: The backend for chat messages (``None``: none).
        kv: The backend for key-value items (``None``: none).

    Closing the composite closes every part once.
    """

    name = "composite"

    def __init__(
        self,
        records: Backend | None = None,
        chat: Backend | None = None,
        kv: Backend | None = None,
    ) -> None:
        if records is None and chat is None and kv is None:
            raise ConfigurationError("a composite store needs at least one of records, chat, kv")
        self.records, self.chat, self.kv = records, chat, kv
        self.capabilities = _capabilities(records, chat, kv)  # type: ignore[misc]
        described = ", ".join(
            f"{kind}={part.name if part is not None else 'none'}"
            for kind, part in zip(KINDS, (records, chat, kv), strict=True)
        )
        self.name = f"composite({described})"  # type: ignore[misc]

    def __repr__(self) -> str:
        return f"CompositeBackend(records={self.records!r}, chat={self.chat!r}, kv={self.kv!r})"

    def parts(self) -> Sequence[Backend]:
        out: list[Backend] = []
        for part in (self.records, self.chat, self.kv):
            if part is not None and all(part is not p for p in out):
                out.append(part)
        return out

    @property
    def _r(self) -> Backend:
        if self.records is None:
            raise NotSupportedError(
                self.name, "vector records", "pass records=URL to open_store to keep them"
            )
        return self.records

    @property
    def _c(self) -> Backend:
        assert self.chat is not None  # the Store checks the chat capability first
        return self.chat

    @property
    def _k(self) -> Backend:
        assert self.kv is not None  # the Store checks the kv capability first
        return self.kv

    # ------------------------------------------------------------ collections
    def create_collection(self, info: CollectionInfo) -> Op[None]:
        return (yield on(self._r, self._r.create_collection, info))

    def get_collection(self, name: str) -> Op[CollectionInfo | None]:
        if self.records is None:
            return None
        return (yield on(self._r, self._r.get_collection, name))

    def list_collections(self) -> Op[list[str]]:
        if self.records is None:
            return []
        return (yield on(self._r, self._r.list_collections))

    def drop_collection(self, name: str) -> Op[None]:
        if self.records is not None:
            yield on(self._r, self._r.drop_collection, name)

    # ------------------------------------------------------------ records
    def upsert(
        self, collection: str, records: Sequence[Record], ttl: float | None = None
    ) -> Op[None]:
        return (yield on(self._r, self._r.upsert, collection, records, ttl))

    def get(
        self, collection: str, ids: Sequence[str], include_vectors: bool = True
    ) -> Op[list[Record]]:
        return (yield on(self._r, self._r.get, collection, ids, include_vectors))

    def delete(self, collection: str, ids: Sequence[str]) -> Op[int]:
        return (yield on(self._r, self._r.delete, collection, ids))

    def delete_where(self, collection: str, where: FilterNode | None) -> Op[int]:
        return (yield on(self._r, self._r.delete_where, collection, where))

    def count(self, collection: str, where: FilterNode | None = None) -> Op[int]:
        return (yield on(self._r, self._r.count, collection, where))

    def scan(
        self,
        collection: str,
        where: FilterNode | None,
        limit: int,
        cursor: str | None,
        include_vectors: bool = False,
    ) -> Op[Page]:
        return (
            yield on(self._r, self._r.scan, collection, where, limit, cursor, include_vectors)
        )

    def search(
        self,
        collection: str,
        vector: Sequence[float],
        k: int,
        where: FilterNode | None,
        include_vectors: bool = False,
    ) -> Op[list[Hit]]:
        return (yield on(self._r, self._r.search, collection, vector, k, where, include_vectors))

    def keyword_search(
        self, collection: str, query: str, k: int, where: FilterNode | None
    ) -> Op[list[Hit]]:
        return (yield on(self._r, self._r.keyword_search, collection, query, k, where))

    def hybrid_search(
        self,
        collection: str,
        query: str,
        vector: Sequence[float],
        k: int,
        where: FilterNode | None,
    ) -> Op[list[Hit]]:
        return (yield on(self._r, self._r.hybrid_search, collection, query, vector, k, where))

    # ------------------------------------------------------------ chat
    @non_idempotent
    def append_messages(
        self, namespace: str, session_id: str, messages: Sequence[Message], ttl: float | None = None
    ) -> Op[None]:
        yield on(self._c, self._c.append_messages, namespace, session_id, messages, ttl)

    def get_messages(
        self, namespace: str, session_id: str, last_n: int | None = None
    ) -> Op[list[Message]]:
        return (yield on(self._c, self._c.get_messages, namespace, session_id, last_n))

    def clear_messages(self, namespace: str, session_id: str) -> Op[None]:
        yield on(self._c, self._c.clear_messages, namespace, session_id)

    def list_sessions(self, namespace: str) -> Op[list[str]]:
        return (yield on(self._c, self._c.list_sessions, namespace))

    # ------------------------------------------------------------ key-value
    def kv_put(
        self, collection: str, items: Sequence[tuple[str, bytes]], ttl: float | None = None
    ) -> Op[None]:
        yield on(self._k, self._k.kv_put, collection, items, ttl)

    def kv_get(self, collection: str, keys: Sequence[str]) -> Op[list[bytes | None]]:
        return (yield on(self._k, self._k.kv_get, collection, keys))

    def kv_delete(self, collection: str, keys: Sequence[str]) -> Op[None]:
        yield on(self._k, self._k.kv_delete, collection, keys)

    def kv_keys(self, collection: str, prefix: str | None = None) -> Op[list[str]]:
        return (yield on(self._k, self._k.kv_keys, collection, prefix))

    def kv_scan(
        self,
        collection: str,
        prefix: str | None = None,
        after: str | None = None,
        limit: int | None = None,
        reverse: bool = False,
    ) -> Op[list[tuple[str, bytes]]]:
        return (yield on(self._k, self._k.kv_scan, collection, prefix, after, limit, reverse))


def open_composite(
    base: Any = None,
    *,
    records: Any = None,
    chat: Any = None,
    kv: Any = None,
    **options: Any,
) -> CompositeBackend:
    """Open the parts (URLs, Stores, Backends or clients) and combine them.

    A kind not named lives in ``base`` when given, else it is absent. The same URL
    named twice opens one backend, shared by both kinds. ``options`` go to every
    part opened from a URL here.
    """
    from ..registry import open_backend

    chosen = {"records": records, "chat": chat, "kv": kv}
    opened: dict[Any, Backend] = {}
    made: list[Backend] = []

    def part(target: Any) -> Backend | None:
        if target is None:
            return None
        key = target if isinstance(target, str) else id(target)
        if key not in opened:
            backend = open_backend(target, **(options if isinstance(target, str) else {}))
            if isinstance(target, str):
                made.append(backend)
            opened[key] = backend
        return opened[key]

    try:
        parts = {kind: part(chosen[kind] if chosen[kind] is not None else base) for kind in KINDS}
    except BaseException:
        for backend in made:
            backend.close()
        raise
    return CompositeBackend(parts["records"], parts["chat"], parts["kv"])
