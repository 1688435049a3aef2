"""The Qdrant backend against a real Qdrant server: runs when ``QDRANT_URL`` is set.

No Qdrant server can run on the test machines (no binary in the package
registries), so this suite is skipped there, with that reason. Against a server
(``QDRANT_URL=http://localhost:6333``, plus ``QDRANT_API_KEY`` for Qdrant Cloud)
it runs the whole conformance suite over HTTP and over gRPC; the adapter suites
(LangChain, LlamaIndex, langchain-tests, cross-framework) run on the same server
through ``tests/stores.py``, which uses ``QDRANT_URL`` for its ``qdrant`` kind when
set. Every test uses its own collection prefix and deletes its collections after.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable, Iterator

import pytest

pytest.importorskip("qdrant_client", reason="the qdrant extra (qdrant-client) is not installed")

from bruno_memory_integrations import BackendUnavailableError, Record, Store, open_store
from bruno_memory_integrations.backends.qdrant.query import call
from bruno_memory_integrations.testing import ConformanceTests

try:
    from stores import qdrant_live_target
except ImportError:  # tests/ imported as a package
    from tests.stores import qdrant_live_target

pytestmark = pytest.mark.live

Live = tuple[str, dict[str, str], Callable[[], None]]


@pytest.fixture
def live() -> Iterator[tuple[str, dict[str, str], Callable[[], None]]]:
    target = qdrant_live_target()
    if target is None:
        pytest.skip(
            "QDRANT_URL is not set: the live suite needs a Qdrant server (1.17 or later); "
            "e.g. QDRANT_URL=http://localhost:6333 [QDRANT_API_KEY=...]"
        )
    url, options, cleanup = target
    yield url, options, cleanup
    cleanup()


class TestQdrantServerConformance(ConformanceTests):
    """A real Qdrant server over HTTP (REST)."""

    @pytest.fixture
    def make_store(self, live: Live) -> Callable[[], Store]:
        url, options, _ = live
        return lambda: open_store(url, **options)


class TestQdrantServerGrpcConformance(ConformanceTests):
    """The same server over gRPC (``prefer_grpc=True``)."""

    @pytest.fixture
    def make_store(self, live: Live) -> Callable[[], Store]:
        url, options, _ = live
        return lambda: open_store(url, prefer_grpc=True, **options)


def test_live_payload_indexes_and_async_clients_close(
    live: tuple[str, dict[str, str], Callable[[], None]],
) -> None:
    url, options, _ = live
    store = open_store(url, **options)
    store.upsert("c", [Record(f"r{i}", "", [1.0, float(i)], {"k": str(i % 3)}) for i in range(30)])
    assert store.count("c", filter={"k": "1"}) == 10
    backend = store.backend
    schema = backend.execute(
        call("get_collection", collection_name=backend._qname("c"))  # type: ignore[attr-defined]
    ).payload_schema
    assert any(path.startswith("f.s") for path in schema)  # made by the first filter

    conn = backend._conn  # type: ignore[attr-defined]

    async def count() -> None:
        assert await store.acount("c") == 30
        assert conn.open_async_clients == 1

    asyncio.run(count())
    assert conn.open_async_clients == 0  # closed when its loop shut down

    async def use() -> None:
        assert await store.acount("c") == 30
        await store.aclose()

    asyncio.run(use())
    assert conn.open_async_clients == 0


def test_live_wrong_api_key_or_port_is_unavailable_or_refused() -> None:
    if qdrant_live_target() is None:
        pytest.skip("QDRANT_URL is not set: the live suite needs a Qdrant server")
    url = os.environ["QDRANT_URL"].replace("https://", "qdrants://").replace("http://", "qdrant://")
    with pytest.raises(BackendUnavailableError):
        open_store(url.rsplit(":", 1)[0] + ":1", api_key=f"wrong-{uuid.uuid4().hex}")
