"""Load on one Store: threads plus hundreds of async tasks against PostgreSQL and Redis.

Run on demand:  .venv/bin/python benchmarks/load.py [--tasks 300] [--threads 8] [--seconds 10]

For each server: a Store opened with its default pool settings is hammered for
``--seconds`` by ``--threads`` threads (sync calls) and ``--tasks`` asyncio tasks
(async calls) at once, mixing filtered search, get, count, chat appends and reads,
and key-value writes. Prints, per server and per side, the calls made, errors by
type, p50 and p99 latency, and the server's connection count before, at peak and
after closing (it must come back to where it was). Servers come from
BRUNO_TEST_POSTGRES_URL / BRUNO_TEST_REDIS_URL or are started here like the tests do.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import os
import random
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from bruno_memory_integrations import Record, Store, open_store  # noqa: E402

DIM = 64


@contextlib.contextmanager
def servers() -> Iterator[dict[str, str]]:
    with contextlib.ExitStack() as stack:
        urls = {}
        envs = (("postgres", "BRUNO_TEST_POSTGRES_URL"), ("redis", "BRUNO_TEST_REDIS_URL"))
        for kind, env in envs:
            url = os.environ.get(env)
            if not url:
                from servers import PostgresServer, RedisServer

                cls = PostgresServer if kind == "postgres" else RedisServer
                url = stack.enter_context(cls()).url
            urls[kind] = url
        yield urls


def connection_count(kind: str, url: str, app: str) -> int:
    if kind == "postgres":
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (app,)
            ).fetchone()
            return int(row[0]) if row else 0
    import redis

    client = redis.Redis.from_url(url)
    try:
        return sum(1 for c in client.client_list() if c.get("name") == app)
    finally:
        client.close()


def open_for(kind: str, url: str, app: str) -> Store:
    if kind == "postgres":
        sep = "&" if "?" in url else "?"
        return open_store(f"{url}{sep}application_name={app}")
    return open_store(url, client_name=app)


class Recorder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latencies: dict[str, list[float]] = collections.defaultdict(list)
        self.errors: dict[str, collections.Counter[str]] = collections.defaultdict(
            collections.Counter
        )

    def add(self, side: str, seconds: float, error: BaseException | None) -> None:
        with self.lock:
            if error is None:
                self.latencies[side].append(seconds)
            else:
                self.errors[side][type(error).__name__] += 1


def workload(store: Store, coll: str, rng: random.Random) -> list[Callable[[], Any]]:
    vec = [rng.uniform(-1, 1) for _ in range(DIM)]
    sid = f"s{rng.randrange(50)}"
    return [
        lambda: store.search(coll, vec, k=10, filter={"topic": "t3", "year": {"$gte": 2010}}),
        lambda: store.get(coll, [f"r{rng.randrange(2000)}"]),
        lambda: store.count(coll, filter={"year": {"$lt": 2000}}),
        lambda: store.append_messages(sid, [{"role": "user", "content": "hi"}]),
        lambda: store.get_messages(sid, last_n=5),
        lambda: store.kv_mset("load_kv", {f"k{rng.randrange(500)}": b"v"}),
    ]


def aworkload(store: Store, coll: str, rng: random.Random) -> list[Callable[[], Any]]:
    vec = [rng.uniform(-1, 1) for _ in range(DIM)]
    sid = f"s{rng.randrange(50)}"
    return [
        lambda: store.asearch(coll, vec, k=10, filter={"topic": "t3", "year": {"$gte": 2010}}),
        lambda: store.aget(coll, [f"r{rng.randrange(2000)}"]),
        lambda: store.acount(coll, filter={"year": {"$lt": 2000}}),
        lambda: store.aappend_messages(sid, [{"role": "user", "content": "hi"}]),
        lambda: store.aget_messages(sid, last_n=5),
        lambda: store.akv_mset("load_kv", {f"k{rng.randrange(500)}": b"v"}),
    ]


def run(kind: str, url: str, tasks: int, threads: int, seconds: float) -> dict[str, Any]:
    app = f"load_{uuid.uuid4().hex[:8]}"
    before = connection_count(kind, url, app)
    store = open_for(kind, url, app)
    coll = f"load_{uuid.uuid4().hex[:8]}"
    rng = random.Random(1)
    store.upsert(
        coll,
        [
            Record(f"r{i}", f"text {i}", [rng.uniform(-1, 1) for _ in range(DIM)],
                   {"topic": f"t{i % 17}", "year": 1990 + i % 35})
            for i in range(2000)
        ],
    )
    rec = Recorder()
    deadline = time.monotonic() + seconds
    peak = [0]

    def thread_main(seed: int) -> None:
        r = random.Random(seed)
        while time.monotonic() < deadline:
            call = r.choice(workload(store, coll, r))
            t0 = time.perf_counter()
            try:
                call()
                rec.add("sync", time.perf_counter() - t0, None)
            except Exception as exc:  # noqa: BLE001 - every error is counted
                rec.add("sync", 0.0, exc)

    async def task_main(seed: int) -> None:
        r = random.Random(seed)
        while time.monotonic() < deadline:
            call = r.choice(aworkload(store, coll, r))
            t0 = time.perf_counter()
            try:
                await call()
                rec.add("async", time.perf_counter() - t0, None)
            except Exception as exc:  # noqa: BLE001 - every error is counted
                rec.add("async", 0.0, exc)

    def watch() -> None:
        while time.monotonic() < deadline:
            peak[0] = max(peak[0], connection_count(kind, url, app))
            time.sleep(0.2)

    async def async_side() -> None:
        await asyncio.gather(*(task_main(1000 + i) for i in range(tasks)))
        await store.aclose()

    workers = [threading.Thread(target=thread_main, args=(i,)) for i in range(threads)]
    workers.append(threading.Thread(target=watch))
    for w in workers:
        w.start()
    asyncio.run(async_side())
    for w in workers:
        w.join()
    store.close()
    with open_for(kind, url, f"{app}_cleanup") as s:
        s.drop_collection(coll)
    time.sleep(0.5)
    after = connection_count(kind, url, app)
    return {"rec": rec, "before": before, "peak": peak[0], "after": after}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=300)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    with servers() as urls:
        print(f"{args.threads} threads + {args.tasks} async tasks for {args.seconds:g} s each\n")
        print(
            "| server | side | calls | errors | p50 ms | p99 ms "
            "| connections before / peak / after |"
        )
        print("|---|---|---|---|---|---|---|")
        for kind, url in urls.items():
            out = run(kind, url, args.tasks, args.threads, args.seconds)
            rec: Recorder = out["rec"]
            for side in ("sync", "async"):
                lat = sorted(rec.latencies[side])
                errs = dict(rec.errors[side]) or 0
                p50 = statistics.median(lat) * 1e3 if lat else float("nan")
                p99 = lat[int(len(lat) * 0.99) - 1] * 1e3 if lat else float("nan")
                conns = f"{out['before']} / {out['peak']} / {out['after']}"
                row = f"| {kind} | {side} | {len(lat)} | {errs} | {p50:.1f} | {p99:.1f}"
                print(f"{row} | {conns} |")


if __name__ == "__main__":
    main()
