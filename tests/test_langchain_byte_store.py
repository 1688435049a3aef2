"""BrunoByteStore: LangChain's standard BaseStore suites plus our own behaviour."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_tests.integration_tests import BaseStoreAsyncTests, BaseStoreSyncTests

from bruno_memory_integrations import InvalidInputError, Store
from bruno_memory_integrations.langchain import BrunoByteStore

try:
    from stores import forbid_sync, require_capability
except ImportError:  # tests/ imported as a package
    from tests.stores import forbid_sync, require_capability


def _collection() -> str:
    return f"kv_{uuid.uuid4().hex[:10]}"


THREE = (b"foo-value", b"\x00\xffbinary\n", b"")


# --------------------------------------------------------------------------- standard suites
class TestLangChainSyncSuite(BaseStoreSyncTests[bytes]):
    """langchain-tests' BaseStoreSyncTests, on every backend."""

    @pytest.fixture
    def kv_store(self, store: Store) -> BrunoByteStore:
        return BrunoByteStore(store=store, collection=_collection())

    @pytest.fixture
    def three_values(self) -> tuple[bytes, bytes, bytes]:
        return THREE


class TestLangChainAsyncSuite(BaseStoreAsyncTests[bytes]):
    """langchain-tests' BaseStoreAsyncTests, on every backend, through async-only Store calls."""

    @pytest.fixture
    async def kv_store(self, store: Store, monkeypatch: pytest.MonkeyPatch) -> BrunoByteStore:
        forbid_sync(store, monkeypatch)
        return BrunoByteStore(store=store, collection=_collection())

    @pytest.fixture
    def three_values(self) -> tuple[bytes, bytes, bytes]:
        return THREE


# --------------------------------------------------------------------------- behaviour
def test_every_byte_value_round_trips(store: Store) -> None:
    kv = BrunoByteStore(store=store, collection=_collection())
    values = {"all": bytes(range(256)), "empty": b"", "big": b"x" * 200_000}
    kv.mset(list(values.items()))
    assert kv.mget(list(values)) == list(values.values())
    assert kv.mget(["empty"]) == [b""]  # empty bytes are a value, not a missing key


def test_prefix_is_literal(store: Store) -> None:
    """Characters special to LIKE / glob patterns in a prefix match only themselves."""
    kv = BrunoByteStore(store=store, collection=_collection())
    keys = ["a%b", "a_b", "axb", "a*c", "a[1]", "a\\d", "b"]
    kv.mset([(k, k.encode()) for k in keys])
    assert list(kv.yield_keys(prefix="a%")) == ["a%b"]
    assert list(kv.yield_keys(prefix="a_")) == ["a_b"]
    assert list(kv.yield_keys(prefix="a*")) == ["a*c"]
    assert list(kv.yield_keys(prefix="a[")) == ["a[1]"]
    assert list(kv.yield_keys(prefix="a\\")) == ["a\\d"]
    assert list(kv.yield_keys()) == sorted(keys)


def test_collections_are_isolated_and_persist(open_new_store: Callable[[], Store]) -> None:
    name = _collection()
    one = BrunoByteStore(store=open_new_store(), collection=name)
    other = BrunoByteStore(store=one.store, collection=name + "_other")
    one.mset([("k", b"1"), ("k'; DROP TABLE kv; --", b"2")])
    assert other.mget(["k"]) == [None]
    assert list(other.yield_keys()) == []
    reopened = BrunoByteStore(store=open_new_store(), collection=name)
    assert reopened.mget(["k", "k'; DROP TABLE kv; --"]) == [b"1", b"2"]


def test_mset_keeps_the_last_of_repeated_keys(store: Store) -> None:
    kv = BrunoByteStore(store=store, collection=_collection())
    kv.mset([("k", b"first"), ("other", b"o"), ("k", b"last")])
    assert kv.mget(["k", "other"]) == [b"last", b"o"]


def test_bad_input_is_refused_and_nothing_written(store: Store) -> None:
    kv = BrunoByteStore(store=store, collection=_collection())
    with pytest.raises(InvalidInputError, match="bytes"):
        kv.mset([("ok", b"1"), ("bad", "not bytes")])  # type: ignore[list-item]
    with pytest.raises(InvalidInputError):
        kv.mset([("", b"1")])
    assert list(kv.yield_keys()) == []


def test_ttl_expires_items(store: Store) -> None:
    require_capability(store, "ttl")
    kv = BrunoByteStore(store=store, collection=_collection(), ttl=1)
    kv.mset([("short", b"lived")])
    assert kv.mget(["short"]) == [b"lived"]
    time.sleep(1.6)
    assert kv.mget(["short"]) == [None]
    assert list(kv.yield_keys()) == []


# --------------------------------------------------------------------------- CacheBackedEmbeddings
class CountingEmbedding(DeterministicFakeEmbedding):
    """Counts the texts that reach the model, to see what the cache saved."""

    embedded: list[str]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.embedded.extend(texts)
        return super().embed_documents(texts)

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        self.embedded.extend(texts)
        return super().embed_documents(texts)


def _cache_backed() -> Any:
    try:
        from langchain_classic.embeddings import CacheBackedEmbeddings
    except ImportError:
        try:
            from langchain.embeddings import CacheBackedEmbeddings  # type: ignore[no-redef]
        except ImportError:
            pytest.skip("CacheBackedEmbeddings needs langchain-classic (or langchain<1) installed")
    return CacheBackedEmbeddings


def test_cache_backed_embeddings_reuse_stored_vectors(open_new_store: Callable[[], Store]) -> None:
    cache_cls = _cache_backed()
    name = _collection()
    model = CountingEmbedding(size=8, embedded=[])
    cached = cache_cls.from_bytes_store(
        model,
        BrunoByteStore(store=open_new_store(), collection=name),
        namespace="fake-8",
        key_encoder="sha256",
    )
    first = cached.embed_documents(["alpha", "beta"])
    assert model.embedded == ["alpha", "beta"]
    # A new process (new Store object) hits the same cache: only "gamma" is embedded.
    cached_again = cache_cls.from_bytes_store(
        model,
        BrunoByteStore(store=open_new_store(), collection=name),
        namespace="fake-8",
        key_encoder="sha256",
    )
    second = cached_again.embed_documents(["beta", "gamma", "alpha"])
    assert model.embedded == ["alpha", "beta", "gamma"]
    assert second[0] == first[1] and second[2] == first[0]
    keys = list(BrunoByteStore(store=open_new_store(), collection=name).yield_keys(prefix="fake-8"))
    assert len(keys) == 3


async def test_cache_backed_embeddings_async(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    forbid_sync(store, monkeypatch)
    cache_cls = _cache_backed()
    model = CountingEmbedding(size=8, embedded=[])
    cached = cache_cls.from_bytes_store(
        model,
        BrunoByteStore(store=store, collection=_collection()),
        namespace="fake-8",
        key_encoder="sha256",
    )
    first = await cached.aembed_documents(["alpha", "beta"])
    again = await cached.aembed_documents(["beta", "alpha", "delta"])
    assert model.embedded == ["alpha", "beta", "delta"]
    assert again[:2] == [first[1], first[0]]


def test_store_argument_accepts_a_url() -> None:
    kv = BrunoByteStore(store="memory://")
    try:
        kv.mset([("a", b"1")])
        assert kv.mget(["a", "b"]) == [b"1", None]
        assert kv.store.kv_keys("langchain_kv") == ["a"]
    finally:
        kv.store.close()
