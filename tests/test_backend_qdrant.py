"""The Qdrant backend: conformance on local mode, the translator on the real engine, specifics.

No Qdrant server can run on the test machines, so the conformance suite runs on
qdrant-client's local mode (Qdrant's Python emulation: in memory, and on disk
where persistence is the point). The filter translation is also run on the real
Rust engine in-process (qdrant-edge-py, ``test_qdrant_edge.py``). The live suite
(``test_qdrant_live.py``) runs everything against a server when ``QDRANT_URL`` is set.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytest.importorskip("qdrant_client", reason="the qdrant extra (qdrant-client) is not installed")

from qdrant_client import QdrantClient

from bruno_memory_integrations import Store, open_store
from bruno_memory_integrations.testing import ConformanceTests


@pytest.fixture
def memory_client() -> Iterator[QdrantClient]:
    client = QdrantClient(location=":memory:")
    yield client
    client.close()


class TestQdrantLocalMemoryConformance(ConformanceTests):
    """Local mode in memory: one caller's client shared by the test's stores."""

    @pytest.fixture
    def make_store(self, memory_client: QdrantClient) -> Callable[[], Store]:
        return lambda: open_store(memory_client)


class TestQdrantLocalNamedMemoryConformance(ConformanceTests):
    """``qdrant://:memory:`` with ``name=``: stores of one name share a database; own prefix."""

    @pytest.fixture
    def make_store(self) -> Callable[[], Store]:
        name = uuid.uuid4().hex
        return lambda: open_store("qdrant://:memory:", name=name, prefix="mem")
