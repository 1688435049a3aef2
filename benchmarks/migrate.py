"""Migration of a large collection, SQLite -> PostgreSQL: time, peak memory, verification.

    .venv/bin/python benchmarks/migrate.py --records 100000 --dim 384
    .venv/bin/python benchmarks/migrate.py --records 10000 --dim 384 --pairs sqlite:redis

Each way of copying runs in its own process, so its peak resident memory
(``ru_maxrss``) is its own:

* ``migrate``: ``bruno_memory_integrations.migrate`` (pages of ``--batch`` records,
  a checkpoint after each), then ``verify_migration`` (counts and per-record checksums);
* ``naive``: the baseline a user writes without it, reading the whole collection into a
  list and upserting it in one call (one HNSW build in PostgreSQL, memory grows with
  the collection).

The source is built once (random unit vectors, small metadata, a short text). Starts
PostgreSQL and Redis like the tests do, or uses ``BRUNO_TEST_POSTGRES_URL`` /
``BRUNO_TEST_REDIS_URL``. The machine is shared and noisy: compare ratios in one run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bruno_memory_integrations import Record, open_store  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
from ingest import server_urls  # noqa: E402


def build_source(path: Path, n: int, dim: int, collection: str) -> None:
    rng = random.Random(7)
    with open_store(f"sqlite:///{path}") as store:
        for start in range(0, n, 5000):
            batch = []
            for i in range(start, min(n, start + 5000)):
                v = [rng.gauss(0.0, 1.0) for _ in range(dim)]
                norm = math.sqrt(sum(x * x for x in v))
                batch.append(
                    Record(
                        f"doc-{i:07d}", f"document number {i}", [x / norm for x in v],
                        {"i": i, "topic": f"t{i % 17}", "year": 2000 + i % 25},
                    )
                )
            store.upsert(collection, batch, embedding_model="bench-model")


def run_one(method: str, src: str, dst: str, collection: str, batch: int) -> dict[str, object]:
    """One way of copying, in this process; returns seconds, peak memory, verification."""
    from bruno_memory_integrations import migrate, verify_migration

    out: dict[str, object] = {"method": method}
    start = time.perf_counter()
    if method == "migrate":
        migrate(src, dst, collections=[collection], namespaces=[], kv_collections=[],
                batch_size=batch)
    else:
        with open_store(src) as s, open_store(dst) as d:
            info = s.collection_info(collection)
            assert info is not None
            records = list(s.iter_records(collection, batch_size=batch))
            d.upsert(collection, records, embedding_model=info.embedding_model,
                     metric=info.metric)
            del records
    out["copy_s"] = time.perf_counter() - start
    start = time.perf_counter()
    report = verify_migration(src, dst, collections=[collection], namespaces=[],
                              kv_collections=[], batch_size=batch)
    out["verify_s"] = time.perf_counter() - start
    out["verified"] = report.verified
    out["mismatched"] = sum(p.mismatched for p in report.parts)
    out["records"] = report.parts[0].destination
    out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--methods", default="migrate,naive")
    ap.add_argument(
        "--pairs", default="sqlite:postgres",
        help="comma-separated SRC:DST kinds among sqlite, postgres, redis",
    )
    ap.add_argument("--one", nargs=4, metavar=("METHOD", "SRC", "DST", "COLLECTION"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(run_one(*args.one, args.batch)))
        return
    pairs = [tuple(p.split(":")) for p in args.pairs.split(",")]
    kinds = sorted({k for p in pairs for k in p} - {"sqlite"})
    rows = []
    with tempfile.TemporaryDirectory() as tmp, server_urls(kinds) as urls:
        source = Path(tmp) / "source.db"
        collection = "bench_docs"
        t0 = time.perf_counter()
        build_source(source, args.records, args.dim, collection)
        print(f"source: {args.records} records x {args.dim} dims built in "
              f"{time.perf_counter() - t0:.0f} s, {source.stat().st_size / 2**20:.0f} MB")
        for src_kind, dst_kind in pairs:
            src = f"sqlite:///{source}" if src_kind == "sqlite" else urls[src_kind]
            for method in args.methods.split(","):
                name = f"{collection}_{uuid.uuid4().hex[:6]}"
                if src_kind != "sqlite":  # a copy of the source collection in that store
                    raise SystemExit("only sqlite sources are supported here")
                dst = (f"sqlite:///{Path(tmp) / (name + '.db')}" if dst_kind == "sqlite"
                       else urls[dst_kind])
                # The destination collection gets its own name: rename by a view of the
                # source is not possible, so each run copies into a fresh store/database.
                with open_store(dst) as d:
                    d.drop_collection(collection)
                proc = subprocess.run(
                    [sys.executable, __file__, "--batch", str(args.batch), "--one", method,
                     src, dst, collection],
                    capture_output=True, text=True, check=False,
                )
                if proc.returncode != 0:
                    raise SystemExit(proc.stderr)
                row = json.loads(proc.stdout.strip().splitlines()[-1])
                row["pair"] = f"{src_kind} -> {dst_kind}"
                rows.append(row)
                print(json.dumps(row), flush=True)
                with open_store(dst) as d, contextlib.suppress(Exception):
                    d.drop_collection(collection)
    base = {r["pair"]: r for r in rows if r["method"] == "naive"}
    print(f"\n{args.records} records x {args.dim} dims, batch {args.batch} "
          f"(2 shared cores: noisy, compare within one run)\n")
    print("| pair | method | copy s | rec/s | x naive | verify s | peak RSS MB | verified |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        b = base.get(str(r["pair"]))
        ratio = f"{float(r['copy_s']) / float(b['copy_s']):.2f}" if b else "-"
        rate = float(r["records"] or 0) / float(r["copy_s"])
        print(
            f"| {r['pair']} | {r['method']} | {float(r['copy_s']):.1f} | {rate:,.0f} | {ratio} "
            f"| {float(r['verify_s']):.1f} | {float(r['peak_mb']):.0f} "
            f"| {r['verified']} ({r['records']} records, {r['mismatched']} differ) |"
        )



if __name__ == "__main__":
    main()
