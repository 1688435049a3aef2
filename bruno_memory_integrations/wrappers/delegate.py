"""One step kind for backends made of other backends: run an operation on a part.

A wrapper's operation yields ``Delegate(part, make)``; the wrapper's
:meth:`~DelegatingBackend.execute` runs it with ``part.run(make)`` and its
:meth:`~DelegatingBackend.aexecute` awaits ``part.arun(make)``. So each wrapper
operation is written once, sync and async follow from the same drivers as for any
backend, and an async call never blocks the loop (a blocking-only part runs in its
own worker threads, a native-async part awaits its client).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..backend import Backend, MakeOp
from ..capabilities import Capabilities
from ..sansio import Op

__all__ = ["Delegate", "DelegatingBackend", "as_backend", "on"]


@dataclass(frozen=True)
class Delegate:
    """A step: run one operation (``make()``) on another backend, ``backend``."""

    backend: Backend
    make: MakeOp[Any]


def on(backend: Backend, method: Callable[..., Op[Any]], *args: Any) -> Delegate:
    """The step running ``method(*args)`` (an operation of ``backend``) on ``backend``."""
    return Delegate(backend, functools.partial(method, *args))


class DelegatingBackend(Backend):
    """A backend whose steps are operations on other backends (its *parts*)."""

    name = "wrapper"
    #: Replaced per instance from the parts' capabilities.
    capabilities = Capabilities(native_async=True)

    def execute(self, step: Delegate) -> Any:
        return step.backend.run(step.make)

    async def aexecute(self, step: Delegate) -> Any:
        return await step.backend.arun(step.make)

    def parts(self) -> Sequence[Backend]:
        """The distinct backends this one is made of."""
        raise NotImplementedError

    def close(self) -> None:
        for part in self.parts():
            part.close()
        super().close()

    async def aclose(self) -> None:
        for part in self.parts():
            await part.aclose()
        self._shutdown_executor()


def as_backend(target: Any, **options: Any) -> Backend:
    """A part from a URL, a :class:`Store`, a :class:`Backend` or a driver client."""
    from ..store import Store

    if isinstance(target, Backend):
        return target
    if isinstance(target, Store):
        return target.backend
    from ..registry import open_store

    return open_store(target, **options).backend
