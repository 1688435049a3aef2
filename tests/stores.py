"""Store factories and fixtures for tests that run the same behaviour on every backend.

``make_store_for(kind, request, tmp_path)`` returns a callable opening a new
Store over one shared database for that test. Server backends take their URL
from the session fixtures in conftest.py (which skip, naming the reason, when
no server can be had).

The fixtures below are registered for every test module by conftest.py:

* ``store_kind``: each of ``STORE_KINDS`` in turn (parametrizes the test).
* ``open_new_store`` / ``make_store``: a callable opening new Store objects over
  one database for the test; every store it opened is closed after the test.
* ``store``: one store from that factory.

``forbid_sync(store, monkeypatch)`` makes sync Store methods raise, to prove that
async adapter methods only use the async Store API; ``require_capability(store, name)``
skips the test on a backend without that capability.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bruno_memory_integrations import MissingDependencyError, Store, open_store

#: Backends every adapter test runs on. Add a kind here, in store_url_for and, for a
#: backend without a URL other processes can open, in make_store_for.
STORE_KINDS = ["memory", "sqlite", "postgres", "redis", "qdrant", "weaviate", "pinecone"]
STORE_KINDS += ["chroma", "chroma-http"]
#: Backends made of backends (backends/composite.py, backends/fallback/) over memory parts: every
#: adapter test runs through a composite (records, chat and key-value items in three
#: stores) and a fallback (two stores, every write on both).
STORE_KINDS += ["composite", "fallback"]
STORE_KINDS += ["milvus-lite", "milvus"]

#: Sync Store methods with an async twin; async adapter methods must not call these.
#: ``close`` is left out: it moves no data, and the fixtures call it after the test.
SYNC_METHODS = (
    "upsert",
    "get",
    "delete",
    "count",
    "scan",
    "iter_records",
    "search",
    "keyword_search",
    "hybrid_search",
    "collection_info",
    "ensure_collection",
    "drop_collection",
    "list_collections",
    "append_messages",
    "get_messages",
    "clear_messages",
    "list_sessions",
    "kv_mset",
    "kv_mget",
    "kv_mdelete",
    "kv_keys",
)


def store_url_for(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> str | None:
    """The URL another process can open to reach this test's database, or ``None``
    for a backend whose data lives only in this process (``persistent`` is false)."""
    if kind in ("memory", "composite", "fallback"):
        return None
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    if kind == "postgres":
        return str(request.getfixturevalue("postgres_url"))
    if kind == "redis":
        return str(request.getfixturevalue("redis_url"))
    if kind == "qdrant":  # local mode lives in this process; a live server has a URL
        live = qdrant_live_target()
        return live[0] if live is not None else None
    if kind == "weaviate":
        # The stand-in (or BRUNO_TEST_WEAVIATE_URL); a prefix per test keeps tests apart.
        url = str(request.getfixturevalue("weaviate_url"))
        sep = "&" if "?" in url else "?"
        return f"{url}{sep}prefix=T{uuid.uuid5(uuid.NAMESPACE_URL, str(tmp_path)).hex[:12]}"
    if kind == "pinecone":
        # The stand-in (or BRUNO_TEST_PINECONE_URL); a namespace prefix per test keeps tests apart.
        url = str(request.getfixturevalue("pinecone_url"))
        sep = "&" if "?" in url else "?"
        return f"{url}{sep}prefix=t{uuid.uuid5(uuid.NAMESPACE_URL, str(tmp_path)).hex[:12]}"
    if kind == "chroma":  # the embedded engine, on a fast temporary directory
        return f"chroma:///{chroma_dir(request, tmp_path)}"
    if kind == "chroma-http":  # a real `chroma run` server; a prefix per test
        url = str(request.getfixturevalue("chroma_url"))
        sep = "&" if "?" in url else "?"
        return f"{url}{sep}prefix=t{uuid.uuid5(uuid.NAMESPACE_URL, str(tmp_path)).hex[:12]}"
    if kind in ("milvus-lite", "milvus"):
        # One Lite file / one server for the session; a scope per test keeps tests apart
        # without making Milvus collections (seconds each on a server) per test.
        base = milvus_lite_url() if kind == "milvus-lite" else str(
            request.getfixturevalue("milvus_url")
        )
        sep = "&" if "?" in base else "?"
        return f"{base}{sep}scope=T{uuid.uuid5(uuid.NAMESPACE_URL, str(tmp_path)).hex[:12]}"
    raise ValueError(f"unknown store kind {kind!r}")


def chroma_dir(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """A directory for embedded Chroma, on tmpfs when there is one (writes are several
    times faster there), removed after the test."""
    import shutil

    try:
        from servers import temp_root
    except ImportError:  # tests/ imported as a package
        from tests.servers import temp_root
    path = Path(temp_root()) / f"bruno-test-chroma-{uuid.uuid5(uuid.NAMESPACE_URL, str(tmp_path))}"
    request.addfinalizer(lambda: shutil.rmtree(path, ignore_errors=True))
    return path


_MILVUS_LITE_DIR: list[Path] = []


def milvus_lite_url() -> str:
    """A Milvus Lite file shared by the session's tests (removed at exit)."""
    pytest.importorskip("milvus_lite", reason="the milvus extra (milvus-lite) is not installed")
    if not _MILVUS_LITE_DIR:
        try:
            import servers
        except ImportError:  # tests/ imported as a package
            from tests import servers  # type: ignore[no-redef]
        # A directory owned by this process: removed at exit and, since Milvus Lite may
        # write it again while the interpreter exits, by the next run once we are gone.
        directory = servers._make_tempdir("milvus-lite")
        servers._TEMP_DIRS.append(directory)
        _MILVUS_LITE_DIR.append(directory)
    return f"milvus:///{_MILVUS_LITE_DIR[0] / 'store.db'}"


def url_for(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL of the test's database for ``kind``, for adapters that open a store themselves.

    For ``memory`` (and Qdrant's local mode) every open is a new, empty store.
    """
    if kind in ("memory", "composite", "fallback"):  # no URL: an adapter opening one gets memory
        return "memory://"
    url = store_url_for(kind, request, tmp_path)
    if url is None and kind == "qdrant":
        return "qdrant://:memory:"
    if url is None:
        raise ValueError(f"store kind {kind!r} has no URL")
    return url


def make_store_for(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> Callable[[], Store]:
    if kind == "memory":
        name = uuid.uuid4().hex
        return lambda: open_store("memory://", name=name)
    if kind in ("composite", "fallback"):
        from bruno_memory_integrations import create_with_fallback

        names = [uuid.uuid4().hex for _ in range(3)]
        parts = lambda: [open_store("memory://", name=n) for n in names]  # noqa: E731
        if kind == "composite":
            return lambda: open_store(**dict(zip(("records", "chat", "kv"), parts(), strict=True)))
        return lambda: create_with_fallback(parts()[:2])
    if kind == "qdrant" and qdrant_live_target() is None:
        # Local mode (Qdrant's Python emulation) in memory: one caller's client that
        # outlives the test's stores (a store never closes a client it was given).
        try:
            from qdrant_client import QdrantClient
        except ImportError:
            pytest.skip("the qdrant extra (qdrant-client) is not installed")
        client = QdrantClient(location=":memory:")
        request.addfinalizer(client.close)
        return lambda: open_store(client)
    if kind == "qdrant":  # a real server (QDRANT_URL; tests/test_qdrant_live.py)
        url, options, cleanup = qdrant_live_target()  # type: ignore[misc]
        request.addfinalizer(cleanup)
        return lambda: open_store(url, **options)
    url = store_url_for(kind, request, tmp_path)
    if url is None:
        raise ValueError(f"store kind {kind!r} has no URL")
    return lambda: open_store(url)


def qdrant_live_target() -> tuple[str, dict[str, Any], Callable[[], None]] | None:
    """(URL, options, cleanup) for a Qdrant server named by ``QDRANT_URL``, else ``None``.

    ``QDRANT_API_KEY`` is passed as ``api_key``. The options carry a collection
    prefix of its own; ``cleanup`` deletes every collection with that prefix.
    """
    raw = os.environ.get("QDRANT_URL")
    if not raw:
        return None
    url = raw.replace("https://", "qdrants://", 1).replace("http://", "qdrant://", 1)
    if "://" not in url:
        url = f"qdrant://{url}"
    prefix = f"t{uuid.uuid4().hex[:12]}"
    options: dict[str, Any] = {"prefix": prefix}
    if os.environ.get("QDRANT_API_KEY"):
        options["api_key"] = os.environ["QDRANT_API_KEY"]

    def cleanup() -> None:
        from qdrant_client import QdrantClient

        http = url.replace("qdrants://", "https://", 1).replace("qdrant://", "http://", 1)
        client = QdrantClient(url=http, api_key=options.get("api_key"))
        try:
            for c in client.get_collections().collections:
                if c.name.startswith(prefix + "_"):
                    client.delete_collection(c.name)
        finally:
            client.close()

    return url, options, cleanup


def require_capability(store: Store, capability: str) -> Store:
    """Skip the test, naming the reason, if ``store``'s backend lacks ``capability``."""
    if not getattr(store.capabilities, capability):
        pytest.skip(f"backend {store.backend_name!r} lacks capability {capability!r}")
    return store


def forbid_sync(
    store: Store, monkeypatch: pytest.MonkeyPatch, names: Iterable[str] = SYNC_METHODS
) -> None:
    """Make the sync Store methods ``names`` raise, to prove async adapter methods stay async.

    ``monkeypatch.undo()`` allows them again (e.g. to check the result with sync calls).
    """

    def refuse(name: str) -> Callable[..., Any]:
        def _refuse(*args: Any, **kwargs: Any) -> Any:
            raise AssertionError(f"an async method called the sync Store.{name}")

        return _refuse

    for name in names:
        if not hasattr(Store, name):  # a misspelt name would forbid nothing
            raise AttributeError(f"Store has no method {name!r} to forbid")
        monkeypatch.setattr(store, name, refuse(name))


@pytest.fixture(params=STORE_KINDS)
def store_kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def open_new_store(
    store_kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[[], Store]]:
    """Opens new Store objects over one database for this test; closes them after."""
    factory = make_store_for(store_kind, request, tmp_path)
    opened: list[Store] = []

    def open_one() -> Store:
        try:
            store = factory()
        except MissingDependencyError as exc:
            pytest.skip(str(exc))
        opened.append(store)
        return store

    yield open_one
    for store in opened:
        store.close()


@pytest.fixture
def make_store(open_new_store: Callable[[], Store]) -> Callable[[], Store]:
    """The ``open_new_store`` factory under the name the conformance suite uses."""
    return open_new_store


@pytest.fixture
def store(open_new_store: Callable[[], Store]) -> Store:
    """One store on the test's backend, closed after the test."""
    return open_new_store()
