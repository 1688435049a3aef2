"""Tenants: one store shared by many tenants, none able to reach another's data.

:meth:`Store.tenant` returns a view of a store in which every name a caller
gives (vector collection, key-value collection, chat namespace) lives in the
tenant's own space: the backend sees ``"<tenant>\\x1f<name>"``. Every backend
operation is scoped to one collection or one chat namespace, so a view can reach
only names that start with its tenant: no id, filter, scan cursor, keyword query
or key prefix can cross into another tenant, because none of them can name a
collection. Listings (collections) show only the tenant's names, without the
prefix. The tenant name may not contain ``\\x1f``, so two tenants' spaces never
overlap (and a tenant's view of a tenant nests: ``a\\x1fb\\x1f<name>``).

The root store (the one ``open_store`` returned) sees every tenant's
collections under their full names: it is the administrator's view. How each
backend keeps collections apart is in docs/cookbook/tenants.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any, TypeVar

from .backend import Backend, Hit, MakeOp
from .errors import InvalidNameError
from .filters import FilterNode
from .sansio import Op, non_idempotent
from .types import CollectionInfo, Message, Page, Record
from .validation import MAX_KEY_BYTES, check_name

__all__ = ["TENANT_SEPARATOR", "TenantBackend", "check_tenant"]

T = TypeVar("T")

#: Between a tenant and a name (ASCII unit separator: never in ordinary names).
TENANT_SEPARATOR = "\x1f"


def check_tenant(tenant: Any) -> str:
    """A tenant name: a valid name (see ``check_name``) without ``\\x1f``."""
    check_name(tenant, "tenant")
    if TENANT_SEPARATOR in tenant:
        raise InvalidNameError(
            "a tenant name cannot contain the character \\x1f (it separates tenant and name)"
        )
    return str(tenant)


class TenantBackend(Backend):
    """A backend whose collection and namespace names live under one tenant's prefix.

    It runs every operation on ``inner`` (same connections, same capabilities);
    closing it closes ``inner`` only when ``owns`` is true.
    """

    def __init__(self, inner: Backend, tenant: str, *, owns: bool = False) -> None:
        self.inner = inner
        self.tenant = check_tenant(tenant)
        self.prefix = self.tenant + TENANT_SEPARATOR
        self.name = inner.name  # type: ignore[misc]
        self.capabilities = inner.capabilities  # type: ignore[misc]
        self._owns = owns

    def __repr__(self) -> str:
        return f"{self.inner!r}.tenant({self.tenant!r})"

    def _n(self, name: str, what: str = "collection") -> str:
        full = self.prefix + name
        size = len(full.encode("utf-8"))
        if size > MAX_KEY_BYTES:
            raise InvalidNameError(
                f"a {what} name with its tenant prefix is at most {MAX_KEY_BYTES} bytes of "
                f"UTF-8, got {size} bytes; use a shorter name or tenant"
            )
        return full

    # ------------------------------------------------------------ running
    def execute(self, step: Any) -> Any:
        return self.inner.execute(step)

    async def aexecute(self, step: Any) -> Any:
        return await self.inner.aexecute(step)

    def run(self, make: MakeOp[T]) -> T:
        return self.inner.run(make)

    async def arun(self, make: MakeOp[T]) -> T:
        return await self.inner.arun(make)

    # ------------------------------------------------------------ collections
    def create_collection(self, info: CollectionInfo) -> Op[None]:
        return (yield from self.inner.create_collection(replace(info, name=self._n(info.name))))

    def get_collection(self, name: str) -> Op[CollectionInfo | None]:
        info = yield from self.inner.get_collection(self._n(name))
        return None if info is None else replace(info, name=name)

    def list_collections(self) -> Op[list[str]]:
        names = yield from self.inner.list_collections()
        p = self.prefix
        return [n[len(p):] for n in names if n.startswith(p)]

    def drop_collection(self, name: str) -> Op[None]:
        return (yield from self.inner.drop_collection(self._n(name)))

    # ---------------------------------------------------------------- records
    def upsert(
        self, collection: str, records: Sequence[Record], ttl: float | None = None
    ) -> Op[None]:
        return (yield from self.inner.upsert(self._n(collection), records, ttl))

    def get(
        self, collection: str, ids: Sequence[str], include_vectors: bool = True
    ) -> Op[list[Record]]:
        return (yield from self.inner.get(self._n(collection), ids, include_vectors))

    def delete(self, collection: str, ids: Sequence[str]) -> Op[int]:
        return (yield from self.inner.delete(self._n(collection), ids))

    def delete_where(self, collection: str, where: FilterNode | None) -> Op[int]:
        return (yield from self.inner.delete_where(self._n(collection), where))

    def count(self, collection: str, where: FilterNode | None = None) -> Op[int]:
        return (yield from self.inner.count(self._n(collection), where))

    def scan(
        self,
        collection: str,
        where: FilterNode | None,
        limit: int,
        cursor: str | None,
        include_vectors: bool = False,
    ) -> Op[Page]:
        return (
            yield from self.inner.scan(self._n(collection), where, limit, cursor, include_vectors)
        )

    def search(
        self,
        collection: str,
        vector: Sequence[float],
        k: int,
        where: FilterNode | None,
        include_vectors: bool = False,
    ) -> Op[list[Hit]]:
        return (
            yield from self.inner.search(self._n(collection), vector, k, where, include_vectors)
        )

    def keyword_search(
        self, collection: str, query: str, k: int, where: FilterNode | None
    ) -> Op[list[Hit]]:
        return (yield from self.inner.keyword_search(self._n(collection), query, k, where))

    def hybrid_search(
        self,
        collection: str,
        query: str,
        vector: Sequence[float],
        k: int,
        where: FilterNode | None,
    ) -> Op[list[Hit]]:
        return (
            yield from self.inner.hybrid_search(self._n(collection), query, vector, k, where)
        )

    # ---------------------------------------------------------------- chat
    @non_idempotent  # as the inner append may be
    def append_messages(
        self, namespace: str, session_id: str, messages: Sequence[Message], ttl: float | None = None
    ) -> Op[None]:
        return (
            yield from self.inner.append_messages(
                self._n(namespace, "namespace"), session_id, messages, ttl
            )
        )

    def get_messages(
        self, namespace: str, session_id: str, last_n: int | None = None
    ) -> Op[list[Message]]:
        return (
            yield from self.inner.get_messages(self._n(namespace, "namespace"), session_id, last_n)
        )

    def clear_messages(self, namespace: str, session_id: str) -> Op[None]:
        return (yield from self.inner.clear_messages(self._n(namespace, "namespace"), session_id))

    def list_sessions(self, namespace: str) -> Op[list[str]]:
        return (yield from self.inner.list_sessions(self._n(namespace, "namespace")))

    # ---------------------------------------------------------------- key-value
    def kv_put(
        self, collection: str, items: Sequence[tuple[str, bytes]], ttl: float | None = None
    ) -> Op[None]:
        name = self._n(collection, "key-value collection")
        return (yield from self.inner.kv_put(name, items, ttl))

    def kv_get(self, collection: str, keys: Sequence[str]) -> Op[list[bytes | None]]:
        return (yield from self.inner.kv_get(self._n(collection, "key-value collection"), keys))

    def kv_delete(self, collection: str, keys: Sequence[str]) -> Op[None]:
        return (yield from self.inner.kv_delete(self._n(collection, "key-value collection"), keys))

    def kv_keys(self, collection: str, prefix: str | None = None) -> Op[list[str]]:
        return (
            yield from self.inner.kv_keys(self._n(collection, "key-value collection"), prefix)
        )

    def kv_scan(
        self,
        collection: str,
        prefix: str | None = None,
        after: str | None = None,
        limit: int | None = None,
        reverse: bool = False,
    ) -> Op[list[tuple[str, bytes]]]:
        name = self._n(collection, "key-value collection")
        return (yield from self.inner.kv_scan(name, prefix, after, limit, reverse))

    # ---------------------------------------------------------------- expiry
    def purge_expired(self) -> Op[int]:
        """Purges the whole store (expiry is not a tenant's data: nothing expired is visible)."""
        return (yield from self.inner.purge_expired())

    # ================================================================ lifecycle
    def close(self) -> None:
        if self._owns:
            self.inner.close()

    async def aclose(self) -> None:
        if self._owns:
            await self.inner.aclose()
