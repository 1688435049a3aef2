"""Operations written once, run sync or async: the mechanism every layer shares.

An *operation* is a generator. It does no I/O itself: it yields each *step* it
needs run (an SQL statement, a batch of Redis commands, a call on a vendor
client, a backend operation) and is sent that step's reply; its ``return`` value
is the operation's result. The same generator then runs

* on a blocking client through :func:`drive`, and
* on an async client through :func:`adrive`,

so query building and reply handling exist once, and an operation can be
unit-tested with canned replies. Two layers use it:

* a backend writes each of its operations once this way (``backend.py`` of every
  backend folder); :meth:`~bruno_memory_integrations.backend.Backend.run` and
  :meth:`~bruno_memory_integrations.backend.Backend.arun` drive them;
* the :class:`~bruno_memory_integrations.store.Store` writes each public method
  once as a *flow* that yields backend calls, and its sync and async methods
  both drive that flow.

A step of type :class:`Offload` is CPU work (checking or encoding a big batch):
:func:`drive` runs it inline, :func:`adrive` in a worker thread, so async callers
never stall the event loop on it. Any layer may yield one.

A backend whose client is blocking only (SQLite, the memory backend, embedded
engines) writes plain methods and marks them :func:`blocking`; its async form
then runs the whole operation in the backend's worker threads.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import Any, Concatenate, ParamSpec, TypeVar

__all__ = [
    "Offload",
    "Op",
    "adrive",
    "blocking",
    "drive",
    "is_idempotent",
    "non_idempotent",
]

S = TypeVar("S")
T = TypeVar("T")
P = ParamSpec("P")
B = TypeVar("B")

Op = Generator[Any, Any, T]
"""An operation: yields steps, is sent each step's reply, returns its result."""

Recover = Callable[[BaseException], bool]
"""Given a step's error: True hands it to the operation (which may handle it),
False lets it propagate to the caller."""


@dataclass(frozen=True)
class Offload:
    """A step of CPU work: run inline by :func:`drive`, in a thread by :func:`adrive`."""

    fn: Callable[[], Any]


def drive(op: Op[T], execute: Callable[[Any], Any], recover: Recover | None = None) -> T:
    """Run ``op`` to completion, executing each step with ``execute``."""
    try:
        step = next(op)
        while True:
            try:
                reply = step.fn() if isinstance(step, Offload) else execute(step)
            except Exception as exc:
                if recover is None or not recover(exc):
                    raise
                step = op.throw(exc)
                continue
            step = op.send(reply)
    except StopIteration as stop:
        result: T = stop.value
        return result
    finally:
        op.close()


async def adrive(
    op: Op[T], execute: Callable[[Any], Awaitable[Any]], recover: Recover | None = None
) -> T:
    """Run ``op`` to completion, awaiting ``execute`` for each step (see :func:`drive`)."""
    try:
        step = next(op)
        while True:
            try:
                if isinstance(step, Offload):
                    reply = await asyncio.to_thread(step.fn)
                else:
                    reply = await execute(step)
            except Exception as exc:
                if recover is None or not recover(exc):
                    raise
                step = op.throw(exc)
                continue
            step = op.send(reply)
    except StopIteration as stop:
        result: T = stop.value
        return result
    finally:
        op.close()


def blocking(fn: Callable[Concatenate[B, P], T]) -> Callable[Concatenate[B, P], Op[T]]:
    """Mark a backend method that does its (blocking) work directly, with no steps.

    The decorated method returns an operation with no steps whose result is the
    method's return value, so blocking-only backends meet the same contract as
    the others; their async form runs in a worker thread.
    """

    @functools.wraps(fn)
    def op(self: B, *args: P.args, **kwargs: P.kwargs) -> Op[T]:
        return fn(self, *args, **kwargs)
        yield  # pragma: no cover - makes this a generator function

    # Backend.run calls the body itself (a partial of a bound method): that gives
    # the result without making and driving a generator that has no steps, on the
    # hot path of every SQLite call.
    op.blocking_body = fn  # type: ignore[attr-defined]
    return op


def non_idempotent(fn: Callable[P, T]) -> Callable[P, T]:
    """Mark an operation that must not be run again after a lost connection.

    An append may have committed before the connection dropped: running it again
    could store it twice. Drivers that retry (and fallback between stores) ask
    :func:`is_idempotent` first.
    """
    fn.idempotent = False  # type: ignore[attr-defined]
    return fn


def is_idempotent(call: Callable[..., Any]) -> bool:
    """Whether a backend call (a bound method or a ``functools.partial`` of one) may be retried."""
    target = call.func if isinstance(call, functools.partial) else call
    return bool(getattr(target, "idempotent", True))
