"""Per-call overhead of the core: the same Store calls timed on the memory backend
(no I/O, so the core's own cost shows) and, when a URL is given, on a real server.

    python benchmarks/core_overhead.py [--redis redis://127.0.0.1:6379] [--postgres URL]

Prints medians (µs per call) over several rounds. Run it on two checkouts (with
PYTHONPATH pointing at each) to compare versions of the core in one sitting.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

from bruno_memory_integrations import Record, Store, open_store

ROUNDS = 7


def _records(n: int, dim: int = 32) -> list[Record]:
    rng = random.Random(1)
    return [
        Record(f"r{i}", f"text {i}", [rng.random() for _ in range(dim)], {"i": i}) for i in range(n)
    ]


def _time(fn: Callable[[], Any], calls: int) -> float:
    runs = []
    for _ in range(ROUNDS):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        runs.append((time.perf_counter() - t0) / calls * 1e6)
    return statistics.median(runs)


def _atime(fn: Callable[[], Any], calls: int) -> float:
    async def main() -> float:
        runs = []
        for _ in range(ROUNDS):
            t0 = time.perf_counter()
            for _ in range(calls):
                await fn()
            runs.append((time.perf_counter() - t0) / calls * 1e6)
        return statistics.median(runs)

    return asyncio.run(main())


def measure(store: Store, calls: int) -> dict[str, float]:
    coll = f"bench_{uuid.uuid4().hex[:8]}"
    recs = _records(200)
    store.upsert(coll, recs)
    vec = recs[0].vector or []
    out = {
        "get 1 id (sync)": _time(lambda: store.get(coll, ["r5"]), calls),
        "count filtered (sync)": _time(lambda: store.count(coll, filter={"i": {"$lt": 50}}), calls),
        "search k=4 (sync)": _time(lambda: store.search(coll, vec, k=4), calls // 4 or 1),
        "kv get (sync)": _time(lambda: store.kv_mget("bench_kv", ["a"]), calls),
        "get 1 id (async)": _atime(lambda: store.aget(coll, ["r5"]), calls),
        "kv get (async)": _atime(lambda: store.akv_mget("bench_kv", ["a"]), calls),
    }
    store.drop_collection(coll)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--redis")
    parser.add_argument("--postgres")
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    targets = [("memory", "memory://")]
    if args.redis:
        targets.append(("redis", args.redis))
    if args.postgres:
        targets.append(("postgres", args.postgres))
    for name, url in targets:
        with open_store(url) as store:
            calls = args.calls if name == "memory" else max(args.calls // 10, 50)
            for what, us in measure(store, calls).items():
                print(f"{name:9} {what:24} {us:9.1f} µs")


if __name__ == "__main__":
    main()
