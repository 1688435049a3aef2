"""The shared sync/async driver for operations written once as generators."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from bruno_memory_integrations.sansio import adrive, drive


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
