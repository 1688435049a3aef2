"""Each saver / store operation is written once, as a generator, and run sync or async.

The same mechanism as the core's (:mod:`..sansio`), one level up: here a step is
a call on the public Store API (or an ``Embeddings`` object).

An operation yields :class:`Call` objects (or a list of them, which the async
runner awaits together) naming a sync method on a target: a
:class:`~bruno_memory_integrations.Store` or a LangChain ``Embeddings``. The sync
runner calls ``name``; the async runner awaits ``"a" + name``, the target's async
twin. So the sync and async paths cannot drift apart, and async paths never call
a blocking Store method.

A *stream* is an operation that also yields results as it goes (anything that is
not a :class:`Call` or a list of them), for listings read page by page:
:func:`stream` and :func:`astream` run it and hand those results on.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Generator, Iterator
from typing import Any, NamedTuple, TypeVar

from ..sansio import adrive, drive

__all__ = ["Call", "Op", "Stream", "arun", "astream", "call", "run", "stream"]

T = TypeVar("T")


class Call(NamedTuple):
    """``target.name(*args, **kwargs)``, or its ``a``-prefixed twin when run async.

    A named tuple: one is made for every Store call a checkpoint operation makes.
    """

    target: Any
    name: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = {}  # noqa: RUF012 - never mutated


def call(target: Any, name: str, *args: Any, **kwargs: Any) -> Call:
    return Call(target, name, args, kwargs)


Op = Generator["Call | list[Call]", Any, T]


def _execute(request: Call | list[Call]) -> Any:
    if isinstance(request, list):
        return [getattr(c.target, c.name)(*c.args, **c.kwargs) for c in request]
    return getattr(request.target, request.name)(*request.args, **request.kwargs)


async def _aexecute(request: Call | list[Call]) -> Any:
    if isinstance(request, list):
        return list(
            await asyncio.gather(
                *(getattr(c.target, "a" + c.name)(*c.args, **c.kwargs) for c in request)
            )
        )
    return await getattr(request.target, "a" + request.name)(*request.args, **request.kwargs)


def run(op: Op[T]) -> T:
    """Run an operation with sync calls, in order."""
    return drive(op, _execute)


async def arun(op: Op[T]) -> T:
    """Run an operation with the targets' async methods; a list of calls runs concurrently."""
    return await adrive(op, _aexecute)


Stream = Generator[Any, Any, None]
"""An operation that yields :class:`Call` steps and, between them, results."""


def stream(op: Stream) -> Iterator[Any]:
    """Run a stream with sync calls, yielding its results as they come."""
    try:
        value = next(op)
        while True:
            if isinstance(value, (Call, list)):
                value = op.send(_execute(value))
            else:
                yield value
                value = next(op)
    except StopIteration:
        return
    finally:
        op.close()


async def astream(op: Stream) -> AsyncIterator[Any]:
    """Run a stream with the targets' async methods, yielding its results."""
    try:
        value = next(op)
        while True:
            if isinstance(value, (Call, list)):
                value = op.send(await _aexecute(value))
            else:
                yield value
                value = next(op)
    except StopIteration:
        return
    finally:
        op.close()
