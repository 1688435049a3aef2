"""Qdrant clients: making them, running one call sync or async, error mapping, closing.

* **A server** (``qdrant://``, ``qdrants://``): a ``QdrantClient`` for the
  blocking path and an ``AsyncQdrantClient`` per event loop for the async one
  (an HTTP connection belongs to the loop that opened it). Errors become
  :class:`BackendUnavailableError` (cannot connect, timed out) or
  :class:`BackendError`, with the API key masked.
* **Local mode** (``qdrant:///dir``, ``qdrant://:memory:``): qdrant-client's
  Python emulation of Qdrant. It is blocking, so the backend runs async calls in
  worker threads; calls are serialized with a lock (the emulation is not safe
  for concurrent writers, and the chat append relies on its insert-only upsert
  being atomic). A directory can be opened by one local client per process (the
  emulation locks it), so every store over the same directory, or the same
  named in-memory database, shares one client, closed with the last store.
* A client the caller passes in is never closed here; siblings made from its
  ``init_options`` (the async twin of a sync server client, and vice versa) are.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from typing import Any

from qdrant_client import AsyncQdrantClient, QdrantClient

from ...errors import BackendError, BackendUnavailableError, ConfigurationError
from ..loops import LoopClients
from .options import QdrantTarget, client_options
from .query import Call

__all__ = ["MIN_SERVER", "Connection", "is_local_client", "shared_local"]

#: Oldest Qdrant server the backend works with (see Connection.check_server).
MIN_SERVER = (1, 17)


def is_local_client(client: Any) -> bool:
    """Whether a QdrantClient / AsyncQdrantClient runs local mode (the emulation)."""
    inner = getattr(client, "_client", None)
    return type(inner).__name__ in ("QdrantLocal", "AsyncQdrantLocal")


class _SharedLocal:
    """Local-mode clients shared in this process, by directory or in-memory name."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clients: dict[str, tuple[QdrantClient, threading.RLock, int]] = {}

    def acquire(
        self, key: str, make: Callable[[], QdrantClient]
    ) -> tuple[QdrantClient, threading.RLock]:
        with self._lock:
            entry = self._clients.get(key)
            if entry is None:
                entry = (make(), threading.RLock(), 0)
            client, lock, refs = entry
            self._clients[key] = (client, lock, refs + 1)
            return client, lock

    def release(self, key: str) -> None:
        with self._lock:
            client, lock, refs = self._clients[key]
            if refs > 1:
                self._clients[key] = (client, lock, refs - 1)
                return
            del self._clients[key]
        with lock:
            client.close()


shared_local = _SharedLocal()


class _LoopThread:
    """A private event loop in a thread: runs a caller's async local-mode client for sync code."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self.loop.run_forever, name="bruno-qdrant-local", daemon=True
        )
        self.thread.start()

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        self.loop.close()


class Connection:
    """Runs :class:`~.query.Call` steps on the blocking or the async Qdrant client.

    Use :meth:`for_target` (from a URL) or :meth:`for_client` (a caller's client).
    """

    def __init__(
        self,
        description: str,
        *,
        sync: QdrantClient | None = None,
        owns_sync: bool = False,
        local: bool = False,
        lock: threading.RLock | None = None,
        release: Callable[[], None] | None = None,
        async_options: dict[str, Any] | None = None,
        shared_async: AsyncQdrantClient | None = None,
        loop_thread: _LoopThread | None = None,
        secret: str | None = None,
    ) -> None:
        self.description = description
        self.local = local
        self._sync = sync
        self._owns_sync = owns_sync
        self._lock = lock or threading.RLock()
        self._release = release
        self._async_options = async_options
        self._shared_async = shared_async
        self._loop_thread = loop_thread
        self._secret = secret
        # One async client per event loop, closed with its loop (loops.py).
        self._aclients: LoopClients[AsyncQdrantClient] = LoopClients(_close_async)
        self._closed = False

    # ------------------------------------------------------------ construction
    @classmethod
    def for_target(cls, target: QdrantTarget, rest: dict[str, Any], name: str | None) -> Connection:
        kwargs = client_options(target, rest)
        if target.mode == "server":
            # The client's own check would block (and warn) in the constructor, also
            # in the async client's; check_server() asks the version once instead.
            kwargs.setdefault("check_compatibility", False)
            secret = kwargs.get("api_key")
            try:
                client = QdrantClient(**kwargs)
            except ValueError as exc:
                raise ConfigurationError(f"bad Qdrant options: {exc}") from exc
            return cls(
                target.description, sync=client, owns_sync=True, async_options=kwargs, secret=secret
            )
        if target.mode == "path":
            assert target.path is not None
            path = os.path.realpath(target.path)
            key = f"path:{path}"

            def make() -> QdrantClient:
                try:
                    return QdrantClient(path=path, force_disable_check_same_thread=True)
                except RuntimeError as exc:  # the directory is locked by another process
                    raise BackendUnavailableError(
                        f"{target.description}: {exc} (local mode allows one process per "
                        f"directory; run a Qdrant server to share data between processes)"
                    ) from exc
                except OSError as exc:
                    raise ConfigurationError(
                        f"cannot open {target.description}: {exc}"
                    ) from exc
        else:
            if name is None:
                client = QdrantClient(location=":memory:")
                return cls(target.description, sync=client, owns_sync=True, local=True)
            key = f"memory:{name}"

            def make() -> QdrantClient:
                return QdrantClient(location=":memory:")

        client, lock = shared_local.acquire(key, make)
        return cls(
            target.description,
            sync=client,
            local=True,
            lock=lock,
            release=lambda: shared_local.release(key),
        )

    @classmethod
    def for_client(cls, client: Any) -> Connection:
        if isinstance(client, QdrantClient):
            if is_local_client(client):
                return cls("caller's local-mode QdrantClient", sync=client, local=True)
            # Siblings skip the client's version check (check_server() asks once).
            opts = {**client.init_options, "check_compatibility": False}
            return cls(
                _describe(opts), sync=client, async_options=opts, secret=opts.get("api_key")
            )
        if isinstance(client, AsyncQdrantClient):
            if is_local_client(client):
                return cls(
                    "caller's local-mode AsyncQdrantClient",
                    local=True,
                    shared_async=client,
                    loop_thread=_LoopThread(),
                )
            opts = {**client.init_options, "check_compatibility": False}
            return cls(
                _describe(opts),
                sync=QdrantClient(**opts),
                owns_sync=True,
                shared_async=client,
                secret=opts.get("api_key"),
            )
        raise ConfigurationError(
            f"not a Qdrant client: {type(client).__module__}.{type(client).__name__}; pass a "
            f"QdrantClient or AsyncQdrantClient, or a qdrant:// URL"
        )

    def check_server(self) -> str:
        """Ask a server its version; refuse one too old for what the backend relies on.

        Qdrant 1.16 keeps collection metadata (where a collection's info lives) and
        1.17 has insert-only upserts (how chat appends claim their places); an older
        server would silently ignore the latter.

        Raises:
            BackendUnavailableError: the server does not answer.
            ConfigurationError: the server is older than 1.17.
        """
        if self.local:
            return "local"
        reply = self.execute(Call("info"))
        version = str(getattr(reply, "version", ""))
        try:
            numbers = tuple(int(x) for x in version.split("-")[0].split(".")[:2])
        except ValueError:
            numbers = ()
        if len(numbers) == 2 and numbers < MIN_SERVER:
            raise ConfigurationError(
                f"Qdrant at {self.description} is version {version}; the qdrant backend needs "
                f"{MIN_SERVER[0]}.{MIN_SERVER[1]} or later (collection metadata, insert-only "
                f"upserts for chat appends): upgrade the server"
            )
        return version

    # ------------------------------------------------------------ errors
    def _mask(self, text: str) -> str:
        return text.replace(self._secret, "***") if self._secret else text

    def fail(self, exc: BaseException, what: str) -> BaseException:
        """The error to raise for ``exc``, raised by client method ``what``."""
        from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

        message = self._mask(f"{type(exc).__name__}: {exc}")
        if isinstance(exc, ResponseHandlingException) or _is_connect_error(exc):
            return BackendUnavailableError(
                f"Qdrant at {self.description} is unreachable ({what}): {message}"
            )
        if isinstance(exc, UnexpectedResponse) and exc.status_code in (502, 503, 504):
            return BackendUnavailableError(
                f"Qdrant at {self.description} is unavailable ({what}): {message}"
            )
        if isinstance(exc, (UnexpectedResponse, ValueError, KeyError, RuntimeError)) or (
            _is_grpc_error(exc)
        ):
            return BackendError(f"Qdrant at {self.description} failed ({what}): {message}")
        return exc

    # ------------------------------------------------------------ running
    def execute(self, step: Call) -> Any:
        if self._closed:
            from ...errors import StoreClosedError

            raise StoreClosedError("this Qdrant store is closed")
        try:
            with self._lock:
                if self._loop_thread is not None:
                    assert self._shared_async is not None
                    return self._loop_thread.run(
                        getattr(self._shared_async, step.method)(**step.kwargs)
                    )
                assert self._sync is not None
                return getattr(self._sync, step.method)(**step.kwargs)
        except Exception as exc:
            mapped = self.fail(exc, step.method)
            if step.soft and type(mapped) is BackendError:
                return mapped
            if mapped is exc:
                raise
            raise mapped from exc

    async def _aclient(self) -> AsyncQdrantClient:
        if self._shared_async is not None:
            return self._shared_async
        return await self._aclients.get(self._make_async)

    async def _make_async(self) -> AsyncQdrantClient:
        assert self._async_options is not None
        return AsyncQdrantClient(**self._async_options)

    async def aexecute(self, step: Call) -> Any:
        client = await self._aclient()
        try:
            return await getattr(client, step.method)(**step.kwargs)
        except Exception as exc:
            mapped = self.fail(exc, step.method)
            if step.soft and type(mapped) is BackendError:
                return mapped
            if mapped is exc:
                raise
            raise mapped from exc

    # ------------------------------------------------------------ closing
    @property
    def open_async_clients(self) -> int:
        """How many async clients this connection made and has not closed (for tests)."""
        return len(self._aclients)

    def close(self) -> None:
        """Close what this connection opened (never the caller's client). Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._release is not None:
            self._release()
        elif self._owns_sync and self._sync is not None:
            with self._lock:
                self._sync.close()
        if self._loop_thread is not None:
            self._loop_thread.stop()
        self._aclients.close()

    async def aclose(self) -> None:
        await self._aclients.aclose()
        await asyncio.to_thread(self.close)


async def _close_async(client: AsyncQdrantClient) -> None:
    await client.close()


def _describe(opts: dict[str, Any]) -> str:
    url = opts.get("url") or opts.get("location") or opts.get("host") or "a Qdrant server"
    return str(url)


def _is_connect_error(exc: BaseException) -> bool:
    try:
        import httpx
    except ImportError:  # pragma: no cover - a dependency of qdrant-client
        return False
    if isinstance(exc, (httpx.ConnectError, httpx.TimeoutException, httpx.NetworkError)):
        return True
    if _is_grpc_error(exc):
        import grpc

        code = exc.code() if hasattr(exc, "code") else None
        return code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
    return isinstance(exc, (ConnectionError, TimeoutError))


def _is_grpc_error(exc: BaseException) -> bool:
    try:
        import grpc
    except ImportError:  # pragma: no cover - a dependency of qdrant-client
        return False
    return isinstance(exc, grpc.RpcError)
