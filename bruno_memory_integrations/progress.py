"""Progress bars for long operations (bulk adds, export, import), drawn with tqdm.

Bars are opt-in in the library (``show_progress=True``) and automatic in the
command line (shown when stderr is a terminal). They go to stderr, so output
meant for a pipe or a file stays clean. tqdm is imported only when a bar is drawn.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Protocol

__all__ = ["ProgressBar", "progress_bar"]


class ProgressBar(Protocol):
    """What callers use of a bar: advance it, and close it (or use ``with``)."""

    def update(self, n: float | None = 1) -> bool | None: ...

    def close(self) -> None: ...

    def __enter__(self) -> Any: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Any: ...


class _NoBar:
    """Stands in for a bar when progress is off, so callers need no ``if``."""

    def update(self, n: float | None = 1) -> None:
        return None

    def close(self) -> None:
        return None

    def __enter__(self) -> _NoBar:  # noqa: PYI034 (Self needs Python 3.11)
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def progress_bar(
    total: int | None,
    desc: str,
    *,
    enabled: bool | None = False,
    unit: str = "record",
) -> ProgressBar:
    """A bar counting ``total`` units, or an object that draws nothing.

    Args:
        total: Units expected (``None`` when unknown: the bar shows a count and rate).
        desc: Label in front of the bar.
        enabled: ``True`` draws the bar, ``False`` draws nothing, ``None`` draws it
            only when stderr is a terminal.
        unit: Name of one unit (``"record"``, ``"node"``, ``"line"``).
    """
    if enabled is False:
        return _NoBar()
    from tqdm import tqdm  # the plain bar: it also renders as text in notebooks

    bar: ProgressBar = tqdm(
        total=total,
        desc=desc,
        unit=unit,
        disable=None if enabled is None else False,  # None: only on a terminal
        dynamic_ncols=True,
    )
    return bar
