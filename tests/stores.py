"""Store factories for tests that run the same behaviour on every backend.

``make_store_for(kind, request, tmp_path)`` returns a callable opening a new
Store over one shared database for that test. Server backends take their URL
from the session fixtures in conftest.py (which skip, naming the reason, when
no server can be had).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from bruno_memory_integrations import Store, open_store

#: Backends every adapter test runs on. Add a kind here and in make_store_for.
STORE_KINDS = ["memory", "sqlite", "postgres", "redis"]


def make_store_for(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Store]:
    if kind == "memory":
        name = uuid.uuid4().hex
        return lambda: open_store("memory://", name=name)
    if kind == "sqlite":
        pytest.importorskip("bruno_memory_integrations.backends.sqlite", reason="sqlite backend not built yet")
        path = tmp_path / "store.db"
        return lambda: open_store(f"sqlite:///{path}")
    if kind == "postgres":
        url = request.getfixturevalue("postgres_url")
        return lambda: open_store(url)
    if kind == "redis":
        url = request.getfixturevalue("redis_url")
        return lambda: open_store(url)
    raise ValueError(f"unknown store kind {kind!r}")
