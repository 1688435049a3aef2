"""The Pinecone backend against a real Pinecone index: runs when ``PINECONE_API_KEY`` and
``PINECONE_INDEX_HOST`` are set.

Pinecone is a managed service, so nothing runs here and this suite is skipped, with
that reason. Against a real index (dense, metric ``dotproduct`` so that all three of our
metrics are served, at least 65 dimensions; otherwise it skips saying so) it runs the
whole conformance suite. Every test uses its own namespace prefix and
deletes its namespaces after.

Pinecone is eventually consistent: a write can take a moment to be visible to
queries, lists and stats. ``PINECONE_LIVE_SETTLE`` (seconds, default 0) makes each
test's stores wait that long after every write, for a run against a fresh serverless
index; docs/backends/pinecone.md explains.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

pytest.importorskip("pinecone", reason="the pinecone extra (pinecone) is not installed")

from bruno_memory_integrations import Store, open_store
from bruno_memory_integrations.testing import ConformanceTests

pytestmark = pytest.mark.live

KEY_ENV, HOST_ENV, SETTLE_ENV = "PINECONE_API_KEY", "PINECONE_INDEX_HOST", "PINECONE_LIVE_SETTLE"
#: The conformance suite's vectors have up to 64 dimensions; euclidean takes one more.
MIN_DIMENSION = 65


def live_target() -> tuple[str, dict[str, Any]] | None:
    """(URL, options) of the index named by the environment, with a prefix of its own."""
    key, host = os.environ.get(KEY_ENV), os.environ.get(HOST_ENV)
    if not key or not host:
        return None
    host = host.removeprefix("https://")
    url = host.replace("http://", "pinecone+http://", 1) if "://" in host else f"pinecone://{host}"
    return url, {"api_key": key, "prefix": f"t{uuid.uuid4().hex[:12]}"}


@pytest.fixture
def live() -> Iterator[tuple[str, dict[str, Any]]]:
    target = live_target()
    if target is None:
        pytest.skip(
            f"{KEY_ENV} and {HOST_ENV} are not both set: the live suite runs against a real "
            f"Pinecone index (e.g. {HOST_ENV}=my-index-abc123.svc.aped-1234.pinecone.io)"
        )
    url, options = target
    from pinecone import Pinecone

    pc = Pinecone(api_key=options["api_key"])
    index = pc.Index(host=url.split("://", 1)[1] if url.startswith("pinecone://")
                     else url.replace("pinecone+http://", "http://"))
    stats = index.describe_index_stats()
    if stats.metric != "dotproduct" or (stats.dimension or 0) < MIN_DIMENSION:
        pytest.skip(
            f"the live suite needs a dense dotproduct index of at least {MIN_DIMENSION} "
            f"dimensions (the conformance suite uses all three metrics); "
            f"{HOST_ENV} names a {stats.metric} index of {stats.dimension}"
        )
    yield target
    for ns in index.describe_index_stats().namespaces:
        if ns.startswith(options["prefix"] + "-"):
            index.delete(delete_all=True, namespace=ns)


def _settled(open_one: Callable[[], Store]) -> Callable[[], Store]:
    settle = float(os.environ.get(SETTLE_ENV) or 0)
    if not settle:
        return open_one

    def opener() -> Store:
        store = open_one()
        backend = store.backend
        run = backend.run

        def run_and_settle(make: Any) -> Any:
            out = run(make)
            if getattr(make, "func", None) is not None and make.func.__name__ in (
                "upsert", "delete", "delete_where", "append_messages", "clear_messages",
                "kv_put", "kv_delete", "create_collection", "drop_collection",
            ):
                time.sleep(settle)
            return out

        backend.run = run_and_settle  # type: ignore[method-assign]
        return store

    return opener


class TestPineconeLiveConformance(ConformanceTests):
    """The whole conformance suite on a real Pinecone index."""

    @pytest.fixture
    def make_store(self, live: tuple[str, dict[str, Any]]) -> Callable[[], Store]:
        url, options = live
        return _settled(lambda: open_store(url, **options))
