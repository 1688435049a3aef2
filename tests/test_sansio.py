"""The shared sync/async driver for operations written once as generators, and its markers."""

from __future__ import annotations

import functools
import threading
from collections.abc import Generator
from typing import Any

import pytest

from bruno_memory_integrations.backends.memory import MemoryBackend
from bruno_memory_integrations.sansio import (
    Offload,
    adrive,
    blocking,
    drive,
    is_idempotent,
    non_idempotent,
)


def _op() -> Generator[str, Any, list[Any]]:
    got = [(yield "first"), (yield "second")]
    try:
        got.append((yield "fails"))
    except KeyError as exc:  # the op handles a step's error itself
        got.append(f"handled {exc.args[0]}")
    return got


def _execute(step: str) -> Any:
    if step == "fails":
        raise KeyError("boom")
    return step.upper()


async def _aexecute(step: str) -> Any:
    return _execute(step)


def test_drive_sends_replies_and_returns_the_result() -> None:
    assert drive(_op(), _execute, lambda exc: True) == ["FIRST", "SECOND", "handled boom"]


async def test_adrive_runs_the_same_op() -> None:
    assert await adrive(_op(), _aexecute, lambda exc: True) == ["FIRST", "SECOND", "handled boom"]


def test_errors_propagate_unless_recovered() -> None:
    with pytest.raises(KeyError):
        drive(_op(), _execute)
    with pytest.raises(KeyError):
        drive(_op(), _execute, lambda exc: False)


def test_an_unhandled_error_thrown_in_propagates() -> None:
    def op() -> Generator[str, Any, None]:
        yield "fails"

    with pytest.raises(KeyError):
        drive(op(), _execute, lambda exc: True)


# ------------------------------------------------------------------ Offload steps
def _offloading_op(where: list[int]) -> Generator[Any, Any, int]:
    def work() -> int:
        where.append(threading.get_ident())
        return 41

    got = yield Offload(work)
    return got + 1


def test_drive_runs_offload_inline() -> None:
    where: list[int] = []
    assert drive(_offloading_op(where), _execute) == 42
    assert where == [threading.get_ident()]


async def test_adrive_runs_offload_off_the_loop() -> None:
    where: list[int] = []
    assert await adrive(_offloading_op(where), _aexecute) == 42
    assert where and where[0] != threading.get_ident()


def test_drive_closes_an_abandoned_op() -> None:
    closed: list[bool] = []

    def op() -> Generator[str, Any, None]:
        try:
            yield "fails"
        finally:
            closed.append(True)

    with pytest.raises(KeyError):
        drive(op(), _execute)
    assert closed == [True]


# ------------------------------------------------------------------ markers
class _Blocking:
    @blocking
    def answer(self, x: int) -> int:
        return x * 2

    @non_idempotent
    def append(self) -> Generator[str, Any, None]:
        yield "first"


def test_blocking_methods_are_operations_without_steps() -> None:
    op = _Blocking().answer(21)
    assert isinstance(op, Generator)
    assert drive(op, lambda step: pytest.fail(f"no step expected, got {step!r}")) == 42


def test_idempotence_is_read_through_partials_and_bound_methods() -> None:
    b = _Blocking()
    assert is_idempotent(functools.partial(b.answer, 1))
    assert not is_idempotent(functools.partial(b.append))
    assert not is_idempotent(b.append)


# ------------------------------------------------------------------ Backend.run / arun
async def test_blocking_backend_runs_async_operations_in_its_worker_threads() -> None:
    backend = MemoryBackend()
    loop_thread = threading.get_ident()
    seen: list[int] = []
    real = backend.list_collections

    def spy() -> Any:
        seen.append(threading.get_ident())
        return real()

    backend.list_collections = spy  # type: ignore[method-assign]
    assert await backend.acall(backend.list_collections) == []
    assert backend.call(backend.list_collections) == []
    assert seen[0] != loop_thread and seen[1] == loop_thread
    backend.close()
