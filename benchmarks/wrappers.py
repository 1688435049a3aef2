"""What the composite and fallback wrappers cost per call, against the same stores direct.

    python benchmarks/wrappers.py [--calls 500] [--servers]

Setups, each timed in the same run on the same stores:

* **direct**: a plain Store on the store (the baseline);
* **composite**: ``open_store(records=S, chat=S, kv=S)``: every call goes through
  the composite wrapper to the same store, so the difference is the wrapper alone;
* **fallback**: ``create_with_fallback([S, T])``: reads go to S, writes to S *and*
  T; its write baseline is **direct S+T** (the same write made on both stores by hand).

Stores: the memory backend (no I/O: the wrappers' own cost shows), SQLite on disk and,
with ``--servers``, PostgreSQL and Redis (from BRUNO_TEST_POSTGRES_URL /
BRUNO_TEST_REDIS_URL, or started like the tests start them). There is no official
integration to compare with: neither LangChain nor LlamaIndex has these wrappers.
Medians of 9 rounds (the setups take turns within each round), µs per call; the
machine is shared and noisy: read the ratios, and the memory rows for the wrappers'
own cost.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from ingest import server_urls  # noqa: E402

from bruno_memory_integrations import (  # noqa: E402
    Record,
    Store,
    create_with_fallback,
    open_store,
)

ROUNDS = 9
DIM = 32


def _round(fn: Callable[[], Any], calls: int) -> float:
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - t0) / calls * 1e6


def _around(fn: Callable[[], Any], calls: int) -> float:
    async def main() -> float:
        t0 = time.perf_counter()
        for _ in range(calls):
            await fn()
        return (time.perf_counter() - t0) / calls * 1e6

    return asyncio.run(main())


def workload(stores: list[Store], coll: str) -> dict[str, tuple[bool, Callable[[], Any]]]:
    """Each operation as (is_async, call) on ``stores[0]``; writes go to every store given."""
    rng = random.Random(1)
    recs = [Record(f"r{i}", f"text {i}", [rng.random() for _ in range(DIM)], {"i": i})
            for i in range(200)]
    for s in stores:
        s.upsert(coll, recs)
        s.kv_mset("bench_kv", {"a": b"1"})
    vec = recs[0].vector or []
    main = stores[0]
    counter = iter(range(10**9))

    def upsert() -> None:
        rec = [Record(f"w{next(counter) % 50}", "w", vec, {"i": 1})]
        for s in stores:
            s.upsert(coll, rec)

    def kv_set() -> None:
        for s in stores:
            s.kv_mset("bench_kv", {"b": b"2"})

    return {
        "get 1 id": (False, lambda: main.get(coll, ["r5"])),
        "search k=4": (False, lambda: main.search(coll, vec, k=4)),
        "kv get": (False, lambda: main.kv_mget("bench_kv", ["a"])),
        "upsert 1 record": (False, upsert),
        "kv set": (False, kv_set),
        "get 1 id (async)": (True, lambda: main.aget(coll, ["r5"])),
    }


def measure(setups: dict[str, list[Store]], calls: int) -> dict[str, dict[str, float]]:
    """Medians per setup and operation; the setups take turns within each round, so a
    burst of load from elsewhere on the machine hits them all alike."""
    coll = f"bench_{uuid.uuid4().hex[:8]}"
    loads = {name: workload(stores, coll) for name, stores in setups.items()}
    out: dict[str, dict[str, float]] = {name: {} for name in setups}
    for op in next(iter(loads.values())):
        n = calls // 4 if op in ("search k=4", "upsert 1 record", "kv set") else calls
        runs: dict[str, list[float]] = {name: [] for name in setups}
        for name in setups:  # warm-up
            is_async, fn = loads[name][op]
            (_around if is_async else _round)(fn, max(1, n // 10))
        for _ in range(ROUNDS):
            for name in setups:
                is_async, fn = loads[name][op]
                runs[name].append((_around if is_async else _round)(fn, max(1, n)))
        for name in setups:
            out[name][op] = statistics.median(runs[name])
    for stores in setups.values():
        for s in stores:
            s.drop_collection(coll)
    return out


@contextlib.contextmanager
def targets(with_servers: bool) -> Iterator[list[tuple[str, Callable[[], Store]]]]:
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        out: list[tuple[str, Callable[[], Store]]] = [
            ("memory", lambda: open_store("memory://", name="bench")),
            ("sqlite", lambda: open_store(f"sqlite:///{tmp}/bench.db")),
        ]
        if with_servers:
            urls = stack.enter_context(server_urls(["postgres", "redis"]))
            out += [
                ("postgres", lambda: open_store(urls["postgres"])),
                ("redis", lambda: open_store(urls["redis"])),
            ]
        yield out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--servers", action="store_true", help="also PostgreSQL and Redis")
    args = parser.parse_args()
    rows = []
    with targets(args.servers) as stores:
        for name, make in stores:
            direct = make()
            second = open_store("memory://", name=f"second-{name}")
            composite = open_store(records=make(), chat=make(), kv=make())
            fallback = create_with_fallback(
                [make(), open_store("memory://", name=f"second-{name}")]
            )
            m = measure(
                {"direct": [direct], "both": [direct, second], "composite": [composite],
                 "fallback": [fallback]},
                args.calls,
            )
            for op, d_us in m["direct"].items():
                write = op.startswith(("upsert", "kv set"))
                rows.append((name, op, d_us, m["composite"][op], m["fallback"][op],
                             m["both"][op] if write else None))
            for s in (direct, second, composite, fallback):
                s.close()
    print("\nµs per call, medians of 9 rounds (fallback's second store: the memory backend)\n")
    print(
        "| store | operation | direct | composite | x direct | fallback | x direct "
        "| direct S+T | x S+T |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name, op, d_us, c_us, f_us, both_us in rows:
        tail = f"{both_us:.0f} | {f_us / both_us:.2f}" if both_us else "- | -"
        print(
            f"| {name} | {op} | {d_us:.0f} | {c_us:.0f} | {c_us / d_us:.2f} | {f_us:.0f} | "
            f"{f_us / d_us:.2f} | {tail} |"
        )


if __name__ == "__main__":
    main()
