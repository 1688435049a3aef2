"""The SQLite backend against langchain-community's SQLiteVec, side by side (on demand).

    .venv/bin/python benchmarks/sqlite_perf.py [--records 20000] [--queries 50] [--rounds 3]

Every contender gets the same 384-d random unit vectors, texts and metadata (as in
``compare.py``, plus a ``bucket`` field for a selective filter). Three tables, each
from interleaved rounds (every contender once per round, in turn), medians over rounds:

* ingest: SQLiteVec's ``add_texts`` in batches of 256 (LangChain's), this package's
  ``upsert`` in batches of 256 (LangChain), 2048 (LlamaIndex) and one call of all
  records; ours includes the first search (the vector cache is read); ratio to SQLiteVec;
* search: p50 / p95 of top-10 unfiltered and with filters matching about 0.1 %, 2.7 %
  and 50 % of the records, each with recall@10 against exact numpy search; ratio to
  this package's unfiltered p50 in the same round;
* memory: the database file, and the RSS a fresh process gains by opening the store
  and searching it (vector cache warm; metadata columns of the filters' fields).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bruno_memory_integrations import Record, open_store  # noqa: E402

DIM = 384
FILTERS: dict[str, dict[str, Any] | None] = {
    "unfiltered": None,
    "0.1% (bucket == 7)": {"bucket": 7},
    "2.7% (topic == t3, year >= 2010)": {"topic": "t3", "year": {"$gte": 2010}},
    "50% (topic in t0..t7)": {"topic": {"$in": [f"t{i}" for i in range(8)]}},
}


class Data:
    def __init__(self, n: int, queries: int) -> None:
        rng = np.random.default_rng(42)
        v = rng.standard_normal((n, DIM)).astype(np.float32)
        self.vecs = v / np.linalg.norm(v, axis=1, keepdims=True)
        q = rng.standard_normal((queries, DIM)).astype(np.float32)
        self.queries = q / np.linalg.norm(q, axis=1, keepdims=True)
        self.ids = [f"d{i:07d}" for i in range(n)]
        self.texts = [f"document {i} about topic {i % 16}" for i in range(n)]
        self.meta = [
            {"topic": f"t{i % 16}", "year": 1990 + (i * 7919) % 35, "bucket": (i * 37) % 1000}
            for i in range(n)
        ]
        from bruno_memory_integrations.filters import evaluate, parse_filter

        self.match = {
            name: np.array([evaluate(parse_filter(f), m) for m in self.meta])
            for name, f in FILTERS.items()
        }

    def truth(self, q: np.ndarray, name: str) -> set[str]:
        """The exact top 10 among the matching records (fewer if fewer match)."""
        dist = np.where(self.match[name], 1.0 - self.vecs @ q, np.inf)
        best = np.argsort(dist, kind="stable")[:10]
        return {self.ids[i] for i in best if np.isfinite(dist[i])}


def _records(data: Data) -> list[Record]:
    return [
        Record(i, t, v.tolist(), m)
        for i, t, v, m in zip(data.ids, data.texts, data.vecs, data.meta, strict=True)
    ]


def ingest_ours(
    path: str, records: list[Record], batch: int, query: list[float]
) -> tuple[float, float]:
    """(wall s, CPU s of this process) to write every record and search once."""
    with open_store(f"sqlite:///{path}") as s:
        s.count("warm")
        t, c = time.perf_counter(), time.process_time()
        for i in range(0, len(records), batch):
            s.upsert("c", records[i : i + batch])
        s.search("c", query, k=10)
        return time.perf_counter() - t, time.process_time() - c


def _embeddings(data: Data) -> Any:
    from langchain_core.embeddings import Embeddings

    by_text = {t: v.tolist() for t, v in zip(data.texts, data.vecs, strict=True)}

    class Lookup(Embeddings):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return [by_text[t] for t in texts]

        def embed_query(self, text: str) -> list[float]:
            return by_text.get(text, [1.0] + [0.0] * (DIM - 1))

    return Lookup()


def _vec_connection(path: str) -> Any:
    import sqlite_vec

    try:
        import pysqlite3 as sqlite3  # this Python's sqlite3 may not load extensions
    except ImportError:
        import sqlite3
    conn = sqlite3.connect(path, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.enable_load_extension(True)
    sqlite_vec.load(conn)
    conn.enable_load_extension(False)
    return conn


def ingest_sqlitevec(path: str, data: Data) -> tuple[tuple[float, float], Any]:
    from langchain_community.vectorstores import SQLiteVec

    conn = _vec_connection(path)
    store = SQLiteVec("docs", conn, _embeddings(data), db_file=path)
    t, c = time.perf_counter(), time.process_time()
    for i in range(0, len(data.texts), 256):
        store.add_texts(data.texts[i : i + 256], metadatas=data.meta[i : i + 256])
    return (time.perf_counter() - t, time.process_time() - c), (store, conn)


def _measure(
    data: Data, search: Callable[[np.ndarray], list[str]], name: str
) -> tuple[float, float, float]:
    search(data.queries[0])  # warm (builds the columns of the filter's fields)
    lat, rec = [], []
    for q in data.queries:
        t = time.perf_counter()
        got = search(q)
        lat.append((time.perf_counter() - t) * 1000)
        want = data.truth(q, name)
        rec.append(len(want & set(got)) / len(want))
    lat.sort()
    return statistics.median(lat), lat[int(0.95 * (len(lat) - 1))], float(np.mean(rec))


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def memory_child(path: str) -> None:
    """Run in a fresh process: RSS gained by opening, searching and filtering."""
    data = json.loads(sys.stdin.read())
    q = data["query"]
    import bruno_memory_integrations.backends.sqlite  # noqa: F401 (numpy too: not counted)

    before = _rss_mb()
    with open_store(f"sqlite:///{path}") as s:
        s.search("c", q, k=10)
        vectors = _rss_mb()
        for f in FILTERS.values():
            s.search("c", q, k=10, filter=f)
        columns = _rss_mb()
    print(json.dumps({"vectors": vectors - before, "columns": columns - vectors}))


def memory(path: str, query: list[float]) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--memory-child", path],
        input=json.dumps({"query": query}), capture_output=True, text=True, check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


Timing = tuple[float, float]
Latency = tuple[float, float, float]


def one_round(
    r: int, tmp: str, data: Data, records: list[Record],
    ingest: dict[str, list[Timing]], search: dict[tuple[str, str], list[Latency]],
    mem: list[dict[str, float]], sizes: list[float],
) -> None:
    """Every contender once: SQLiteVec, then this package at each batch size."""
    n = len(records)
    query = data.queries[0].tolist()
    official = f"{tmp}/vec{r}.db"
    t, (store, conn) = ingest_sqlitevec(official, data)
    ingest.setdefault(OFFICIAL, []).append(t)
    for b in (256, 2048, n):
        path = f"{tmp}/ours{r}_{b}.db"
        label = f"bruno, batches of {b}" if b < n else f"bruno, one call of {n}"
        ingest.setdefault(label, []).append(ingest_ours(path, records, b, query))
        if b == n:
            sizes.append(sum(p.stat().st_size for p in Path(tmp).glob(f"ours{r}_{b}.db*")))
            mem.append(memory(path, query))
            with open_store(f"sqlite:///{path}") as s:
                for name, flt in FILTERS.items():
                    search.setdefault((OURS, name), []).append(
                        _measure(data, _ours(s, flt), name)
                    )
        Path(path).unlink()
    ids_of = {t: i for i, t in zip(data.ids, data.texts, strict=True)}

    def official_search(q: np.ndarray) -> list[str]:
        docs = store.similarity_search_by_vector(q.tolist(), 10)
        return [ids_of[d.page_content] for d in docs]

    search.setdefault((OFFICIAL_SEARCH, "unfiltered"), []).append(
        _measure(data, official_search, "unfiltered")
    )
    conn.close()
    Path(official).unlink()


def _ours(s: Any, flt: dict[str, Any] | None) -> Callable[[np.ndarray], list[str]]:
    def run(q: np.ndarray) -> list[str]:
        return [h.record.id for h in s.search("c", q.tolist(), k=10, filter=flt)]

    return run


OFFICIAL = "langchain-community SQLiteVec, batches of 256"
OFFICIAL_SEARCH = "langchain-community SQLiteVec"
OURS = "bruno (numpy, cached)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args.memory_child)
        return
    data = Data(args.records, args.queries)
    records = _records(data)
    ingest: dict[str, list[Timing]] = {}
    search: dict[tuple[str, str], list[Latency]] = {}
    mem: list[dict[str, float]] = []
    sizes: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            one_round(r, tmp, data, records, ingest, search, mem, sizes)
            print(f"round {r + 1}/{args.rounds} done", file=sys.stderr, flush=True)
    med = statistics.median
    n = args.records
    print(f"{n} records x {DIM} random unit vectors, {args.queries} queries, "
          f"{args.rounds} interleaved rounds; medians over rounds.\n")
    print("| ingest | wall s | min-max | x SQLiteVec | CPU s | x SQLiteVec |")
    print("|---|---|---|---|---|---|")
    base, cbase = med([t[0] for t in ingest[OFFICIAL]]), med([t[1] for t in ingest[OFFICIAL]])
    for label, ts in ingest.items():
        w, c = [t[0] for t in ts], [t[1] for t in ts]
        print(f"| {label} | {med(w):.2f} | {min(w):.2f}-{max(w):.2f} | {med(w) / base:.2f} "
              f"| {med(c):.2f} | {med(c) / cbase:.2f} |")
    print("\n| search top-10 | p50 ms | p95 ms | x unfiltered p50 | recall@10 |")
    print("|---|---|---|---|---|")
    unf = med([m[0] for m in search[(OURS, "unfiltered")]])
    for (who, name), ms in search.items():
        p50, p95, rec = med([m[0] for m in ms]), med([m[1] for m in ms]), min(m[2] for m in ms)
        print(f"| {who}: {name} | {p50:.2f} | {p95:.2f} | {p50 / unf:.2f} | {rec:.2f} |")
    per = 100_000 / n
    print("\n| memory | MB | MB per 100 000 records |\n|---|---|---|")
    print(f"| database file (+ WAL) | {med(sizes) / 1e6:.0f} | {med(sizes) / 1e6 * per:.0f} |")
    for key, label in (("vectors", "RSS gained: open + first search (vector cache)"),
                       ("columns", "RSS gained: metadata columns of 3 fields")):
        v = med([m[key] for m in mem])
        print(f"| {label} | {v:.1f} | {v * per:.1f} |")


if __name__ == "__main__":
    main()
