"""LlamaIndex key-value, document and index stores over any :class:`~.Store`.

``BrunoKVStore`` keeps each LlamaIndex collection (``"docstore/data"``, ...) as a
key-value collection named ``"<namespace>/<collection>"`` with values as UTF-8
JSON; ``BrunoDocumentStore`` and ``BrunoIndexStore`` are LlamaIndex's own
``KVDocumentStore`` / ``KVIndexStore`` on top of it, so a whole
``StorageContext`` can live in one database.
"""

from __future__ import annotations

import json
from typing import Any

from llama_index.core.storage.docstore.keyval_docstore import KVDocumentStore
from llama_index.core.storage.index_store.keyval_index_store import KVIndexStore
from llama_index.core.storage.kvstore.types import DEFAULT_COLLECTION, BaseKVStore

from ..adapters_common import StoreOwner
from ..errors import InvalidInputError
from ..store import Store
from ..validation import check_name

__all__ = ["DEFAULT_KV_BATCH_SIZE", "BrunoDocumentStore", "BrunoIndexStore", "BrunoKVStore"]

#: Items per write in ``put_all`` and in the document store (LlamaIndex's default is 1).
DEFAULT_KV_BATCH_SIZE = 100
#: Keys per read in ``get_all``.
_READ_BATCH = 500


def _encode(key: str, val: dict[str, Any]) -> bytes:
    if not isinstance(val, dict):
        raise InvalidInputError(f"values are dicts, got {type(val).__name__} for key {key!r}")
    try:
        return json.dumps(val, ensure_ascii=False).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"the value for key {key!r} is not JSON: {exc}") from exc


def _decode(raw: bytes | None) -> dict[str, Any] | None:
    return None if raw is None else json.loads(raw.decode("utf-8"))


def _check_batch(batch_size: int) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidInputError(f"batch_size must be a positive integer, got {batch_size!r}")
    return batch_size


class BrunoKVStore(StoreOwner, BaseKVStore):
    """LlamaIndex key-value store backed by any ``Store``; every async method is native.

    Args:
        store: A :class:`~bruno_memory_integrations.Store`, a store URL or a driver client.
        namespace: Prefix of the store's key-value collections, so LlamaIndex's
            collection names (``"data"``, ``"docstore/data"`` ...) don't clash with
            other users of the same store.
    """

    def __init__(
        self, store: Store | str | Any, *, namespace: str = "llama_index", tenant: str | None = None
    ) -> None:
        check_name(namespace, "namespace")
        self._attach_store(store, tenant=tenant)
        self.namespace = namespace
        self.tenant = tenant

    def _coll(self, collection: str) -> str:
        check_name(collection, "key-value collection")
        return f"{self.namespace}/{collection}"

    # ------------------------------------------------------------------ sync
    def put(self, key: str, val: dict[str, Any], collection: str = DEFAULT_COLLECTION) -> None:
        """Set ``key`` to ``val`` (a JSON-serializable dict)."""
        self._store.kv_mset(self._coll(collection), [(key, _encode(key, val))])

    def put_all(
        self,
        kv_pairs: list[tuple[str, dict[str, Any]]],
        collection: str = DEFAULT_COLLECTION,
        batch_size: int = DEFAULT_KV_BATCH_SIZE,
    ) -> None:
        """Set many items, ``batch_size`` per write."""
        coll = self._coll(collection)
        size = _check_batch(batch_size)
        items = [(k, _encode(k, v)) for k, v in kv_pairs]
        for start in range(0, len(items), size):
            self._store.kv_mset(coll, items[start : start + size])

    def get(self, key: str, collection: str = DEFAULT_COLLECTION) -> dict[str, Any] | None:
        """The value of ``key``, or ``None``."""
        return _decode(self._store.kv_mget(self._coll(collection), [key])[0])

    def get_all(self, collection: str = DEFAULT_COLLECTION) -> dict[str, dict[str, Any]]:
        """Every item of a collection."""
        coll = self._coll(collection)
        keys = self._store.kv_keys(coll)
        out: dict[str, dict[str, Any]] = {}
        for start in range(0, len(keys), _READ_BATCH):
            chunk = keys[start : start + _READ_BATCH]
            for k, raw in zip(chunk, self._store.kv_mget(coll, chunk), strict=True):
                if raw is not None:  # deleted since listed
                    out[k] = json.loads(raw.decode("utf-8"))
        return out

    def delete(self, key: str, collection: str = DEFAULT_COLLECTION) -> bool:
        """Delete ``key``; returns whether it was there."""
        coll = self._coll(collection)
        existed = self._store.kv_mget(coll, [key])[0] is not None
        if existed:
            self._store.kv_mdelete(coll, [key])
        return existed

    # ------------------------------------------------------------------ async
    async def aput(
        self, key: str, val: dict[str, Any], collection: str = DEFAULT_COLLECTION
    ) -> None:
        """Async :meth:`put`."""
        await self._store.akv_mset(self._coll(collection), [(key, _encode(key, val))])

    async def aput_all(
        self,
        kv_pairs: list[tuple[str, dict[str, Any]]],
        collection: str = DEFAULT_COLLECTION,
        batch_size: int = DEFAULT_KV_BATCH_SIZE,
    ) -> None:
        """Async :meth:`put_all`."""
        coll = self._coll(collection)
        size = _check_batch(batch_size)
        items = [(k, _encode(k, v)) for k, v in kv_pairs]
        for start in range(0, len(items), size):
            await self._store.akv_mset(coll, items[start : start + size])

    async def aget(self, key: str, collection: str = DEFAULT_COLLECTION) -> dict[str, Any] | None:
        """Async :meth:`get`."""
        return _decode((await self._store.akv_mget(self._coll(collection), [key]))[0])

    async def aget_all(self, collection: str = DEFAULT_COLLECTION) -> dict[str, dict[str, Any]]:
        """Async :meth:`get_all`."""
        coll = self._coll(collection)
        keys = await self._store.akv_keys(coll)
        out: dict[str, dict[str, Any]] = {}
        for start in range(0, len(keys), _READ_BATCH):
            chunk = keys[start : start + _READ_BATCH]
            for k, raw in zip(chunk, await self._store.akv_mget(coll, chunk), strict=True):
                if raw is not None:
                    out[k] = json.loads(raw.decode("utf-8"))
        return out

    async def adelete(self, key: str, collection: str = DEFAULT_COLLECTION) -> bool:
        """Async :meth:`delete`."""
        coll = self._coll(collection)
        existed = (await self._store.akv_mget(coll, [key]))[0] is not None
        if existed:
            await self._store.akv_mdelete(coll, [key])
        return existed


class _KVOwner:
    """``store``, ``close()`` and ``aclose()`` for the stores built on a
    :class:`BrunoKVStore`: they close the underlying store only if it was opened
    here (from a URL or a client), like every adapter."""

    _bruno_kvstore: BrunoKVStore

    @property
    def kvstore(self) -> BrunoKVStore:
        """The key-value store underneath."""
        return self._bruno_kvstore

    @property
    def store(self) -> Store:
        """The underlying :class:`~bruno_memory_integrations.Store`."""
        return self._bruno_kvstore.store

    def close(self) -> None:
        """Close the store if this object opened it from a URL or client."""
        self._bruno_kvstore.close()

    async def aclose(self) -> None:
        """Async :meth:`close`."""
        await self._bruno_kvstore.aclose()


class BrunoDocumentStore(_KVOwner, KVDocumentStore):
    """LlamaIndex document store (``KVDocumentStore``) over a :class:`BrunoKVStore`.

    Args:
        store: A :class:`~bruno_memory_integrations.Store`, a store URL or a driver client.
        namespace: The document store's namespace (LlamaIndex's default: ``"docstore"``).
        batch_size: Items per write when adding documents (LlamaIndex's default, 1,
            writes row by row).
        kv_namespace: Prefix of the key-value collections (see :class:`BrunoKVStore`).
        tenant: Keep everything in this tenant's space (see ``Store.tenant``).
        **kwargs: Other ``KVDocumentStore`` options (collection suffixes).
    """

    def __init__(
        self,
        store: Store | str | Any,
        *,
        namespace: str | None = None,
        batch_size: int = DEFAULT_KV_BATCH_SIZE,
        kv_namespace: str = "llama_index",
        tenant: str | None = None,
        **kwargs: Any,
    ) -> None:
        self._bruno_kvstore = BrunoKVStore(store, namespace=kv_namespace, tenant=tenant)
        super().__init__(
            self._bruno_kvstore, namespace=namespace, batch_size=_check_batch(batch_size), **kwargs
        )


class BrunoIndexStore(_KVOwner, KVIndexStore):
    """LlamaIndex index store (``KVIndexStore``) over a :class:`BrunoKVStore`.

    Args:
        store: A :class:`~bruno_memory_integrations.Store`, a store URL or a driver client.
        namespace: The index store's namespace (LlamaIndex's default: ``"index_store"``).
        kv_namespace: Prefix of the key-value collections (see :class:`BrunoKVStore`).
        tenant: Keep everything in this tenant's space (see ``Store.tenant``).
        **kwargs: Other ``KVIndexStore`` options (``collection_suffix``).
    """

    def __init__(
        self,
        store: Store | str | Any,
        *,
        namespace: str | None = None,
        kv_namespace: str = "llama_index",
        tenant: str | None = None,
        **kwargs: Any,
    ) -> None:
        self._bruno_kvstore = BrunoKVStore(store, namespace=kv_namespace, tenant=tenant)
        super().__init__(self._bruno_kvstore, namespace=namespace, **kwargs)
