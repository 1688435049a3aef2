"""The Chroma backend: conformance on the embedded engine and on a real ``chroma run`` server.

The embedded engine (``PersistentClient``) runs in the test process; the server
is started once per test session (``chroma_url`` in conftest.py, tests/servers.py),
or named by ``BRUNO_TEST_CHROMA_URL``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

pytest.importorskip("chromadb", reason="the chroma extra (chromadb) is not installed")

from bruno_memory_integrations import Store, open_store
from bruno_memory_integrations.testing import ConformanceTests

try:
    from stores import chroma_dir
except ImportError:  # tests/ imported as a package
    from tests.stores import chroma_dir


class TestChromaEmbeddedConformance(ConformanceTests):
    """The embedded engine on a directory of the test's own."""

    @pytest.fixture
    def make_store(self, request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Store]:
        url = f"chroma:///{chroma_dir(request, tmp_path)}"
        return lambda: open_store(url)


class TestChromaServerConformance(ConformanceTests):
    """A real Chroma server; each test has a collection prefix of its own."""

    @pytest.fixture
    def make_store(self, chroma_url: str) -> Callable[[], Store]:
        prefix = f"t{uuid.uuid4().hex[:12]}"
        return lambda: open_store(chroma_url, prefix=prefix)
