"""The in-process reference backend passes the whole conformance suite."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from bruno_memory_integrations import Store, open_store
from bruno_memory_integrations.testing import ConformanceTests


class TestMemoryConformance(ConformanceTests):
    @pytest.fixture
    def make_store(self) -> Callable[[], Store]:
        name = uuid.uuid4().hex  # shared by every store this test opens
        return lambda: open_store("memory://", name=name)
