"""Acknowledged writes survive a crash of the server (SIGKILL, no shutdown).

A writer thread keeps upserting records, appending chat messages and setting
key-value items, noting each call that returned (was acknowledged); the server is
killed in the middle of it, started again on the same data, and every
acknowledged write must be there. The servers run with durable settings:
PostgreSQL with fsync and synchronous commit on, Redis with an append-only file
fsynced on every write. (The shared test servers trade durability for speed; a
clean stop and restart is tested in the backends' own test files.)
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import pytest

from bruno_memory_integrations import BackendError, Record, Store, open_store
from bruno_memory_integrations.testing.data import unit

pytest.importorskip("psycopg", reason="the postgres extra (psycopg) is not installed")
pytest.importorskip("redis", reason="the redis extra (redis-py) is not installed")

DIM = 8


class _Workload:
    """Writes until stopped; remembers exactly which writes were acknowledged."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.coll = f"crash_{uuid.uuid4().hex[:8]}"
        self.session = f"s_{uuid.uuid4().hex[:8]}"
        self.kv = f"kv_{uuid.uuid4().hex[:8]}"
        self.records: list[str] = []
        self.messages: list[int] = []
        self.items: list[str] = []
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        i = 0
        while not self._stop.is_set():
            batch = [
                Record(f"r{i}-{j}", f"text {i}", unit([1.0 + i, float(j)] + [0.5] * (DIM - 2)),
                       {"i": i})
                for j in range(5)
            ]
            try:
                self.store.upsert(self.coll, batch)
                self.records += [r.id for r in batch]
                self.store.append_messages(self.session, [{"role": "user", "n": i}])
                self.messages.append(i)
                self.store.kv_mset(self.kv, {f"k{i}": str(i).encode()})
                self.items.append(f"k{i}")
            except BackendError:  # the server is down: not acknowledged, try again
                self.failures += 1
                time.sleep(0.01)
            i += 1

    def __enter__(self) -> _Workload:  # noqa: PYI034 (Self needs Python 3.11)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    def settle(self, seconds: float) -> None:
        """Let the workload write for a while (until it acknowledged something)."""
        deadline = time.monotonic() + 30
        time.sleep(seconds)
        while not self.items and time.monotonic() < deadline:
            time.sleep(0.05)


def _check_survivors(url: str, work: _Workload) -> dict[str, Any]:
    with open_store(url) as s:
        acknowledged = list(dict.fromkeys(work.records))
        found = {r.id for r in s.get(work.coll, acknowledged, include_vectors=False)}
        lost_records = [i for i in acknowledged if i not in found]
        seen = [m["n"] for m in s.get_messages(work.session)]
        lost_messages = [n for n in work.messages if n not in seen]
        values = s.kv_mget(work.kv, work.items)
        lost_items = [k for k, v in zip(work.items, values, strict=True) if v is None]
    return {
        "acknowledged": len(acknowledged) + len(work.messages) + len(work.items),
        "lost": lost_records + lost_messages + lost_items,
    }


def _crash_and_recover(server: Any, make_url: str, open_options: dict[str, Any]) -> None:
    store = open_store(make_url, **open_options)
    with _Workload(store) as work:
        work.settle(0.8)
        server.kill()  # mid-write: the workload keeps trying and failing meanwhile
        time.sleep(0.3)
        server.start()
        work.settle(0.5)  # writes resume after recovery
    store.close()
    result = _check_survivors(make_url, work)
    assert result["acknowledged"] > 30, result
    assert result["lost"] == [], f"acknowledged writes lost after a crash: {result}"


def test_postgres_keeps_every_acknowledged_write_across_a_kill(
    durable_postgres_server: Any,
) -> None:
    _crash_and_recover(
        durable_postgres_server, durable_postgres_server.url, {"pool_timeout": 5.0}
    )


def test_redis_with_aof_keeps_every_acknowledged_write_across_a_kill(redis_server: Any) -> None:
    _crash_and_recover(redis_server, redis_server.url, {})
