"""redis-py clients for the Redis backend: making them, running command batches, closing.

The backend needs a sync client and, per event loop, an async one with the same
settings. :class:`Clients` says how to make both, from a URL or from a client the
caller already has (options, retries, the start-up probe); :class:`Connection`
runs a :class:`~.query.Batch` on either and maps driver errors to ours.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.retry import Retry

from ...errors import BackendError, BackendUnavailableError, ConfigurationError
from ..loops import LoopClients
from .query import Batch

__all__ = ["Clients", "Connection", "clients_for_client", "clients_for_url", "mask_url"]

RETRY_ERRORS = (redis.ConnectionError, redis.TimeoutError)

log = logging.getLogger("bruno_memory_integrations.backends.redis")

# Connection settings that can be carried from a client of one kind (sync/async)
# to the other; the rest of redis-py's pool kwargs is internal state.
_PORTABLE = frozenset(
    [
        "host",
        "port",
        "db",
        "username",
        "password",
        "path",
        "socket_timeout",
        "socket_connect_timeout",
        "socket_keepalive",
        "client_name",
        "credential_provider",
        "protocol",
        "ssl_keyfile",
        "ssl_certfile",
        "ssl_cert_reqs",
        "ssl_ca_certs",
        "ssl_ca_data",
        "ssl_check_hostname",
        "ssl_min_version",
        "ssl_ciphers",
        "ssl_password",
    ]
)


def mask_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (for messages)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "<unparsable url>"
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{parts.username or ''}:***@{host}" + (f":{port}" if port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


@dataclass
class Clients:
    """How the backend gets its clients.

    Attributes:
        sync: The sync client.
        make_async: Makes a new async client (called once per event loop).
        description: The server, for messages (password masked).
        owns_sync: Whether the backend closes ``sync`` (not when it is the caller's).
        shared_async: The caller's async client, used instead of ``make_async``.
    """

    sync: redis.Redis
    make_async: Callable[[], aioredis.Redis]
    description: str
    owns_sync: bool = True
    shared_async: aioredis.Redis | None = None


#: Connections per pool (sync, and async per event loop) unless ``max_connections=``.
DEFAULT_MAX_CONNECTIONS = 50
#: Seconds a call waits for a free pooled connection unless ``pool_timeout=``.
DEFAULT_POOL_TIMEOUT = 10.0
_NO_CONNECTION = "no connection available"


def _options(options: dict[str, Any], retries: int) -> dict[str, Any]:
    opts = dict(options)
    opts.pop("decode_responses", None)  # replies hold binary vectors: never decoded
    # A blocking pool: when every connection is busy a call waits for one (up to
    # pool_timeout) instead of failing with "Too many connections".
    size = opts.pop("max_connections", DEFAULT_MAX_CONNECTIONS)
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ConfigurationError(f"max_connections must be a positive integer, got {size!r}")
    wait = opts.pop("pool_timeout", DEFAULT_POOL_TIMEOUT)
    if isinstance(wait, bool) or not isinstance(wait, (int, float)) or not wait > 0:
        raise ConfigurationError(f"pool_timeout must be a positive number, got {wait!r}")
    opts["max_connections"], opts["timeout"] = size, float(wait)
    opts.setdefault("socket_connect_timeout", opts.pop("connect_timeout", 2.0))
    opts.setdefault("socket_timeout", 30.0)
    opts.setdefault("health_check_interval", 30)
    opts["retry_on_error"] = list(RETRY_ERRORS)
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ConfigurationError(f"retries must be a non-negative integer, got {retries!r}")
    return opts


def _with_retry(opts: dict[str, Any], retries: int, is_async: bool) -> dict[str, Any]:
    # After a restart the pooled connections are dead: the next command fails, and
    # the retry reconnects (backoff 0.05 s doubling to 0.5 s: ≈2 s over 6 tries).
    cls = AsyncRetry if is_async else Retry
    return {**opts, "retry": cls(ExponentialBackoff(cap=0.5, base=0.05), retries, RETRY_ERRORS)}


def _probe(url: str, masked: str, opts: dict[str, Any]) -> None:
    """One PING without retries, so an unreachable server fails fast and clearly."""
    probe_opts = {
        k: v for k, v in opts.items() if k not in ("retry_on_error", "max_connections", "timeout")
    }
    probe_opts.update(socket_timeout=opts["socket_connect_timeout"], retry=Retry(NoBackoff(), 0))
    try:
        probe = redis.Redis.from_url(url, **probe_opts)
    except ValueError as exc:
        raise ConfigurationError(f"bad Redis URL {masked}: {exc}") from exc
    try:
        probe.ping()
        try:
            probe.execute_command("FT._LIST")  # any search command shows the module is there
            missing_search: str | None = None
        except redis.ResponseError as exc:
            missing_search = str(exc)
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        raise BackendUnavailableError(
            f"cannot reach Redis at {masked}: {exc}; is the server running? "
            f"(see docs/backends/redis.md for how to run one)"
        ) from exc
    except redis.RedisError as exc:
        raise BackendUnavailableError(f"Redis at {masked} refused the connection: {exc}") from exc
    except TypeError as exc:  # an option redis-py does not know
        raise ConfigurationError(f"bad option for the redis backend: {exc}") from exc
    finally:
        probe.close()
    if missing_search is not None and "unknown command" in missing_search.lower():
        raise ConfigurationError(
            f"Redis at {masked} has no search module ({missing_search}); use Redis Stack "
            f"or Redis 8 or later"
        )


def clients_for_url(url: str, retries: int, options: dict[str, Any]) -> Clients:
    """Clients for a URL, after checking that the server answers and can search."""
    opts = _options(options, retries)
    masked = mask_url(url)
    _probe(url, masked, opts)
    sync = redis.Redis(
        connection_pool=redis.BlockingConnectionPool.from_url(
            url, **_with_retry(opts, retries, False)
        )
    )

    def make_async() -> aioredis.Redis:
        pool = aioredis.BlockingConnectionPool.from_url(url, **_with_retry(opts, retries, True))
        return aioredis.Redis(connection_pool=pool)

    log.info(
        "connected to Redis at %s (pools of up to %d connections)", masked, opts["max_connections"]
    )
    return Clients(sync, make_async, masked)


def _connection_class(pool: Any, to_async: bool) -> type:
    name = getattr(getattr(pool, "connection_class", None), "__name__", "Connection")
    module = aioredis.connection if to_async else redis.connection
    return getattr(module, name, module.Connection)


def _init_params(cls: type) -> set[str]:
    """Keyword parameters a connection class accepts (across its bases)."""
    names: set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is not None:
            params = inspect.signature(init).parameters.values()
            names.update(
                p.name for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
            )
    return names


def _describe(pool: Any) -> str:
    kw = getattr(pool, "connection_kwargs", {})
    if kw.get("path"):
        return f"unix://{kw['path']}"
    scheme = "rediss" if "SSL" in _connection_class(pool, False).__name__ else "redis"
    auth = ":***@" if kw.get("password") else ""
    host, port, db = kw.get("host", "localhost"), kw.get("port", 6379), kw.get("db", 0)
    return f"{scheme}://{auth}{host}:{port}/{db}"


def clients_for_client(client: Any, retries: int) -> Clients:
    """Clients for a caller's ``redis.Redis`` or ``redis.asyncio.Redis``.

    The caller's client is used as is for its own side unless it decodes
    responses (the backend reads binary vectors); the other side, and a
    non-decoding sibling when needed, get the same connection settings.
    """
    pool = client.connection_pool
    decodes = bool(pool.connection_kwargs.get("decode_responses"))
    base = {k: v for k, v in pool.connection_kwargs.items() if k in _PORTABLE and v is not None}
    opts = {**_options({}, retries), **base}

    def make(to_async: bool) -> Any:
        conn_cls = _connection_class(pool, to_async)
        allowed = _init_params(conn_cls)
        kw = {k: v for k, v in _with_retry(opts, retries, to_async).items() if k in allowed}
        limits = {"max_connections": opts["max_connections"], "timeout": opts["timeout"]}
        if to_async:
            return aioredis.Redis(
                connection_pool=aioredis.BlockingConnectionPool(
                    connection_class=conn_cls, **limits, **kw
                )
            )
        return redis.Redis(
            connection_pool=redis.BlockingConnectionPool(connection_class=conn_cls, **limits, **kw)
        )

    description = _describe(pool)
    if isinstance(client, aioredis.Redis):
        shared = None if decodes else client
        return Clients(make(False), lambda: make(True), description, shared_async=shared)
    if decodes:
        return Clients(make(False), lambda: make(True), description)
    return Clients(client, lambda: make(True), description, owns_sync=False)


# ------------------------------------------------------------------ running batches
class Connection:
    """Runs command batches on the sync client or on this event loop's async client."""

    def __init__(self, clients: Clients) -> None:
        self._clients = clients
        self.client = clients.sync
        self.description = clients.description
        # One async client per event loop, closed with its loop (loops.py).
        self._aclients: LoopClients[aioredis.Redis] = LoopClients(_close_async)

    def _fail(self, exc: BaseException) -> BaseException:
        if isinstance(exc, redis.ConnectionError) and _NO_CONNECTION in str(exc).lower():
            return BackendError(
                f"no free connection to Redis at {self.description}: every pooled connection "
                f"stayed busy for pool_timeout; raise max_connections or pool_timeout ({exc})"
            )
        if isinstance(exc, (redis.ConnectionError, redis.TimeoutError)):
            return BackendUnavailableError(f"Redis at {self.description} is unreachable: {exc}")
        if isinstance(exc, redis.RedisError):
            return BackendError(f"Redis at {self.description} failed: {exc}")
        return exc

    def execute(self, batch: Batch) -> list[Any]:
        pipe = self.client.pipeline(transaction=batch.transaction)
        for c in batch.calls:
            getattr(pipe, c.method)(*c.args, **c.kwargs)
        try:
            return pipe.execute(raise_on_error=False)
        except (redis.RedisError, OSError) as exc:
            raise self._fail(exc) from exc
        finally:
            pipe.reset()

    async def _aclient(self) -> aioredis.Redis:
        if self._clients.shared_async is not None:
            return self._clients.shared_async
        return await self._aclients.get(self._make_async)

    async def _make_async(self) -> aioredis.Redis:
        return self._clients.make_async()

    async def aexecute(self, batch: Batch) -> list[Any]:
        client = await self._aclient()
        pipe = client.pipeline(transaction=batch.transaction)
        for c in batch.calls:
            getattr(pipe, c.method)(*c.args, **c.kwargs)
        try:
            return await pipe.execute(raise_on_error=False)
        except (redis.RedisError, OSError) as exc:
            raise self._fail(exc) from exc
        finally:
            await pipe.reset()

    def close(self) -> None:
        if self._clients.owns_sync:
            self.client.close()
            self.client.connection_pool.disconnect()
        self._aclients.close()

    async def aclose(self) -> None:
        await self._aclients.aclose()
        await asyncio.to_thread(self.close)


async def _close_async(client: aioredis.Redis) -> None:
    await client.aclose(close_connection_pool=True)
