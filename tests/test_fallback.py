"""Fallback between stores: no acknowledged write lost, no read that misses one.

Unit tests use memory backends that can be made unreachable on demand and a hand-
driven clock; the end-to-end test stops and restarts the real PostgreSQL and Redis
test servers in the middle of a workload and compares the result with a run
without faults.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bruno_memory_integrations import (
    BackendUnavailableError,
    ConfigurationError,
    FilterError,
    Record,
    Store,
    create_with_fallback,
    open_store,
)
from bruno_memory_integrations.backend import MakeOp
from bruno_memory_integrations.backends.fallback import FallbackBackend
from bruno_memory_integrations.backends.memory import MemoryBackend
from bruno_memory_integrations.testing import ConformanceTests

LOGGER = "bruno_memory_integrations.backends.fallback"


class TestFallbackConformance(ConformanceTests):
    """Every Store operation through the fallback wrapper (memory preferred, SQLite second)."""

    @pytest.fixture
    def make_store(self, tmp_path: Path) -> Callable[[], Store]:
        name = uuid.uuid4().hex
        return lambda: create_with_fallback(
            [open_store("memory://", name=name), f"sqlite:///{tmp_path / 'second.db'}"]
        )


class Flaky(MemoryBackend):
    """A memory backend that can be made unreachable, counting the operations it ran."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self.ran = 0

    def run(self, make: MakeOp[Any]) -> Any:
        if self.down:
            raise BackendUnavailableError("flaky: unreachable")
        self.ran += 1
        return super().run(make)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _pair(**kw: Any) -> tuple[Store, Flaky, Flaky, Clock]:
    a, b, clock = Flaky(), Flaky(), Clock()
    return Store(FallbackBackend([a, b], clock=clock, **kw)), a, b, clock


def rec(i: int) -> Record:
    return Record(f"r{i}", f"text {i}", [1.0, float(i)], {"i": i})


def test_writes_during_an_outage_go_to_the_next_store_and_are_replayed() -> None:
    store, a, _b, clock = _pair()
    store.upsert("c", [rec(0)])
    a.down = True
    store.upsert("c", [rec(1)])  # acknowledged by b, journaled for a
    store.kv_mset("kv", {"k": b"v"})
    store.append_messages("s", [{"n": 1}])
    assert [s.behind for s in store.backend.status()] == [3, 0]  # type: ignore[attr-defined]
    # Reads are served by b, which holds every acknowledged write.
    assert sorted(r.id for r in store.get("c", ["r0", "r1"])) == ["r0", "r1"]
    assert store.kv_mget("kv", ["k"]) == [b"v"]
    a.down = False
    clock.now = 0.4  # back-off (0.5 s) not over: a is not even asked
    ran = a.ran
    assert store.count("c") == 2 and a.ran == ran
    clock.now = 0.6
    assert store.count("c") == 2  # health check, replay of 3 writes, then the read on a
    assert a.ran == ran + 1 + 3 + 1
    assert [s.behind for s in store.backend.status()] == [0, 0]  # type: ignore[attr-defined]
    a_only = Store(a)
    assert sorted(r.id for r in a_only.get("c", ["r0", "r1"])) == ["r0", "r1"]
    assert a_only.kv_mget("kv", ["k"]) == [b"v"] and a_only.get_messages("s") == [{"n": 1}]


class LosesReplies(Flaky):
    """Applies an operation, then fails as if the connection dropped before the reply."""

    lose_next = False

    def run(self, make: MakeOp[Any]) -> Any:
        result = super().run(make)
        if self.lose_next:
            self.lose_next, self.down = False, True
            raise BackendUnavailableError("reply lost")
        return result


@pytest.mark.parametrize("applied", [True, False])
def test_an_append_cut_off_mid_call_is_replayed_once(applied: bool) -> None:
    a, b, clock = LosesReplies(), Flaky(), Clock()
    store = Store(FallbackBackend([a, b], clock=clock))
    store.append_messages("s", [{"n": 0}])
    if applied:
        a.lose_next = True  # a stores the append, then its connection drops
    else:
        a.down = True  # a never receives it
    store.append_messages("s", [{"n": 1}, {"n": 2}])
    store.append_messages("s", [{"n": 3}])  # a is behind now: journaled plainly
    a.down, clock.now = False, 10.0
    store.backend.recover()  # type: ignore[attr-defined]
    want = [{"n": i} for i in range(4)]
    assert Store(a).get_messages("s") == want == Store(b).get_messages("s")


def test_a_read_never_silently_misses_an_acknowledged_write() -> None:
    store, a, b, _ = _pair()
    b.down = True
    store.upsert("c", [rec(0)])  # only a has it; b is behind
    a.down, b.down = True, False
    with pytest.raises(BackendUnavailableError, match="holds every acknowledged write"):
        store.get("c", ["r0"])  # b answers, but it would miss r0: refuse instead
    with pytest.raises(BackendUnavailableError):
        store.count("c")


def test_a_write_no_store_took_is_not_acknowledged_nor_journaled() -> None:
    store, a, b, _ = _pair()
    store.upsert("c", [rec(0)])
    a.down = b.down = True
    with pytest.raises(BackendUnavailableError, match="not acknowledged"):
        store.kv_mset("kv", {"k": b"v"})
    assert [s.behind for s in store.backend.status()] == [0, 0]  # type: ignore[attr-defined]


def test_health_checks_happen_at_1_3_7_then_every_4(monkeypatch: pytest.MonkeyPatch) -> None:
    store, a, _, clock = _pair(min_backoff=1.0, max_backoff=4.0)
    store.upsert("c", [rec(0)])
    a.down = True
    probed: list[float] = []
    real = Flaky.run

    def counting(self: Flaky, make: MakeOp[Any]) -> Any:
        if self is a:
            probed.append(clock.now)
        return real(self, make)

    monkeypatch.setattr(Flaky, "run", counting)
    store.upsert("c", [rec(1)])  # t=0: fails on a
    for t in range(1, 16):
        clock.now = float(t)
        store.count("c")
    assert probed == [0.0, 1.0, 3.0, 7.0, 11.0, 15.0]


def test_each_switch_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    store, a, _, clock = _pair()
    caplog.set_level(logging.INFO, logger=LOGGER)
    store.upsert("c", [rec(0)])
    a.down = True
    store.upsert("c", [rec(1)])
    store.count("c")
    a.down = False
    clock.now = 10.0
    store.count("c")
    messages = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == LOGGER]
    text = "\n".join(m for _, m in messages)
    assert ("WARNING", "member 0 (memory) is unreachable") in [
        (lvl, m.split(" (flaky")[0].replace("fallback: ", "")) for lvl, m in messages
    ]
    assert "reads now served by member 1" in text
    assert "member 0 (memory) is back: 1 journaled writes replayed" in text
    assert "reads now served by member 0" in text


def test_a_member_refusing_what_another_applied_is_taken_out() -> None:
    class Picky(Flaky):
        def run(self, make: MakeOp[Any]) -> Any:
            if getattr(make, "func", None).__name__ == "kv_put":  # type: ignore[union-attr]
                raise FilterError("picky: refuses key-value writes")
            return super().run(make)

    a, b = Flaky(), Picky()
    store = Store(FallbackBackend([a, b]))
    store.kv_mset("kv", {"k": b"v"})  # a applied it, b refused: b no longer matches a
    status = store.backend.status()  # type: ignore[attr-defined]
    assert status[1].up is False
    a.down = True
    with pytest.raises(BackendUnavailableError):
        store.kv_mget("kv", ["k"])  # never answered by b
    a.down = False
    with pytest.raises(FilterError):  # refused by the first store: the caller's error
        Store(FallbackBackend([Picky(), Flaky()])).kv_mset("kv", {"k": b"v"})


def test_scan_cursor_belongs_to_one_member() -> None:
    store, a, _, _ = _pair()
    store.upsert("c", [rec(i) for i in range(5)])
    page = store.scan("c", limit=2)
    assert page.cursor is not None and page.cursor.startswith("0:")
    rest = list(store.iter_records("c", batch_size=2))
    assert [r.id for r in rest] == [f"r{i}" for i in range(5)]
    a.down = True
    with pytest.raises(BackendUnavailableError, match="start the scan again"):
        store.scan("c", limit=2, cursor=page.cursor)
    assert [r.id for r in store.scan("c", limit=5).records] == [f"r{i}" for i in range(5)]
    with pytest.raises(ValueError, match="not a cursor"):
        store.scan("c", limit=2, cursor="garbage")


def test_async_calls_fall_back_too() -> None:
    store, a, _b, clock = _pair()

    async def main() -> None:
        await store.aupsert("c", [rec(0)])
        a.down = True
        await store.aupsert("c", [rec(1)])
        assert await store.acount("c") == 2
        a.down, clock.now = False, 5.0
        assert sorted(r.id for r in await store.aget("c", ["r0", "r1"])) == ["r0", "r1"]

    asyncio.run(main())
    assert [s.behind for s in store.backend.status()] == [0, 0]  # type: ignore[attr-defined]


def test_configuration_errors() -> None:
    with pytest.raises(ConfigurationError, match="at least two"):
        FallbackBackend([MemoryBackend()])
    with pytest.raises(ConfigurationError, match="backoff"):
        FallbackBackend([MemoryBackend(), MemoryBackend()], min_backoff=0)


def test_journal_codec_round_trips_every_argument_exactly() -> None:
    from bruno_memory_integrations import parse_filter
    from bruno_memory_integrations.backends.fallback.journal import decode, encode
    from bruno_memory_integrations.types import CollectionInfo

    where = parse_filter({"$or": [{"a": {"$in": [1, 2.5, 7]}}, {"b": {"$ne": None}},
                                  {"t": {"$gte": -0.0}}]})
    args = (
        "coll",
        [Record("id", "text", [0.1, -2.5e-8], {"d": {"t": [1, {"b": "x"}]}, "big": 2**63 - 1})],
        where,
        CollectionInfo("c", 3, "dot", "model"),
        [("k", b"\x00\xffbytes")],
        None,
        3.5,
    )
    name, back = decode(encode("upsert", args))
    assert (name, back) == ("upsert", args)
    with pytest.raises(TypeError, match="cannot journal"):
        encode("x", (object(),))
    with pytest.raises(ValueError, match="not a journal entry"):
        decode('["x", {"t": [{"c": ["os.system", {}]}]}]')


def test_a_journal_file_outlives_the_process(tmp_path: Path) -> None:
    """Writes journaled for a lost store are replayed by the next process with the file."""
    path = str(tmp_path / "journal.db")
    a, b = Flaky(), Flaky()
    store = Store(FallbackBackend([a, b], journal_path=path))
    store.upsert("c", [rec(0)])
    a.down = True
    store.upsert("c", [rec(1)])
    store.kv_mset("kv", {"k": b"\x00v"})
    store.delete("c", filter={"i": 0})
    assert [m.behind for m in store.backend.status()] == [3, 0]  # type: ignore[attr-defined]
    store.close()  # the process ends with "a" still behind

    a.down = False  # later, another process: a is reachable again
    again = Store(FallbackBackend([a, b], journal_path=path))
    assert [m.behind for m in again.backend.status()] == [3, 0]  # type: ignore[attr-defined]
    assert again.count("c") == 1  # replayed into a first, then read from a
    assert [m.behind for m in again.backend.status()] == [0, 0]  # type: ignore[attr-defined]
    a_only = Store(a)
    assert [r.id for r in a_only.scan("c").records] == ["r1"]
    assert a_only.kv_mget("kv", ["k"]) == [b"\x00v"]
    again.close()
    with pytest.raises(ConfigurationError, match="belongs to the stores"):
        FallbackBackend([b, a, Flaky()], journal_path=path)


def test_async_writes_with_a_journal_file(tmp_path: Path) -> None:
    a, b = Flaky(), Flaky()
    store = Store(FallbackBackend([a, b], journal_path=str(tmp_path / "j.db"), clock=Clock()))

    async def main() -> None:
        await store.aupsert("c", [rec(0)])
        a.down = True
        await asyncio.gather(*(store.akv_mset("kv", {f"k{i}": b"v"}) for i in range(20)))
        assert len(await store.akv_keys("kv")) == 20
        a.down = False
        await store.backend.arecover()  # type: ignore[attr-defined]

    asyncio.run(main())
    assert [m.behind for m in store.backend.status()] == [0, 0]  # type: ignore[attr-defined]
    assert len(Store(a).kv_keys("kv")) == 20
    store.close()


def test_langchain_vector_store_on_a_fallback() -> None:
    pytest.importorskip("langchain_core")
    from langchain_core.embeddings import DeterministicFakeEmbedding

    from bruno_memory_integrations.langchain import BrunoVectorStore

    store, a, _, _ = _pair()
    vs = BrunoVectorStore(DeterministicFakeEmbedding(size=8), store=store, collection="lc")
    vs.add_texts(["alpha"], ids=["1"])
    a.down = True
    vs.add_texts(["beta"], ids=["2"])
    assert [d.id for d in vs.similarity_search("beta", k=1)] == ["2"]


# ---------------------------------------------------------------- real servers
class _Workload:
    """A fixed sequence of writes and reads, run in a thread while servers stop and start.

    Each step writes three records, one chat message and one key-value item, every
    fifth step deletes an older record and item, and every step reads back what it
    just wrote (a read must never miss an acknowledged write). A step that raises
    was not acknowledged and is retried.
    """

    STEPS = 160

    def __init__(self, store: Store, pace: float = 0.0) -> None:
        self.store, self.pace = store, pace
        self.step = 0
        self.retries = 0
        self.missed_reads: list[str] = []

    def run_step(self, i: int) -> None:
        s = self.store
        batch = [Record(f"r{i}-{j}", f"text {i} {j}", [1.0 + i, float(j), 0.5], {"i": i})
                 for j in range(3)]
        s.upsert("work", batch)
        s.kv_mset("items", {f"k{i}": str(i).encode()})
        if i % 5 == 4:
            s.delete("work", [f"r{i - 3}-0"])
            s.kv_mdelete("items", [f"k{i - 3}"])
        if [r.id for r in s.get("work", [f"r{i}-1"])] != [f"r{i}-1"]:
            self.missed_reads.append(f"r{i}-1")
        if s.kv_mget("items", [f"k{i}"]) != [str(i).encode()]:
            self.missed_reads.append(f"k{i}")

    def append(self, i: int) -> None:
        self.store.append_messages("chat", [{"role": "user", "n": i}])

    def run(self, stop_at: int | None = None) -> None:
        import time

        end = self.STEPS if stop_at is None else stop_at
        while self.step < end:
            try:
                self.run_step(self.step)
                self.append(self.step)
            except BackendUnavailableError:
                self.retries += 1
                time.sleep(0.05)
                continue
            self.step += 1
            time.sleep(self.pace)


def _state(store: Store) -> dict[str, Any]:
    return {
        "records": sorted(
            (r.id, r.text, r.metadata["i"], tuple(r.vector or ()))
            for r in store.iter_records("work")
        ),
        "chat": store.get_messages("chat"),
        "items": {k: store.kv_mget("items", [k])[0] for k in store.kv_keys("items")},
        "collections": store.list_collections(),
    }


def test_stopping_postgres_and_redis_loses_no_acknowledged_write(
    postgres_server: Any, redis_server: Any, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """PostgreSQL preferred, Redis second; each is stopped and started mid-workload."""
    pytest.importorskip("psycopg")
    pytest.importorskip("redis")
    import threading
    import time

    caplog.set_level(logging.INFO, logger=LOGGER)
    reference = open_store("memory://")
    _Workload(reference).run()
    expected = _state(reference)

    pg = open_store(postgres_server.url, pool_timeout=1.0, connect_timeout=1.0)
    rd = open_store(redis_server.url, retries=1)
    journal = str(tmp_path / "journal.db")
    store = create_with_fallback([pg, rd], min_backoff=0.2, max_backoff=1.0, journal_path=journal)
    work = _Workload(store, pace=0.02)
    runner = threading.Thread(target=work.run, daemon=True)
    runner.start()

    def wait_for(step: int) -> None:
        deadline = time.monotonic() + 120
        while work.step < step and runner.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)

    wait_for(25)
    postgres_server.stop()  # mid-workload: reads and writes move to Redis
    wait_for(60)
    postgres_server.start()  # Redis still up: the journal is replayed into PostgreSQL
    wait_for(95)
    redis_server.stop()
    wait_for(125)
    redis_server.start()
    runner.join(timeout=300)
    assert not runner.is_alive(), f"the workload did not finish (step {work.step})"
    store.backend.recover()  # type: ignore[attr-defined]

    status = store.backend.status()  # type: ignore[attr-defined]
    assert all(m.up and m.behind == 0 for m in status), status
    assert work.missed_reads == []
    assert _state(store) == expected  # through the fallback
    store.close()
    import sqlite3

    with contextlib.closing(sqlite3.connect(journal)) as db:  # replayed entries are gone
        assert db.execute("SELECT count(*) FROM journal").fetchone() == (0,)
    for url in (postgres_server.url, redis_server.url):  # and in each store on its own
        with open_store(url) as alone:
            assert _state(alone) == expected, url
    text = "\n".join(r.getMessage() for r in caplog.records if r.name == LOGGER)
    assert "member 0 (postgresql) is unreachable" in text
    assert "member 0 (postgresql) is back" in text
    assert "member 1 (redis) is unreachable" in text
    assert "member 1 (redis) is back" in text
    import re

    replayed = [int(n) for n in re.findall(r"is back: (\d+) journaled writes replayed", text)]
    # Two real outages, two real replays (a loaded machine may add short extra ones).
    assert len(replayed) >= 2 and sorted(replayed)[-2] > 10, replayed
    print(f"retried steps: {work.retries}; writes replayed per recovery: {replayed}")


def test_concurrent_writers_while_stores_flap_lose_nothing() -> None:
    """Eight threads write distinct keys while the two stores go down and up at random.

    Every acknowledged write must be in both stores once both are back, and no read
    may miss a write its thread had acknowledged.
    """
    import random
    import threading

    a, b = Flaky(), Flaky()
    store = Store(FallbackBackend([a, b], min_backoff=0.001, max_backoff=0.01))
    acknowledged: list[set[str]] = [set() for _ in range(8)]
    missed: list[str] = []
    stop = threading.Event()

    def writer(t: int) -> None:
        i = 0
        while not stop.is_set():
            key = f"t{t}-{i}"
            try:
                store.kv_mset("kv", {key: key.encode()})
            except BackendUnavailableError:
                continue  # not acknowledged
            acknowledged[t].add(key)
            try:
                if store.kv_mget("kv", [key]) != [key.encode()]:
                    missed.append(key)
            except BackendUnavailableError:
                pass  # refused, never wrong
            i += 1

    def flapper() -> None:
        rng = random.Random(7)
        while not stop.is_set():
            a.down = rng.random() < 0.4
            b.down = rng.random() < 0.4
            threading.Event().wait(0.002)
        a.down = b.down = False

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(8)]
    threads.append(threading.Thread(target=flapper))
    for th in threads:
        th.start()
    threading.Event().wait(1.5)
    stop.set()
    for th in threads:
        th.join()
    store.backend.recover()  # type: ignore[attr-defined]
    assert all(m.up and m.behind == 0 for m in store.backend.status())  # type: ignore[attr-defined]
    expected = set().union(*acknowledged)
    assert len(expected) > 200 and missed == []
    for member in (a, b):
        keys = set(Store(member).kv_keys("kv"))
        assert expected <= keys, sorted(expected - keys)[:5]
    assert Store(a).kv_keys("kv") == Store(b).kv_keys("kv")


def test_stores_holding_different_data_are_refused(tmp_path: Path) -> None:
    full = open_store("memory://", name=uuid.uuid4().hex)
    full.upsert("docs", [rec(0)])
    full.append_messages("s", [{"n": 1}])
    empty = open_store(f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(ConfigurationError, match="do not hold the same data") as info:
        create_with_fallback([full, empty])
    assert "'docs': 1" in str(info.value) and "chat sessions" in str(info.value)
    forced = create_with_fallback([full, empty], check_same_data=False)
    assert len(forced.backend.differences()) == 2  # type: ignore[attr-defined]
    empty.upsert("docs", [rec(0)])
    empty.append_messages("s", [{"n": 1}])
    assert forced.backend.differences() == []  # type: ignore[attr-defined]
    create_with_fallback([full, empty]).close()


async def test_async_workload_across_postgres_and_redis_restarts(
    postgres_server: Any, redis_server: Any, tmp_path: Path
) -> None:
    """The same rules through the async clients (psycopg's async pool, redis.asyncio)."""
    pytest.importorskip("psycopg")
    pytest.importorskip("redis")
    steps = 80
    faults = {
        20: postgres_server.stop, 40: postgres_server.start,
        55: redis_server.stop, 70: redis_server.start,
    }

    async def run(store: Store, with_faults: bool) -> None:
        for i in range(steps):
            if with_faults and i in faults:
                await asyncio.to_thread(faults[i])
            batch = [Record(f"a{i}-{j}", f"t {i}", [1.0 + i, float(j), 0.5], {"i": i})
                     for j in range(2)]
            await store.aupsert("awork", batch)
            await store.akv_mset("aitems", {f"k{i}": str(i).encode()})
            await store.aappend_messages("achat", [{"n": i}])
            got = await store.aget("awork", [f"a{i}-1"])
            assert [r.id for r in got] == [f"a{i}-1"], f"step {i}: a read missed a write"

    reference = open_store("memory://")
    await run(reference, with_faults=False)
    pg = open_store(postgres_server.url, pool_timeout=1.0, connect_timeout=1.0)
    rd = open_store(redis_server.url, retries=1)
    store = create_with_fallback([pg, rd], min_backoff=0.1, max_backoff=0.5)
    await run(store, with_faults=True)
    await store.backend.arecover()  # type: ignore[attr-defined]
    assert all(m.up and m.behind == 0 for m in store.backend.status())  # type: ignore[attr-defined]

    async def state(s: Store) -> Any:
        records = sorted([(r.id, r.metadata["i"]) async for r in s.aiter_records("awork")])
        keys = await s.akv_keys("aitems")
        return records, await s.aget_messages("achat"), await s.akv_mget("aitems", keys)

    expected = await state(reference)
    assert await state(store) == expected
    await store.aclose()
    for url in (postgres_server.url, redis_server.url):
        alone = open_store(url)
        assert await state(alone) == expected, url
        await alone.aclose()
