"""Shared fixtures: real PostgreSQL (pgvector) and Redis Stack servers.

* ``postgres_url`` / ``redis_url`` (session): the URL in ``BRUNO_TEST_POSTGRES_URL`` /
  ``BRUNO_TEST_REDIS_URL`` when set, else a server started once for the session.
  Tests sharing them must use their own table / index / key names.
* ``postgres_server`` / ``redis_server`` (function): a private server the test may
  ``stop()``, ``start()``, ``restart()`` and ``kill()`` (Redis with the append-only
  file on, fsync always); ``durable_postgres_server`` is one with fsync on.

A server that cannot start skips the test with the reason; with
``BRUNO_TEST_REQUIRE_SERVERS=1`` it fails instead. See docs/testing.md.

With pytest-xdist workers (``-n``), the shared servers (PostgreSQL, Redis, Chroma,
Milvus) are started once for the whole run by the controller process, when a worker
first needs one (tests/shared_servers.py); private servers stay per test.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

try:
    import shared_servers
    from servers import ChromaServer, MilvusServer, PostgresServer, RedisServer, ServerError
except ImportError:  # tests/ imported as a package
    from tests import shared_servers  # type: ignore[no-redef]
    from tests.servers import (  # type: ignore[no-redef]
        ChromaServer,
        MilvusServer,
        PostgresServer,
        RedisServer,
        ServerError,
    )

POSTGRES_URL_ENV = "BRUNO_TEST_POSTGRES_URL"
WEAVIATE_URL_ENV = "BRUNO_TEST_WEAVIATE_URL"
REDIS_URL_ENV = "BRUNO_TEST_REDIS_URL"
PINECONE_URL_ENV = "BRUNO_TEST_PINECONE_URL"
MILVUS_URL_ENV = "BRUNO_TEST_MILVUS_URL"
REQUIRE_SERVERS_ENV = "BRUNO_TEST_REQUIRE_SERVERS"
CHROMA_URL_ENV = "BRUNO_TEST_CHROMA_URL"

# Why a kind of server could not start, so later requests skip at once.
_failures: dict[str, str] = {}


def _not_available(reason: str) -> None:
    if os.environ.get(REQUIRE_SERVERS_ENV, "") not in ("", "0"):
        pytest.fail(f"{reason} ({REQUIRE_SERVERS_ENV} is set)", pytrace=False)
    pytest.skip(reason)


# ---------------------------------------------------------------- pytest-xdist
# With workers (-n), the controller starts each shared server once, when a worker
# first asks for it (tests/shared_servers.py); the session fixtures below ask it.
_SESSION_SERVERS: dict[str, Callable[[], Any]] = {
    "PostgreSQL": PostgresServer,
    "Redis": RedisServer,
    "Chroma": ChromaServer,
    "Milvus": MilvusServer,
}


def pytest_configure(config: pytest.Config) -> None:
    workers = not hasattr(config, "workerinput") and config.pluginmanager.hasplugin("xdist")
    if workers and config.getoption("dist", "no") != "no":
        broker = shared_servers.Broker(_SESSION_SERVERS).start()
        os.environ[shared_servers.BROKER_ENV] = str(broker.directory)  # workers inherit it
        config._bruno_broker = broker  # type: ignore[attr-defined]


def pytest_unconfigure(config: pytest.Config) -> None:
    broker = getattr(config, "_bruno_broker", None)
    if broker is not None:
        os.environ.pop(shared_servers.BROKER_ENV, None)
        broker.close()


def _shared_url(kind: str) -> str:
    """The URL of the run's shared server of ``kind`` (an xdist worker), or skip (fail)."""
    if kind in _failures:
        _not_available(_failures[kind])
    url, error = shared_servers.request_url(kind)
    if url is None:
        _failures[kind] = error or f"{kind} server could not start"
        _not_available(_failures[kind])
    return str(url)


def _started(kind: str, make: Callable[[], Any]):
    """Start a server or skip (fail) the test naming the reason."""
    if kind in _failures:
        _not_available(_failures[kind])
    server = make()
    try:
        server.start()
    except ServerError as exc:
        server.close()
        _failures[kind] = f"{kind} server could not start: {exc}"
        _not_available(_failures[kind])
    return server


def _session_server(kind: str, env: str) -> Iterator[str]:
    """The URL of the session's server of ``kind``: the one ``env`` names, else the
    run's shared one (xdist workers), else one started here and closed at the end."""
    if os.environ.get(env):
        yield os.environ[env]
        return
    if shared_servers.brokered():
        yield _shared_url(kind)
        return
    server = _started(kind, _SESSION_SERVERS[kind])
    try:
        yield server.url
    finally:
        server.close()


def _private(kind: str, env: str, make: Callable[[], Any]):
    if os.environ.get(env):
        pytest.skip(
            f"{env} is set: this test stops and restarts a private {kind} server, "
            "which it cannot do to a server it did not start"
        )
    server = _started(kind, make)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """postgresql:// URL of a PostgreSQL server with pgvector available."""
    yield from _session_server("PostgreSQL", POSTGRES_URL_ENV)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """redis:// URL of a Redis server with the search and JSON modules."""
    yield from _session_server("Redis", REDIS_URL_ENV)


@pytest.fixture(scope="session")
def weaviate_url() -> Iterator[str]:
    """weaviate:// URL of the Weaviate stand-in (tests/weaviate_standin.py), started once.

    ``BRUNO_TEST_WEAVIATE_URL`` replaces it with a server of your own (a real Weaviate:
    every adapter test then runs against it). tests/test_backend_weaviate.py has the
    live suite (``WEAVIATE_URL``).
    """
    if os.environ.get(WEAVIATE_URL_ENV):
        yield os.environ[WEAVIATE_URL_ENV]
        return
    pytest.importorskip("weaviate", reason="the weaviate extra (weaviate-client) is not installed")
    try:
        from weaviate_standin import WeaviateStandIn
    except ImportError:  # tests/ imported as a package
        from tests.weaviate_standin import WeaviateStandIn  # type: ignore[no-redef]
    server = WeaviateStandIn().start()
    try:
        yield server.url
    finally:
        server.stop()


def _pinecone_standin(dimension: int) -> Iterator[str]:
    if os.environ.get(PINECONE_URL_ENV):
        yield os.environ[PINECONE_URL_ENV]
        return
    pytest.importorskip("pinecone", reason="the pinecone extra (pinecone) is not installed")
    try:
        from pinecone_standin import PineconeStandIn
    except ImportError:  # tests/ imported as a package
        from tests.pinecone_standin import PineconeStandIn  # type: ignore[no-redef]
    server = PineconeStandIn(dimension=dimension).start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def pinecone_url() -> Iterator[str]:
    """pinecone+http:// URL of a Pinecone stand-in (tests/pinecone_standin.py), started once:
    a 512-dimension dotproduct index, which serves every metric of ours and the adapters'
    test embeddings (up to 384 dimensions).

    ``BRUNO_TEST_PINECONE_URL`` replaces it with an index of your own (every adapter test
    then runs against it). tests/test_pinecone_live.py has the live suite.
    """
    yield from _pinecone_standin(512)


@pytest.fixture(scope="session")
def pinecone_small_url() -> Iterator[str]:
    """Like ``pinecone_url``, a 72-dimension index for the conformance suite (whose vectors
    have at most 64): every record carries the index's dimension, so a smaller one is faster."""
    yield from _pinecone_standin(72)


@pytest.fixture(scope="session")
def chroma_url() -> Iterator[str]:
    """chroma+http:// URL of a real Chroma server (``chroma run``), started once.

    ``BRUNO_TEST_CHROMA_URL`` names a server of your own instead. Tests sharing it
    use collection prefixes of their own.
    """
    yield from _session_server("Chroma", CHROMA_URL_ENV)


@pytest.fixture(scope="session")
def milvus_url() -> Iterator[str]:
    """milvus:// URL of the real Milvus standalone server, started once for the session.

    ``BRUNO_TEST_MILVUS_URL`` replaces it with a server of your own. Tests sharing it
    keep apart by store scope (tests/stores.py); the server is stopped at the end.
    """
    pytest.importorskip("pymilvus", reason="the milvus extra (pymilvus) is not installed")
    yield from _session_server("Milvus", MILVUS_URL_ENV)


@pytest.fixture
def postgres_server() -> Iterator[PostgresServer]:
    """A private, running PostgresServer (own port and data) for stop/restart tests."""
    yield from _private("PostgreSQL", POSTGRES_URL_ENV, PostgresServer)


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A private, running RedisServer(appendonly=True) for stop/restart tests."""
    yield from _private("Redis", REDIS_URL_ENV, lambda: RedisServer(appendonly=True))


@pytest.fixture
def durable_postgres_server() -> Iterator[PostgresServer]:
    """A private PostgresServer with fsync and synchronous commit on, for crash tests."""
    yield from _private("PostgreSQL", POSTGRES_URL_ENV, lambda: PostgresServer(durable=True))


# ===========================================================================
# Fixtures for the package's own tests go below this line.
# ===========================================================================

# Backend-parametrized store fixtures shared by the adapter tests (see tests/stores.py),
# registered here for every test module. A test module or class may override any of
# them (the conformance classes define their own ``make_store``).
try:
    import stores as _shared
except ModuleNotFoundError as exc:
    if exc.name != "stores":  # a real import failure inside stores.py: show it
        raise
    from tests import stores as _shared

store_kind = _shared.store_kind
open_new_store = _shared.open_new_store
make_store = _shared.make_store
store = _shared.store
