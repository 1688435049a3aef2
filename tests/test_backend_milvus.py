"""The Milvus backend: conformance on Milvus Lite and on the real C++ standalone server.

The standalone server (PyPI ``milvus``) is started once per test session
(``milvus_url`` in conftest.py; ``BRUNO_TEST_MILVUS_URL`` names your own). Both
engines share one set of Milvus collections per session; every test gets its own
store scope (tests/stores.py), so no test pays for making Milvus collections.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

pytest.importorskip("pymilvus", reason="the milvus extra (pymilvus) is not installed")

from bruno_memory_integrations import Store, open_store
from bruno_memory_integrations.testing import ConformanceTests

try:
    from stores import store_url_for
except ImportError:  # tests/ imported as a package
    from tests.stores import store_url_for


class _MilvusStores:
    kind = "milvus"

    @pytest.fixture
    def make_store(
        self, request: pytest.FixtureRequest, tmp_path: object
    ) -> Callable[[], Store]:
        url = store_url_for(self.kind, request, tmp_path)  # type: ignore[arg-type]
        assert url is not None
        return lambda: open_store(url)


class TestMilvusLiteConformance(_MilvusStores, ConformanceTests):
    kind = "milvus-lite"


class TestMilvusServerConformance(_MilvusStores, ConformanceTests):
    kind = "milvus"
