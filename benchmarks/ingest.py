"""Bulk ingest and query speed of every backend, measured in one run.

Run on demand:  .venv/bin/python benchmarks/ingest.py [--records 10000] [--dim 384] [--repeat 3]

PostgreSQL and Redis come from BRUNO_TEST_POSTGRES_URL / BRUNO_TEST_REDIS_URL, or are
started here the way the test suite starts them (tests/servers.py). Prints one table:
median seconds over the repeats, records per second, the row count found afterwards,
and each figure's ratio to the in-process memory backend measured in the same run.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bruno_memory_integrations import Record, open_store  # noqa: E402


def make_records(n: int, dim: int) -> list[Record]:
    rng = random.Random(42)
    return [
        Record(
            f"doc-{i}",
            f"document {i} about topic {i % 17}",
            [rng.uniform(-1, 1) for _ in range(dim)],
            {"i": i, "topic": f"t{i % 17}", "even": i % 2 == 0},
        )
        for i in range(n)
    ]


@contextlib.contextmanager
def server_urls(kinds: list[str]) -> Iterator[dict[str, str]]:
    urls: dict[str, str] = {}
    with contextlib.ExitStack() as stack:
        if "postgres" in kinds:
            url = os.environ.get("BRUNO_TEST_POSTGRES_URL")
            if not url:
                from tests.servers import PostgresServer

                url = stack.enter_context(PostgresServer()).url
            urls["postgres"] = url
        if "redis" in kinds:
            url = os.environ.get("BRUNO_TEST_REDIS_URL")
            if not url:
                from tests.servers import RedisServer

                url = stack.enter_context(RedisServer()).url
            urls["redis"] = url
        yield urls


def measure(url: str, records: list[Record], repeat: int, batch: int) -> dict[str, float]:
    ingest, query, counts = [], [], []
    for _ in range(repeat):
        coll = f"bench_{uuid.uuid4().hex[:8]}"
        with open_store(url) as store:
            t0 = time.perf_counter()
            for i in range(0, len(records), batch):
                store.upsert(coll, records[i : i + batch])
            ingest.append(time.perf_counter() - t0)
            counts.append(store.count(coll))
            t0 = time.perf_counter()
            for r in records[:50]:
                store.search(coll, r.vector or [], k=10, filter={"even": True})
            query.append((time.perf_counter() - t0) / 50)
            store.drop_collection(coll)
    return {
        "ingest_s": statistics.median(ingest),
        "query_ms": statistics.median(query) * 1000,
        "count": min(counts),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=int, default=10_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--batch", type=int, default=1000, help="records per upsert call")
    ap.add_argument("--backends", default="memory,sqlite,postgres,redis")
    args = ap.parse_args()
    kinds = args.backends.split(",")
    records = make_records(args.records, args.dim)
    rows: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp, server_urls(kinds) as urls:
        targets = {
            "memory": "memory://",
            "sqlite": f"sqlite:///{tmp}/bench.db",
            **urls,
        }
        for kind in kinds:
            print(f"measuring {kind} ...", file=sys.stderr)
            rows[kind] = measure(targets[kind], records, args.repeat, args.batch)
    base = rows.get("memory") or next(iter(rows.values()))
    print(
        f"\n{args.records} records, dim {args.dim}, batches of {args.batch}, "
        f"median of {args.repeat} runs; ratios vs memory (same run)\n"
    )
    print(
        f"{'backend':<10} {'ingest s':>9} {'rec/s':>9} {'x mem':>7} "
        f"{'rows':>7} {'query ms':>9} {'x mem':>7}"
    )
    for kind, r in rows.items():
        print(
            f"{kind:<10} {r['ingest_s']:>9.2f} {args.records / r['ingest_s']:>9.0f} "
            f"{r['ingest_s'] / base['ingest_s']:>7.2f} {int(r['count']):>7} "
            f"{r['query_ms']:>9.2f} {r['query_ms'] / base['query_ms']:>7.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
