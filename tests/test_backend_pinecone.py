"""The Pinecone backend: conformance on the stand-in, and its own behaviour.

No Pinecone runs here (it is a managed service), so these tests use
tests/pinecone_standin.py: a local server for one index's data plane that checks
every request against the OpenAPI models shipped in the SDK and implements
Pinecone's documented semantics (docs/backends/pinecone.md says what that proves).
tests/test_pinecone_live.py runs the conformance suite against a real index.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

pytest.importorskip("pinecone", reason="the pinecone extra (pinecone) is not installed")

from pinecone import Pinecone

from bruno_memory_integrations import (
    BackendUnavailableError,
    ConfigurationError,
    FilterError,
    InvalidInputError,
    NotSupportedError,
    Record,
    Store,
    open_store,
)
from bruno_memory_integrations.backends.pinecone import PineconeBackend
from bruno_memory_integrations.backends.pinecone import codec as c
from bruno_memory_integrations.backends.pinecone.filters import ALWAYS, NEVER, to_pinecone_filter
from bruno_memory_integrations.backends.pinecone.options import parse_settings
from bruno_memory_integrations.filters import evaluate, parse_filter
from bruno_memory_integrations.testing import ConformanceTests
from bruno_memory_integrations.testing.data import FILTER_CASES, filter_records

try:
    import pinecone_standin as standin_module
    from pinecone_standin import PineconeStandIn
    from servers import free_port
except ImportError:  # tests/ imported as a package
    from tests import pinecone_standin as standin_module  # type: ignore[no-redef]
    from tests.pinecone_standin import PineconeStandIn  # type: ignore[no-redef]
    from tests.servers import free_port  # type: ignore[no-redef]


def _prefix() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
def standin() -> Iterator[PineconeStandIn]:
    """A private stand-in, whose request log and data a test may read."""
    server = PineconeStandIn(dimension=16).start()
    yield server
    server.stop()


class TestPineconeConformance(ConformanceTests):
    """The whole conformance suite on the stand-in (a dotproduct index: all three metrics)."""

    @pytest.fixture
    def make_store(self, pinecone_small_url: str) -> Callable[[], Store]:
        prefix = _prefix()
        return lambda: open_store(pinecone_small_url, prefix=prefix)
