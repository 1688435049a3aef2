"""Milvus clients: making them, running one call sync or async, error mapping, closing.

* **A server** (``milvus://``, ``milvuss://``): a ``MilvusClient`` for the blocking
  path and an ``AsyncMilvusClient`` per event loop for the async one (a gRPC aio
  channel belongs to the loop that opened it).
* **Milvus Lite** (``milvus:///file.db``): ``MilvusClient(path)``; pymilvus runs
  the Lite engine for the file. Only the blocking client is used: the backend
  runs async calls in worker threads.
* A client the caller passes in is never closed here.

Errors become :class:`BackendUnavailableError` (cannot connect, unavailable,
timed out) or :class:`BackendError`, with the password and token masked.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
from collections.abc import Iterator
from typing import Any

from pymilvus import AsyncMilvusClient, MilvusClient
from pymilvus.exceptions import MilvusException

from ...errors import BackendError, BackendUnavailableError, ConfigurationError, StoreClosedError
from ..loops import LoopClients
from .query import NO_WAIT, UPSERT_COLUMNS, Call, rows_of

__all__ = ["Connection"]

#: pymilvus logs every failed call at ERROR before raising it; the backend maps and
#: raises the error itself, so the duplicate log is silenced for its own calls.
_RPC_LOGGER = "pymilvus.decorators"
#: MilvusException codes (and texts) that mean the server cannot be reached.
_UNAVAILABLE_CODES = (1, 2)
_READS = ("query", "search")
#: (server, collection) whose next read is Strong (a delete happened), for every store
#: of this process (like pymilvus' own record of the last insert per collection).
_STRONG_NEXT: set[tuple[str, str]] = set()
#: (server, collection) whose load was started without waiting (a new collection):
#: the next read or delete on it waits for the load first.
_LOADING: set[tuple[str, str]] = set()
_NEEDS_LOAD = ("query", "search", "delete")
_UNAVAILABLE_TEXT = ("fail connecting", "unavailable", "deadline exceeded", "connection refused")


class Connection:
    """Runs :class:`~.query.Call` steps on the blocking or the async Milvus client."""

    def __init__(
        self,
        description: str,
        *,
        sync: MilvusClient | None,
        owns_sync: bool,
        async_options: dict[str, Any] | None = None,
        shared_async: AsyncMilvusClient | None = None,
        secrets: tuple[str, ...] = (),
    ) -> None:
        self.description = description
        self._sync = sync
        self._owns_sync = owns_sync
        self._async_options = async_options
        self._shared_async = shared_async
        self._secrets = tuple(s for s in secrets if s)
        # One async client per event loop, closed with its loop (loops.py).
        self._aclients: LoopClients[AsyncMilvusClient] = LoopClients(_close_async)
        self._closed = False
        self.version = ""
        self.lite = False
        #: Consistency level of every read (``query`` / ``search``) made here.
        self.consistency = "Session"

    # ------------------------------------------------------------ construction
    @classmethod
    def for_options(cls, description: str, kwargs: dict[str, Any], lite_file: bool) -> Connection:
        secrets = (str(kwargs.get("password", "")), str(kwargs.get("token", "")))
        conn = cls(description, sync=None, owns_sync=True, secrets=secrets)
        # Milvus Lite serves a file from a local server process that it stops when the
        # file's last client closes: a client opened at that moment can find the old
        # server going away. Try again after a pause (a real server is tried once).
        waits = (0.5, 1.0, 2.0) if lite_file else ()
        try:
            for wait in (*waits, None):
                try:
                    with _quiet():
                        conn._sync = MilvusClient(**kwargs)
                    break
                except MilvusException:
                    if wait is None:
                        raise
                    time.sleep(wait)
        except MilvusException as exc:
            raise conn.fail(exc, "connect") from None
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(f"bad Milvus options: {conn.mask(str(exc))}") from None
        if not lite_file:
            conn._async_options = kwargs
        return conn

    @classmethod
    def for_client(cls, client: Any) -> Connection:
        if isinstance(client, MilvusClient):
            return cls("caller's MilvusClient", sync=client, owns_sync=False)
        if isinstance(client, AsyncMilvusClient):
            raise ConfigurationError(
                "pass a MilvusClient (or a milvus:// URL); an AsyncMilvusClient alone cannot "
                "serve the store's blocking methods. The store makes its own async clients "
                "from the URL"
            )
        raise ConfigurationError(
            f"not a Milvus client: {type(client).__module__}.{type(client).__name__}; pass a "
            f"MilvusClient or a milvus:// URL"
        )

    def check_server(self) -> str:
        """Ask the server its version (proving it answers); note whether it is Milvus Lite.

        Raises:
            BackendUnavailableError: the server does not answer.
        """
        self.version = str(self.execute(Call("get_server_version")))
        self.lite = self.version.lower().startswith("milvus_lite")
        if self.lite:
            self._async_options = None  # Lite runs through worker threads
        return self.version

    @property
    def native_async(self) -> bool:
        return self._async_options is not None or self._shared_async is not None

    # ------------------------------------------------------------ errors
    def mask(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def fail(self, exc: BaseException, what: str) -> BaseException:
        """The error to raise for ``exc``, raised by client method ``what``."""
        message = self.mask(f"{type(exc).__name__}: {exc}")
        text = message.lower()
        code = getattr(exc, "code", None)
        if (
            isinstance(exc, (ConnectionError, TimeoutError, asyncio.TimeoutError))
            or (isinstance(exc, MilvusException) and code in _UNAVAILABLE_CODES)
            or any(t in text for t in _UNAVAILABLE_TEXT)
        ):
            return BackendUnavailableError(
                f"Milvus at {self.description} is unreachable ({what}): {message}"
            )
        if isinstance(exc, (MilvusException, ValueError, KeyError, RuntimeError)):
            return BackendError(f"Milvus at {self.description} failed ({what}): {message}")
        return exc

    def _raise(self, exc: Exception, step: Call) -> Any:
        mapped = self.fail(exc, step.method)
        if step.soft and type(mapped) is BackendError:
            return mapped
        if mapped is exc:
            raise exc
        raise mapped from None

    # ------------------------------------------------------------ running
    def _kwargs(self, step: Call) -> dict[str, Any]:
        if self.lite:
            return step.kwargs
        if step.method in _READS:
            level = self.consistency
            key = (self.description, step.kwargs.get("collection_name", ""))
            if level == "Session" and key in _STRONG_NEXT:
                _STRONG_NEXT.discard(key)
                level = "Strong"
            return {"consistency_level": level, **step.kwargs}
        if step.method == "delete":
            # Session reads wait for the last insert's timestamp, but a Milvus 2.3 server
            # reports no timestamp for a delete: the next read is Strong (it waits until
            # the query nodes have seen everything up to now, the delete included).
            _STRONG_NEXT.add((self.description, step.kwargs["collection_name"]))
        return step.kwargs

    def _load_key(self, step: Call) -> tuple[str, str]:
        return (self.description, str(step.kwargs.get("collection_name", "")))

    def execute(self, step: Call) -> Any:
        if self._closed or self._sync is None:
            raise StoreClosedError("this Milvus store is closed")
        try:
            with _quiet():
                if step.method in _NEEDS_LOAD and (key := self._load_key(step)) in _LOADING:
                    self._sync.load_collection(key[1])  # returns once the load is done
                    _LOADING.discard(key)
                if step.method == "load_collection" and step.kwargs.get(NO_WAIT):
                    reply = self._sync.load_collection(**step.kwargs)
                    _LOADING.add(self._load_key(step))
                    return reply
                if step.method == UPSERT_COLUMNS:
                    return self._upsert_columns(self._sync, step.kwargs)
                return getattr(self._sync, step.method)(**self._kwargs(step))
        except Exception as exc:  # noqa: BLE001 - every client failure is mapped to ours
            return self._raise(exc, step)

    @staticmethod
    def _upsert_columns(client: MilvusClient, kwargs: dict[str, Any]) -> Any:
        # The client's own upsert takes rows only; its connection handler (what that
        # upsert calls, and what pymilvus' ORM uses for columns) takes columns. A
        # client without it gets the rows.
        handler = getattr(client, "_get_connection", None)
        context = getattr(client, "_generate_call_context", None)
        if handler is None or context is None:
            return client.upsert(kwargs["collection_name"], rows_of(kwargs["entities"]))
        return handler().upsert(
            kwargs["collection_name"], kwargs["entities"], schema=kwargs["schema"],
            context=context(),
        )

    @staticmethod
    async def _aupsert_columns(client: AsyncMilvusClient, kwargs: dict[str, Any]) -> Any:
        handler = getattr(client, "_get_connection", None)
        context = getattr(client, "_generate_call_context", None)
        if handler is None or context is None:
            return await client.upsert(kwargs["collection_name"], rows_of(kwargs["entities"]))
        # The async handler keeps its own schema cache (and refuses a schema argument).
        return await (await handler()).upsert(
            kwargs["collection_name"], kwargs["entities"], context=context()
        )

    async def _aclient(self) -> AsyncMilvusClient:
        if self._shared_async is not None:
            return self._shared_async
        if self._closed:
            raise StoreClosedError("this Milvus store is closed")
        return await self._aclients.get(self._make_async)

    async def _make_async(self) -> AsyncMilvusClient:
        assert self._async_options is not None
        with _quiet():
            return AsyncMilvusClient(**self._async_options)

    async def aexecute(self, step: Call) -> Any:
        try:
            client = await self._aclient()
            with _quiet():
                if step.method in _NEEDS_LOAD and (key := self._load_key(step)) in _LOADING:
                    await client.load_collection(key[1])  # returns once the load is done
                    _LOADING.discard(key)
                if step.method == "load_collection":  # the async client always waits
                    kwargs = {k: v for k, v in step.kwargs.items() if k != NO_WAIT}
                    return await client.load_collection(**kwargs)
                if step.method == UPSERT_COLUMNS:
                    return await self._aupsert_columns(client, step.kwargs)
                return await getattr(client, step.method)(**self._kwargs(step))
        except StoreClosedError:
            raise
        except Exception as exc:  # noqa: BLE001 - every client failure is mapped to ours
            return self._raise(exc, step)

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
        if self._owns_sync and self._sync is not None:
            with contextlib.suppress(Exception), _quiet():
                self._sync.close()
        self._aclients.close()

    async def aclose(self) -> None:
        await self._aclients.aclose()
        await asyncio.to_thread(self.close)


async def _close_async(client: AsyncMilvusClient) -> None:
    with contextlib.suppress(Exception), _quiet():
        await client.close()


_SILENCED: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "bruno_milvus_quiet", default=False
)


class _DropOwnErrors(logging.Filter):
    """Drops pymilvus' error log of a call the backend made (it maps and raises the error)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not _SILENCED.get()


logging.getLogger(_RPC_LOGGER).addFilter(_DropOwnErrors())


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    token = _SILENCED.set(True)
    try:
        yield
    finally:
        _SILENCED.reset(token)
