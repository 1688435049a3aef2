"""Measure the SQLite backend's k-NN engines (run on demand, not part of the tests).

    python benchmarks/bench_sqlite_knn.py                # 10k and 50k vectors, dim 384
    python benchmarks/bench_sqlite_knn.py --sizes 2000 --repeat 5

For each collection size it writes random unit vectors with metadata into a
fresh database file, then times ``Store.search`` (k=10) per engine, unfiltered
and with two filters, and prints the median per query and the ratio to the
baseline measured in the same run (numpy without the vector cache). It also
times the first search (the cache is built), a search right after a small
write (incremental cache refresh), and ingestion.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bruno_memory_integrations import Record, Store, open_store
from bruno_memory_integrations.backends.sqlite import sqlite_vec_available

FILTERS: dict[str, dict[str, Any] | None] = {
    "none": None,
    "20% (group in [1, 2])": {"group": {"$in": [1, 2]}},
    "2% (group=3, tag)": {"$and": [{"group": 3}, {"tags": {"$contains": "t3"}}]},
}
BASELINE = "numpy, no cache"


def engines() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {
        BASELINE: {"knn": "numpy", "cache_vectors": False},
        "numpy + cache": {"knn": "numpy", "cache_vectors": True},
    }
    if sqlite_vec_available():
        out["sqlite-vec"] = {"knn": "sqlite-vec"}
    return out


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def _searcher(
    store: Store, queries: list[np.ndarray], flt: dict[str, Any] | None
) -> Callable[[], object]:
    """One k=10 search per call, cycling through the queries."""
    cycle = itertools.cycle(queries)
    return lambda: store.search("bench", next(cycle).tolist(), k=10, filter=flt)


def _writer_searcher(store: Store, queries: list[np.ndarray]) -> Callable[[], object]:
    """Upsert one new record, then search: the cache must catch up with the write."""
    counter = itertools.count()

    def run() -> object:
        j = next(counter)
        store.upsert("bench", [Record(f"new{j}", "", queries[1].tolist(), {"group": 0})])
        return store.search("bench", queries[2].tolist(), k=10)

    return run


def build(path: Path, n: int, dim: int, rng: np.random.Generator) -> tuple[float, np.ndarray]:
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    t0 = time.perf_counter()
    with open_store(f"sqlite:///{path}") as store:
        for start in range(0, n, 1000):
            store.upsert("bench", [
                Record(f"id{i:07d}", f"text {i}", vectors[i].tolist(),
                       {"group": i % 10, "tags": [f"t{i % 7}", "all"], "i": i})
                for i in range(start, min(n, start + 1000))
            ])
    return n / (time.perf_counter() - t0), vectors


def bench_size(n: int, dim: int, repeat: int, rng: np.random.Generator) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        rate, vectors = build(path, n, dim, rng)
        print(f"n={n}: ingested {rate:,.0f} records/s, file {path.stat().st_size / 1e6:.0f} MB")
        queries = [
            vectors[int(rng.integers(n))] + 0.05 * rng.standard_normal(dim) for _ in range(8)
        ]
        results: dict[tuple[str, str], float] = {}
        for engine, options in engines().items():
            with open_store(f"sqlite:///{path}", **options) as store:
                t0 = time.perf_counter()
                store.search("bench", queries[0].tolist(), k=10)
                first = (time.perf_counter() - t0) * 1000
                for fname, flt in FILTERS.items():
                    store.search("bench", queries[0].tolist(), k=10, filter=flt)  # warm-up
                    results[(engine, fname)] = median_ms(
                        _searcher(store, queries, flt), repeat
                    )
                after_write = median_ms(_writer_searcher(store, queries), max(3, repeat // 3))
                rows.append((str(n), engine, "first search (cold)", f"{first:.1f}", ""))
                rows.append((str(n), engine, "upsert 1 + search", f"{after_write:.1f}", ""))
        for fname in FILTERS:
            base = results[(BASELINE, fname)]
            for engine in engines():
                ms = results[(engine, fname)]
                rows.append((str(n), engine, f"filter {fname}", f"{ms:.1f}", f"{base / ms:.2f}x"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000])
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    rng = np.random.default_rng(42)
    rows: list[tuple[str, ...]] = []
    for n in args.sizes:
        rows += bench_size(n, args.dim, args.repeat, rng)
    header = ("n", "engine", "query (k=10)", "median ms", f"speed vs {BASELINE}")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    print()
    for r in [
        header,
        tuple("-" * w for w in widths),
        *sorted(rows, key=lambda r: (int(r[0]), r[2], r[1])),
    ]:
        print(" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))


if __name__ == "__main__":
    main()
