"""Chroma clients: making them, running one call sync or async, error mapping, closing.

* **Embedded** (``chroma:///dir``): ``chromadb.PersistentClient`` with telemetry
  off. It is blocking, so the backend runs async calls in worker threads. chromadb
  shares one engine between the clients of one directory in a process and stops
  it when the last of them is closed.
* **A server** (``chroma+http://``, ``chroma+https://``): an ``HttpClient`` for the
  blocking path and an ``AsyncHttpClient`` per event loop for the async one (an
  HTTP connection belongs to the loop that opened it). Errors become
  :class:`BackendUnavailableError` (cannot connect, timed out, 502-504) or
  :class:`BackendError`, with the token masked.
* A client the caller passes in is never closed here. A caller's sync client is
  used from worker threads for async calls; a caller's ``AsyncHttpClient`` serves
  async calls natively and sync ones on a private event loop in a thread.

Collections are fetched once per name (and per loop) and cached; a call on a
collection that another store dropped and made again is retried once on the new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any

from ...errors import BackendError, BackendUnavailableError, ConfigurationError, StoreClosedError
from ..loops import LoopClients
from .options import ChromaTarget, ServerOptions
from .query import Call

__all__ = ["Connection"]

#: Client methods whose reply is a collection, cached by name.
_RETURNS_COLLECTION = ("get_collection", "get_or_create_collection", "create_collection")


def _settings(ssl_verify: bool | str | None = None) -> Any:
    from chromadb.config import Settings

    settings = Settings(anonymized_telemetry=False)
    if ssl_verify is not None:
        # Set always: chromadb's async client skips certificate checks when unset.
        settings.chroma_server_ssl_verify = ssl_verify
    return settings


class _LoopThread:
    """A private event loop in a thread: runs a caller's async client for sync code."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self.loop.run_forever, name="bruno-chroma-loop", daemon=True
        )
        self.thread.start()

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        self.loop.close()


class _AsyncSide:
    """One async client and its collections, for one event loop."""

    def __init__(self, client: Any, owned: bool) -> None:
        self.client = client
        self.owned = owned
        self.collections: dict[str, Any] = {}
        self.lock = asyncio.Lock()


class Connection:
    """Runs :class:`~.query.Call` steps on a blocking or an async chromadb client."""

    def __init__(
        self,
        description: str,
        *,
        sync: Any = None,
        owns_sync: bool = False,
        embedded: bool = False,
        server: tuple[ChromaTarget, ServerOptions] | None = None,
        shared_async: Any = None,
        secret: str | None = None,
    ) -> None:
        self.description = description
        self.embedded = embedded
        self._sync = sync
        self._owns_sync = owns_sync
        self._server = server
        self._secret = secret
        self._collections: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._loop_thread = _LoopThread() if shared_async is not None else None
        self._shared_async = _AsyncSide(shared_async, False) if shared_async is not None else None
        # One async client per event loop, closed with its loop (loops.py).
        self._async: LoopClients[_AsyncSide] = LoopClients(_close_side, _forget_side)
        self._closed = False

    @property
    def native_async(self) -> bool:
        return self._server is not None or self._shared_async is not None

    # ------------------------------------------------------------ construction
    @classmethod
    def for_target(cls, target: ChromaTarget, server: ServerOptions) -> Connection:
        import chromadb

        if target.mode == "path":
            try:
                client = chromadb.PersistentClient(path=str(target.path), settings=_settings())
            except ValueError as exc:  # another client of this directory, other settings
                raise ConfigurationError(
                    f"cannot open {target.description}: {exc} (open it with "
                    f"Settings(anonymized_telemetry=False), or pass your client instead)"
                ) from exc
            except Exception as exc:  # any failure to open is reported
                raise BackendUnavailableError(
                    f"cannot open {target.description}: {type(exc).__name__}: {exc}"
                ) from exc
            return cls(target.description, sync=client, owns_sync=True, embedded=True)
        conn = cls(target.description, server=(target, server), secret=server.token)
        try:
            conn._sync = chromadb.HttpClient(**conn._http_kwargs())
        except Exception as exc:
            raise conn.fail(exc, "connect") from exc
        conn._owns_sync = True
        return conn

    @classmethod
    def for_client(cls, client: Any) -> Connection:
        from chromadb.api import AsyncClientAPI, ClientAPI

        if isinstance(client, ClientAPI):
            settings = client.get_settings()
            embedded = settings.chroma_api_impl not in (
                "chromadb.api.fastapi.FastAPI",
                "chromadb.api.async_fastapi.AsyncFastAPI",
            )
            where = settings.persist_directory if embedded else (
                f"{settings.chroma_server_host}:{settings.chroma_server_http_port}"
            )
            return cls(f"caller's Chroma client ({where})", sync=client, embedded=embedded)
        if isinstance(client, AsyncClientAPI):
            settings = client.get_settings()
            where = f"{settings.chroma_server_host}:{settings.chroma_server_http_port}"
            return cls(f"caller's async Chroma client ({where})", shared_async=client)
        raise ConfigurationError(
            f"not a Chroma client: {type(client).__module__}.{type(client).__name__}; pass a "
            f"chromadb client (PersistentClient, HttpClient, AsyncHttpClient) or a chroma URL"
        )

    def _http_kwargs(self) -> dict[str, Any]:
        assert self._server is not None
        target, opts = self._server
        kwargs: dict[str, Any] = {
            "host": target.host,
            "port": target.port,
            "ssl": target.ssl,
            "headers": opts.all_headers() or None,
            "settings": _settings(opts.ssl_verify),
        }
        if opts.tenant is not None:
            kwargs["tenant"] = opts.tenant
        if opts.database is not None:
            kwargs["database"] = opts.database
        return kwargs

    # ------------------------------------------------------------ errors
    def _mask(self, text: str) -> str:
        return text.replace(self._secret, "***") if self._secret else text

    def fail(self, exc: BaseException, what: str) -> BaseException:
        """The error to raise for ``exc``, raised by client method ``what``."""
        from chromadb.errors import ChromaError

        message = self._mask(f"{type(exc).__name__}: {exc}")
        if _is_connect_error(exc) or "could not connect" in str(exc).lower():
            return BackendUnavailableError(
                f"Chroma at {self.description} is unreachable ({what}): {message}"
            )
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status in (502, 503, 504):
            return BackendUnavailableError(
                f"Chroma at {self.description} is unavailable ({what}): {message}"
            )
        if isinstance(exc, (ChromaError, ValueError, KeyError, RuntimeError)) or status:
            return BackendError(f"Chroma at {self.description} failed ({what}): {message}")
        return exc

    @staticmethod
    def is_not_found(exc: BaseException) -> bool:
        from chromadb.errors import NotFoundError

        if isinstance(exc, NotFoundError):
            return True
        cause = exc.__cause__
        return isinstance(cause, NotFoundError) or (
            isinstance(exc, BackendError) and "does not exist" in str(exc)
        )

    # ------------------------------------------------------------ running
    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError("this Chroma store is closed")

    def execute(self, step: Call) -> Any:
        self._check_open()
        try:
            if self._loop_thread is not None:
                return self._loop_thread.run(self.aexecute(step))
            try:
                return self._run_sync(step)
            except Exception as exc:
                if not _is_stale_connection(exc):
                    raise
            return self._run_sync(step)  # once more, as in aexecute
        except Exception as exc:  # noqa: BLE001 - mapped and raised (or handed back) there
            return self._handle(exc, step)

    def _handle(self, exc: Exception, step: Call) -> Any:
        if isinstance(exc, StoreClosedError):
            raise exc
        mapped = self.fail(exc, step.method)
        if step.soft and isinstance(mapped, BackendError) and not isinstance(
            mapped, BackendUnavailableError
        ):
            mapped.__cause__ = exc
            return mapped
        if mapped is exc:
            raise exc
        raise mapped from exc

    def _run_sync(self, step: Call) -> Any:
        client = self._sync
        if step.collection is None:
            reply = getattr(client, step.method)(**step.kwargs)
            self._note(self._collections, step, reply)
            return reply
        for attempt in (0, 1):
            col = self._collections.get(step.collection)
            if col is None:
                col = client.get_collection(step.collection, embedding_function=None)
                self._collections[step.collection] = col
            try:
                return getattr(col, step.method)(**step.kwargs)
            except Exception as exc:
                # Dropped (and perhaps made again) by another store: fetch it anew once.
                self._collections.pop(step.collection, None)
                if attempt or not self.is_not_found(exc):
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _note(cache: dict[str, Any], step: Call, reply: Any) -> None:
        name = step.kwargs.get("name")
        if step.method in _RETURNS_COLLECTION and name is not None:
            cache[name] = reply
        elif step.method == "delete_collection" and name is not None:
            cache.pop(name, None)

    async def _side(self) -> _AsyncSide:
        if self._shared_async is not None:
            return self._shared_async
        return await self._async.get(self._make_side)

    async def _make_side(self) -> _AsyncSide:
        import chromadb

        return _AsyncSide(await chromadb.AsyncHttpClient(**self._http_kwargs()), True)

    async def aexecute(self, step: Call) -> Any:
        try:
            return await self._aexecute(step)
        except Exception as exc:
            if not _is_stale_connection(exc):
                raise
        # A pooled connection the server had closed: every call here may run again
        # (upserts and deletes are idempotent, and ``add`` leaves existing ids alone).
        return await self._aexecute(step)

    async def _aexecute(self, step: Call) -> Any:
        self._check_open()
        try:
            side = await self._side()
            if step.collection is None:
                reply = await getattr(side.client, step.method)(**step.kwargs)
                self._note(side.collections, step, reply)
                return reply
            for attempt in (0, 1):
                col = side.collections.get(step.collection)
                if col is None:
                    col = await side.client.get_collection(
                        step.collection, embedding_function=None
                    )
                    side.collections[step.collection] = col
                try:
                    return await getattr(col, step.method)(**step.kwargs)
                except Exception as exc:
                    side.collections.pop(step.collection, None)
                    if attempt or not self.is_not_found(exc):
                        raise
            raise AssertionError("unreachable")  # pragma: no cover
        except Exception as exc:
            if self._loop_thread is not None and threading.current_thread() is (
                self._loop_thread.thread
            ):
                raise  # execute() maps it
            return self._handle(exc, step)

    def forget(self, name: str) -> None:
        """Drop a cached collection object (after the collection was dropped)."""
        self._collections.pop(name, None)
        for side in self._async.made():
            side.collections.pop(name, None)
        if self._shared_async is not None:
            self._shared_async.collections.pop(name, None)

    # ------------------------------------------------------------ closing
    @property
    def open_async_clients(self) -> int:
        """How many async clients this connection made and has not closed (for tests)."""
        return len(self._async)

    def close(self) -> None:
        """Close what this connection opened (never the caller's client). Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._collections.clear()
        if self._owns_sync and self._sync is not None:
            self._sync.close()
            _close_http_session(self._sync)
        if self._loop_thread is not None:
            self._loop_thread.stop()
        self._async.close()

    async def aclose(self) -> None:
        await self._async.aclose()
        await asyncio.to_thread(self.close)


async def _close_side(side: _AsyncSide) -> None:
    await _aclose_client(side.client)


def _forget_side(side: _AsyncSide) -> None:
    _drop_system(side.client)


async def _aclose_client(client: Any) -> None:
    """Close an AsyncHttpClient's HTTP connections, then forget its chromadb system."""
    server = getattr(client, "_server", None)
    for http in list(getattr(server, "_clients", {}).values()):
        # A client made on a loop that is closed now: its sockets went with it.
        with contextlib.suppress(RuntimeError):
            await http.aclose()
    if server is not None:
        server._clients = {}
    _drop_system(client)


def _close_http_session(client: Any) -> None:
    """Close the HTTP sessions of a sync HttpClient whose systems have stopped.

    chromadb's ``close()`` stops the client's system, and the system of the admin
    client it made to check the tenant, once nothing else uses them, but leaves each
    system's ``httpx.Client`` (and its sockets) open.
    """
    from chromadb.api.shared_system_client import SharedSystemClient

    for part in (client, getattr(client, "_admin_client", None)):
        ident = getattr(part, "_identifier", None)
        if ident is None or ident in SharedSystemClient._identifier_to_system:
            continue  # still in use
        session = getattr(getattr(part, "_server", None), "_session", None)
        if session is not None:
            session.close()


def _drop_system(client: Any) -> None:
    from chromadb.api.shared_system_client import SharedSystemClient

    ident = getattr(client, "_identifier", None)
    if ident is None:
        return
    with SharedSystemClient._refcount_lock:
        SharedSystemClient._identifier_to_refcount.pop(ident, None)
        SharedSystemClient._identifier_to_system.pop(ident, None)


def _is_stale_connection(exc: BaseException) -> bool:
    """A request that failed on a kept-alive connection the server had closed."""
    try:
        import httpx
    except ImportError:  # pragma: no cover - a dependency of chromadb
        return False
    while exc is not None:
        if isinstance(exc, (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError)):
            return True
        exc = exc.__cause__  # type: ignore[assignment]
    return False


def _is_connect_error(exc: BaseException) -> bool:
    try:
        import httpx
    except ImportError:  # pragma: no cover - a dependency of chromadb
        return isinstance(exc, (ConnectionError, TimeoutError))
    if isinstance(exc, (httpx.ConnectError, httpx.TimeoutException, httpx.NetworkError)):
        return True
    return isinstance(exc, (ConnectionError, TimeoutError))
