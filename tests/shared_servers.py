"""One set of test servers for every pytest-xdist worker, started when first needed.

Without xdist, each session fixture in conftest.py starts its server itself. With
xdist (``-n 2``: what ``./dev test`` runs for the whole suite) every worker is its
own pytest session, so that would start one PostgreSQL, Redis, Chroma and Milvus
per worker. Instead the controller process runs a :class:`Broker`:

* a worker that needs a server of some kind creates ``<kind>.want`` in the broker's
  directory (its path reaches the workers in :data:`BROKER_ENV`) and waits for
  ``<kind>.json``;
* the broker's thread in the controller sees the request, starts that server (each
  kind in its own thread, so a slow Milvus start delays no PostgreSQL test), and
  writes ``{"url": ...}`` or, when it cannot start, ``{"error": ...}``, which the
  worker turns into the same skip (or failure) as a server it failed to start;
* the controller closes every server it started at the end of the run.

So a run needs only the servers its tests ask for, each started once, and no
worker stops a server another worker still uses. Tests already keep apart on a
shared server by their own names and prefixes (tests/stores.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: Set in the workers' environment by the controller: the broker's directory.
BROKER_ENV = "BRUNO_TEST_SERVER_BROKER"
#: How long a worker waits for a server (Milvus standalone may take minutes on a
#: loaded machine; its own start timeout is shorter, so an error comes first).
WAIT_SECONDS = 900.0


class Broker:
    """The controller side: starts each requested kind of server once, in a thread."""

    def __init__(self, factories: dict[str, Callable[[], Any]]) -> None:
        self.factories = factories
        self.directory = Path(tempfile.mkdtemp(prefix="bruno-test-broker-"))
        self._servers: list[Any] = []
        self._lock = threading.Lock()
        self._started: set[str] = set()
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._watcher = threading.Thread(target=self._watch, name="server-broker", daemon=True)

    def start(self) -> Broker:
        """Start answering requests (the caller puts :attr:`directory` in
        :data:`BROKER_ENV` for the workers it spawns)."""
        self._watcher.start()
        return self

    def _watch(self) -> None:
        while not self._stop.wait(0.05):
            for want in self.directory.glob("*.want"):
                kind = want.stem
                if kind in self._started:
                    continue
                self._started.add(kind)
                thread = threading.Thread(
                    target=self._serve, args=(kind,), name=f"start-{kind}", daemon=True
                )
                self._threads.append(thread)
                thread.start()

    def _serve(self, kind: str) -> None:
        answer: dict[str, str]
        make = self.factories.get(kind)
        if make is None:
            answer = {"error": f"no shared server of kind {kind!r}"}
        else:
            try:
                server = make()
                with self._lock:
                    self._servers.append(server)
                server.start()
                answer = {"url": server.url}
            except Exception as exc:  # noqa: BLE001 - any failure must reach the waiting worker
                answer = {"error": f"{kind} server could not start: {exc}"}
        partial = self.directory / f"{kind}.json.part"
        partial.write_text(json.dumps(answer))
        partial.replace(self.directory / f"{kind}.json")

    def close(self) -> None:
        self._stop.set()
        self._watcher.join(timeout=5)
        for thread in self._threads:
            thread.join(timeout=WAIT_SECONDS)
        with self._lock:
            servers, self._servers = self._servers, []
        for server in servers:
            with contextlib.suppress(Exception):
                server.close()
        shutil.rmtree(self.directory, ignore_errors=True)


def brokered() -> bool:
    """Whether this process is an xdist worker with a broker to ask."""
    return bool(os.environ.get(BROKER_ENV)) and bool(os.environ.get("PYTEST_XDIST_WORKER"))


def request_url(
    kind: str, directory: str | None = None, wait: float = WAIT_SECONDS
) -> tuple[str | None, str | None]:
    """``(url, None)`` of the shared server of ``kind``, or ``(None, why it is missing)``;
    ``directory`` is the broker's (default: :data:`BROKER_ENV`)."""
    where = Path(directory or os.environ[BROKER_ENV])
    answer = where / f"{kind}.json"
    if not answer.exists():
        (where / f"{kind}.want").touch()
    deadline = time.monotonic() + wait
    while not answer.exists():
        if time.monotonic() > deadline:
            why = f"no answer from the test run's server broker in {wait:g} s"
            return None, f"{kind} server: {why}"
        time.sleep(0.05)
    data = json.loads(answer.read_text())
    return data.get("url"), data.get("error")
