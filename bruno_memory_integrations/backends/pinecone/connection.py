"""Pinecone SDK index objects for the backend: making them, running steps, closing.

From a URL the backend makes a ``Pinecone`` client and its ``Index`` for sync calls
and, per event loop, an ``IndexAsyncio`` for async ones (its aiohttp session
belongs to the loop that made it); :meth:`Connection.close` closes them. An object
the caller passes in is used as is and never closed. SDK replies become plain
data here (see :class:`~.query.Call`), SDK errors become ours, API key masked.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pinecone.exceptions import PineconeApiException, PineconeException

from ...errors import BackendError, BackendUnavailableError, ConfigurationError
from ..loops import LoopClients
from .query import Call

__all__ = ["Connection", "NotFound", "Refused"]

#: Records per request when only an asyncio index is at hand (see aexecute).
ASYNC_UPSERT_SLICE = 50


class NotFound(BackendError):
    """Pinecone answered 404 (e.g. deleting everything in a namespace that does not exist)."""


class Refused(BackendError):
    """Pinecone refused a well-formed request (HTTP 4xx other than 401, 403, 404, 429), e.g.
    an index that does not support an operation."""


def _get(obj: Any, name: str) -> Any:
    """An SDK model's attribute (its models also act as dicts)."""
    try:
        return getattr(obj, name)
    except AttributeError:
        return obj.get(name) if isinstance(obj, dict) else None


def _plain_vectors(vectors: Any) -> dict[str, tuple[list[float] | None, dict[str, Any]]]:
    out = {}
    for key, v in (vectors or {}).items():
        values = getattr(v, "values", None)
        out[str(key)] = (list(values) if values else None, dict(getattr(v, "metadata", None) or {}))
    return out


def _next(resp: Any) -> str | None:
    pagination = getattr(resp, "pagination", None)
    token = getattr(pagination, "next", None) if pagination is not None else None
    return str(token) if token else None


def plain(method: str, resp: Any) -> Any:
    """The plain-data reply of an SDK call (see :class:`~.query.Call`)."""
    if method == "describe_index_stats":
        nss = getattr(resp, "namespaces", None) or {}
        return {
            "dimension": getattr(resp, "dimension", None),
            "metric": getattr(resp, "metric", None),
            "namespaces": {
                str(k): int(_get(v, "vector_count") or 0) for k, v in nss.items()
            },
        }
    if method in ("fetch", "fetch_by_metadata"):
        return _plain_vectors(getattr(resp, "vectors", None)), _next(resp)
    if method == "query":
        return [
            (str(_get(m, "id")), float(_get(m, "score") or 0.0),
             list(_get(m, "values") or []) or None,
             dict(_get(m, "metadata") or {}))
            for m in (getattr(resp, "matches", None) or [])
        ]
    if method == "list_paginated":
        return [str(v.id) for v in (getattr(resp, "vectors", None) or [])], _next(resp)
    if method == "update":
        return int(getattr(resp, "matched_records", None) or 0)
    return None


#: What a read of a namespace that does not exist (yet) returns: Pinecone may answer 404.
_EMPTY: dict[str, Any] = {
    "fetch": ({}, None),
    "fetch_by_metadata": ({}, None),
    "list_paginated": ([], None),
    "query": [],
    "update": 0,
    "delete": None,
}


class Connection:
    """Runs :class:`~.query.Call` steps on the sync index or this loop's asyncio index."""

    def __init__(
        self,
        *,
        client: Any = None,
        host: str | None = None,
        index: Any = None,
        async_index: Any = None,
        description: str = "Pinecone",
        secret: str | None = None,
        owns: bool = False,
    ) -> None:
        self._client, self._host, self._index = client, host, index
        self._shared_async = async_index
        self._owns = owns
        self.description = description
        self._secret = secret
        # One asyncio index per event loop, closed with its loop (loops.py).
        self._aindexes: LoopClients[Any] = LoopClients(_close_async)

    @property
    def has_sync(self) -> bool:
        return self._index is not None

    @property
    def has_async(self) -> bool:
        return self._shared_async is not None or (self._client is not None and bool(self._host))

    # ------------------------------------------------------------ errors
    def _mask(self, text: str) -> str:
        return text.replace(self._secret, "***") if self._secret else text

    def error(self, exc: BaseException, what: str) -> BaseException:
        """Our error for an SDK failure (API key masked)."""
        status = getattr(exc, "status", None)
        body = getattr(exc, "body", None) or getattr(exc, "reason", None) or exc
        message = self._mask(f"{type(exc).__name__}: {str(body)[:500]}")
        where = self.description
        if status in (401, 403):
            return BackendUnavailableError(
                f"{where} refused the API key while trying to {what}: {message}; check "
                f"api_key / PINECONE_API_KEY"
            )
        if status == 404:
            return NotFound(f"{where}: {message}")
        if isinstance(exc, PineconeApiException) and status is not None and status < 500:
            cls = BackendError if status == 429 else Refused
            return cls(f"{where} refused a request to {what}: {message}")
        if isinstance(exc, (PineconeApiException,)):
            return BackendError(f"{where} failed to {what}: {message}")
        if isinstance(exc, (OSError, ConnectionError, TimeoutError)) or type(
            exc
        ).__module__.split(".")[0] in ("urllib3", "aiohttp"):
            return BackendUnavailableError(
                f"cannot reach {where} to {what}: {message}; check the index host"
            )
        if isinstance(exc, PineconeException):
            return BackendError(f"{where} failed to {what}: {message}")
        return exc

    # ------------------------------------------------------------ running steps
    def execute(self, step: Call, tolerate: tuple[type[BaseException], ...] = ()) -> Any:
        if self._index is None:
            raise ConfigurationError(
                "this store was opened on a Pinecone asyncio index, which serves async calls "
                "only: use the a... methods, or open the store with a URL or an Index"
            )
        try:
            return plain(step.method, getattr(self._index, step.method)(**step.kwargs))
        except Exception as exc:
            mapped = self.error(exc, step.method)
            if isinstance(mapped, NotFound) and step.method in _EMPTY:
                return _EMPTY[step.method]  # a namespace that does not exist holds nothing
            if isinstance(mapped, Refused) and step.tolerate_refusal:
                return mapped
            raise mapped from exc

    async def _aindex(self) -> Any:
        if self._shared_async is not None:
            return self._shared_async
        return await self._aindexes.get(self._make_async)

    async def _make_async(self) -> Any:
        return self._client.IndexAsyncio(host=self._host)

    async def aexecute(self, step: Call) -> Any:
        if step.method == "upsert":
            # The SDK builds and checks one model object per record before sending, on the
            # caller's thread: for a big batch that would hold the event loop, so upserts run
            # on the sync index in a worker thread, or in slices of ASYNC_UPSERT_SLICE.
            if self._index is not None:
                return await asyncio.to_thread(self.execute, step)
            vectors = step.kwargs["vectors"]
            for i in range(0, len(vectors), ASYNC_UPSERT_SLICE):
                kw = {**step.kwargs, "vectors": vectors[i:i + ASYNC_UPSERT_SLICE]}
                await self._aexecute(Call("upsert", kw))
            return None
        return await self._aexecute(step)

    async def _aexecute(self, step: Call) -> Any:
        index = await self._aindex()
        try:
            return plain(step.method, await getattr(index, step.method)(**step.kwargs))
        except Exception as exc:
            mapped = self.error(exc, step.method)
            if isinstance(mapped, NotFound) and step.method in _EMPTY:
                return _EMPTY[step.method]  # a namespace that does not exist holds nothing
            if isinstance(mapped, Refused) and step.tolerate_refusal:
                return mapped
            raise mapped from exc

    # ------------------------------------------------------------ closing
    def close(self) -> None:
        """Close what this connection made (never the caller's objects)."""
        if self._owns and self._index is not None:
            close = getattr(self._index, "close", None)
            if close is not None:
                close()
        self._index = self._index if not self._owns else None
        self._aindexes.close()

    async def aclose(self) -> None:
        await self._aindexes.aclose()
        await asyncio.to_thread(self.close)


async def _close_async(index: Any) -> None:
    await index.close()
