"""Operations written once, run by a sync or an async driver.

A backend with both a sync and an async client (PostgreSQL, Redis) writes each
operation once, as a generator that yields the *step* it needs run (an SQL
statement, a pipeline of commands) and receives that step's reply. It does no
I/O itself, so the same operation runs on a blocking connection through
:func:`drive` and on an async one through :func:`adrive`, and can be unit-tested
with canned replies. This is the "build the query once, run it sync or async"
rule of docs/architecture.md as one shared mechanism.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from typing import Any, TypeVar

__all__ = ["Op", "adrive", "drive"]

S = TypeVar("S")
T = TypeVar("T")

Op = Generator[S, Any, T]
"""An operation: yields steps, is sent each step's reply, returns its result."""

Recover = Callable[[BaseException], bool]
"""Given a step's error: True hands it to the operation (which may handle it),
False lets it propagate to the caller."""


def drive(op: Op[S, T], execute: Callable[[S], Any], recover: Recover | None = None) -> T:
    """Run ``op`` to completion, executing each step with ``execute``."""
    try:
        step = next(op)
        while True:
            try:
                reply = execute(step)
            except Exception as exc:
                if recover is None or not recover(exc):
                    raise
                step = op.throw(exc)
                continue
            step = op.send(reply)
    except StopIteration as stop:
        result: T = stop.value
        return result


async def adrive(
    op: Op[S, T], execute: Callable[[S], Awaitable[Any]], recover: Recover | None = None
) -> T:
    """Run ``op`` to completion, awaiting ``execute`` for each step (see :func:`drive`)."""
    try:
        step = next(op)
        while True:
            try:
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
