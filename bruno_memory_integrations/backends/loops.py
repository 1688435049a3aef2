"""One async client per event loop, closed with its loop (the backends with native async).

An asyncio client belongs to the loop that made it: its connections are that loop's
transports. So a backend keeps one client per running loop, made on first use there.
:class:`LoopClients` holds them and closes each one:

* when its loop shuts down: a guard, an async generator started on that loop, closes
  the client in its ``finally`` (``asyncio.run`` and ``asyncio.Runner`` close a loop's
  async generators before closing the loop), so a client nobody closed still lets go
  of its connections instead of leaving sockets for the garbage collector;
* at the store's ``aclose()`` (the running loop's client) and ``close()`` (every
  client whose loop is still open, on that loop).

Redis, Chroma, Qdrant, Milvus, Pinecone and Weaviate use it; PostgreSQL's pools close themselves
the same way with a task (postgres/connection.py).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator
from typing import Generic, TypeVar

__all__ = ["LoopClients"]

T = TypeVar("T")


class _Entry(Generic[T]):
    __slots__ = ("guard", "ready")

    def __init__(self, ready: asyncio.Future[T], guard: AsyncGenerator[None, None]) -> None:
        self.ready = ready  # done once the client is made (or failed to be)
        self.guard = guard


class LoopClients(Generic[T]):
    """The clients of every event loop; ``close`` is how one is closed (on its loop).

    ``forget`` (optional) releases what a client holds outside its loop, for a loop
    that was closed without shutting down its async generators (``loop.close()``
    alone), whose guard never ran: its connections cannot be closed any more.
    """

    def __init__(
        self,
        close: Callable[[T], Awaitable[None]],
        forget: Callable[[T], None] | None = None,
    ) -> None:
        self._close = close
        self._forget = forget
        self._entries: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Entry[T]] = (
            weakref.WeakKeyDictionary()
        )

    def __len__(self) -> int:
        return len(self._entries)

    def made(self) -> Iterator[T]:
        """The clients made so far (on any loop)."""
        for entry in list(self._entries.values()):
            yield from _result(entry.ready)

    async def get(self, make: Callable[[], Awaitable[T]]) -> T:
        """The running loop's client; the first caller on a loop makes it with
        ``make()`` while any other task of that loop waits for it. If ``make`` fails,
        every waiting task gets its error and the next call tries again."""
        loop = asyncio.get_running_loop()
        entry = self._entries.get(loop)
        if entry is not None:
            if entry.ready.done():
                return entry.ready.result()
            return await asyncio.shield(entry.ready)
        self._prune()
        ready: asyncio.Future[T] = loop.create_future()
        guard = self._guard(ready)
        # No await between the lookup and the insert: no other task can interleave.
        self._entries[loop] = _Entry(ready, guard)
        await guard.__anext__()  # started on this loop: closed when it shuts down
        try:
            client = await make()
        except BaseException as exc:
            self._entries.pop(loop, None)
            ready.set_exception(exc)
            ready.exception()  # retrieved here; waiting tasks get it too
            await guard.aclose()
            raise
        ready.set_result(client)
        return client

    async def _guard(self, ready: asyncio.Future[T]) -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            self._entries.pop(asyncio.get_running_loop(), None)
            for client in _result(ready):
                await self._close(client)

    def _prune(self) -> None:
        """Forget the clients of loops closed without shutting down their generators."""
        for loop in [lp for lp in list(self._entries) if lp.is_closed()]:
            entry = self._entries.pop(loop)
            if self._forget is not None:
                for client in _result(entry.ready):
                    self._forget(client)

    async def aclose(self) -> None:
        """Close the running loop's client, if it has one."""
        entry = self._entries.pop(asyncio.get_running_loop(), None)
        if entry is not None:
            await entry.guard.aclose()

    def close(self) -> None:
        """Close every client, each on its own loop (from any thread); a loop that
        has shut down closed its client already."""
        entries, self._entries = list(self._entries.items()), weakref.WeakKeyDictionary()
        for loop, entry in entries:
            if loop.is_closed():
                if self._forget is not None:
                    for client in _result(entry.ready):
                        self._forget(client)
                continue
            coro = entry.guard.aclose()
            try:
                if loop.is_running():
                    asyncio.run_coroutine_threadsafe(coro, loop)
                else:
                    loop.run_until_complete(coro)
            except RuntimeError:  # pragma: no cover - the loop closed meanwhile
                coro.close()


def _result(ready: asyncio.Future[T]) -> list[T]:
    if ready.done() and not ready.cancelled() and ready.exception() is None:
        return [ready.result()]
    return []
