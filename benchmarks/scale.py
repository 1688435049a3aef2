"""Scale: streaming ingest memory, last-N chat reads against session length, cost against N.

Run on demand (each measurement runs in its own process, so its memory is its own):

    .venv/bin/python benchmarks/scale.py ingest --stores sqlite,postgres --records 1000000
    .venv/bin/python benchmarks/scale.py chat --stores memory,sqlite,postgres,redis
    .venv/bin/python benchmarks/scale.py cost --stores memory,sqlite --sizes 10000,100000
    .venv/bin/python benchmarks/scale.py report --plots docs/img

``ingest`` streams N random 384-d unit vectors from a generator through
``Store.upsert_stream`` (pages of ``--batch``) and samples the process's RSS every 50 000
records (Redis: the server's ``used_memory_rss`` too). ``chat`` appends sessions of
100 / 10 000 / 100 000 messages and times ``get_messages(last_n=N)``, every session and N
taken in turns. ``cost`` ingests N records, then times top-10 queries (unfiltered, and
filtered on ``topic`` matching about 6 %) and scores recall@10 against exact numpy search
over the same generator. Results accumulate in a JSON file (``--results``); ``report``
prints the tables and writes one PNG per store (latency and ingest rate against N).

Stores: memory, sqlite, postgres, redis (servers started like the tests do, or
BRUNO_TEST_POSTGRES_URL / BRUNO_TEST_REDIS_URL), chroma (embedded), qdrant (local mode, in
memory), milvus (Milvus Lite).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

DEFAULT_RESULTS = Path(tempfile.gettempdir()) / "bruno_scale_results.json"
ALL_STORES = ("memory", "sqlite", "postgres", "redis", "chroma", "qdrant", "milvus")
SERVER_STORES = ("postgres", "redis")
TOPICS = 16  # the filter `topic == "t3"` matches 1/16 (about 6 %) of the records
SAMPLE_EVERY = 50_000
PAGE = 10_000  # records generated per numpy call (independent of the write batch)


# ---------------------------------------------------------------- data
def _page(seed: int, start: int, n: int, dim: int) -> Any:
    """Vectors and topics of records start..start+n, the same on every call."""
    import numpy as np

    rng = np.random.default_rng([seed, start])
    vecs = rng.standard_normal((n, dim), dtype=np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    topics = rng.integers(0, TOPICS, n)
    return vecs, topics


def pages(n: int, dim: int, seed: int = 7) -> Iterator[tuple[int, Any, Any]]:
    for start in range(0, n, PAGE):
        vecs, topics = _page(seed, start, min(PAGE, n - start), dim)
        yield start, vecs, topics


def records(n: int, dim: int, on_record: Any = None) -> Iterator[Any]:
    """A generator of N records; never a list of all of them."""
    from bruno_memory_integrations import Record

    for start, vecs, topics in pages(n, dim):
        for j, (vec, topic) in enumerate(zip(vecs.tolist(), topics.tolist(), strict=True)):
            i = start + j
            if on_record is not None:
                on_record(i)
            yield Record(f"doc-{i}", f"document {i} on topic {topic}", vec,
                         {"topic": f"t{topic}", "i": i})


def exact_top10(n: int, dim: int, queries: Any, topic: int | None) -> list[list[str]]:
    """The true top 10 ids per query (cosine on unit vectors), streaming over the data."""
    import numpy as np

    best_s = np.full((len(queries), 10), -np.inf, dtype=np.float32)
    best_i = np.full((len(queries), 10), -1, dtype=np.int64)
    for start, vecs, topics in pages(n, dim):
        sims = queries @ vecs.T
        if topic is not None:
            sims[:, topics != topic] = -np.inf
        idx = np.broadcast_to(np.arange(start, start + len(vecs)), sims.shape)
        all_s = np.concatenate([best_s, sims], axis=1)
        all_i = np.concatenate([best_i, idx], axis=1)
        keep = np.argsort(-all_s, axis=1, kind="stable")[:, :10]
        best_s = np.take_along_axis(all_s, keep, axis=1)
        best_i = np.take_along_axis(all_i, keep, axis=1)
    return [[f"doc-{i}" for i in row if i >= 0] for row in best_i.tolist()]


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 1e6


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3  # kB on Linux


def _redis_rss(url: str) -> float | None:
    try:
        import redis

        return float(redis.Redis.from_url(url).info("memory")["used_memory_rss"]) / 1e6
    except Exception:  # noqa: BLE001 (a figure we report if we can)
        return None


def _p50_ms(xs: list[float]) -> float:
    return statistics.median(xs) * 1000


# ---------------------------------------------------------------- children
def progress_path(store_kind: str, n: int) -> Path:
    return Path(tempfile.gettempdir()) / f"bruno_scale_progress_{store_kind}_{n}.jsonl"


def child_ingest(url: str, store_kind: str, n: int, dim: int, batch: int) -> dict[str, Any]:
    from bruno_memory_integrations import open_store

    samples: list[tuple[int, float, float]] = []
    with open_store(url) as store:
        coll = "scale_ingest"
        with contextlib.suppress(Exception):
            store.drop_collection(coll)
        server0 = _redis_rss(url) if store_kind == "redis" else None
        start_rss = rss_mb()
        t0 = time.perf_counter()

        progress = progress_path(store_kind, n)
        progress.write_text("")

        def sample(i: int) -> None:
            if i % SAMPLE_EVERY == 0 and i:
                samples.append((i, time.perf_counter() - t0, rss_mb()))
                with progress.open("a") as f:  # kept if the run is stopped at its timeout
                    f.write(json.dumps(samples[-1]) + "\n")

        written = store.upsert_stream(coll, records(n, dim, sample), batch_size=batch)
        elapsed = time.perf_counter() - t0
        end_rss = rss_mb()
        samples.append((n, elapsed, end_rss))
        count = store.count(coll)
        server1 = _redis_rss(url) if store_kind == "redis" else None
        store.drop_collection(coll)
    return {
        "written": written, "count": count, "seconds": elapsed, "rate": n / elapsed,
        "start_rss": start_rss, "peak_sampled_rss": max(s[2] for s in samples),
        "end_rss": end_rss, "ru_maxrss": peak_rss_mb(), "samples": samples,
        "server_rss_before": server0, "server_rss_after": server1, "batch": batch,
    }


def child_chat(url: str, lengths: list[int], ns: list[int], reps: int) -> dict[str, Any]:
    from bruno_memory_integrations import open_store

    out: dict[str, Any] = {"append_s": {}, "p50_ms": {}}
    with open_store(url) as store:
        sessions = {}
        for length in lengths:
            sid = f"scale-{length}-{os.getpid()}"
            store.clear_messages(sid)
            t0 = time.perf_counter()
            for start in range(0, length, 1000):
                store.append_messages(sid, [
                    {"role": "user" if i % 2 == 0 else "assistant",
                     "content": f"message {i} of a long conversation about scale"}
                    for i in range(start, min(start + 1000, length))
                ])
            out["append_s"][str(length)] = time.perf_counter() - t0
            sessions[length] = sid
        for length, sid in sessions.items():  # check the read is right before timing it
            last = store.get_messages(sid, last_n=10)
            assert [m["content"].split()[1] for m in last] == [
                str(i) for i in range(length - 10, length)
            ], (length, last[:2])

        def timed() -> dict[str, float]:
            times: dict[tuple[int, int], list[float]] = {(s, k): [] for s in lengths for k in ns}
            for _ in range(reps):  # every (session, N) in turns: load noise hits them alike
                for (length, k), bucket in times.items():
                    t0 = time.perf_counter()
                    got = store.get_messages(sessions[length], last_n=k)
                    bucket.append(time.perf_counter() - t0)
                    assert len(got) == min(k, length)
            return {f"{length}/{k}": _p50_ms(b) for (length, k), b in times.items()}

        out["p50_ms"] = timed()
        if url.startswith(("postgresql:", "postgres:")):
            # Right after the appends the table has no statistics yet (autovacuum
            # analyzes it within a minute or so); time the plan chosen with them too.
            import psycopg

            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("ANALYZE bruno_messages")
            out["p50_ms_analyzed"] = timed()
        for sid in sessions.values():
            store.clear_messages(sid)
    return out


def child_cost(url: str, n: int, dim: int, batch: int, queries: int) -> dict[str, Any]:
    import numpy as np

    from bruno_memory_integrations import open_store

    coll = f"scale_cost_{n}"
    qs = np.random.default_rng(99).standard_normal((queries, dim), dtype=np.float32)
    qs /= np.linalg.norm(qs, axis=1, keepdims=True)
    flt = {"topic": "t3"}
    with open_store(url) as store:
        with contextlib.suppress(Exception):
            store.drop_collection(coll)
        t0 = time.perf_counter()
        store.upsert_stream(coll, records(n, dim), batch_size=batch)
        ingest_s = time.perf_counter() - t0
        t0 = time.perf_counter()  # the first query may build an index a load left pending
        store.search(coll, qs[0].tolist(), k=10)
        first_s = time.perf_counter() - t0
        unf: list[float] = []
        fil: list[float] = []
        got_u: list[list[str]] = []
        got_f: list[list[str]] = []
        for q in qs.tolist():  # unfiltered and filtered in turns
            t0 = time.perf_counter()
            hits = store.search(coll, q, k=10)
            unf.append(time.perf_counter() - t0)
            got_u.append([h.record.id for h in hits])
            t0 = time.perf_counter()
            hits = store.search(coll, q, k=10, filter=flt)
            fil.append(time.perf_counter() - t0)
            got_f.append([h.record.id for h in hits])
        count = store.count(coll)
        store.drop_collection(coll)
    true_u = exact_top10(n, dim, qs, None)
    true_f = exact_top10(n, dim, qs, 3)

    def recall(got: list[list[str]], true: list[list[str]]) -> float:
        return sum(len(set(g) & set(t)) for g, t in zip(got, true, strict=True)) / sum(
            len(t) for t in true
        )

    return {
        "count": count, "ingest_s": ingest_s, "rate": n / ingest_s, "first_query_s": first_s,
        "unfiltered_p50_ms": _p50_ms(unf), "filtered_p50_ms": _p50_ms(fil),
        "unfiltered_recall": recall(got_u, true_u), "filtered_recall": recall(got_f, true_f),
        "ru_maxrss": peak_rss_mb(), "queries": queries, "batch": batch,
    }


# ---------------------------------------------------------------- parent
@contextlib.contextmanager
def store_urls(kinds: list[str], tmp: str) -> Iterator[dict[str, str]]:
    from ingest import server_urls

    with server_urls([k for k in kinds if k in SERVER_STORES]) as urls:
        local = {
            "memory": "memory://",
            "sqlite": f"sqlite:///{tmp}/scale.db",
            "chroma": f"chroma:///{tmp}/chroma",
            "qdrant": "qdrant://:memory:",
            "milvus": f"milvus:///{tmp}/milvus.db",
        }
        yield {k: urls.get(k) or local[k] for k in kinds}


def run_child(args: list[str], timeout: float) -> dict[str, Any] | str:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    try:
        out = subprocess.run(
            [sys.executable, __file__, "_child", *args], capture_output=True, text=True,
            env=env, timeout=timeout, check=False,
        )
    except subprocess.TimeoutExpired:
        return f"stopped after {timeout:.0f} s"
    if out.returncode != 0:
        return "failed: " + (out.stderr.strip().splitlines() or ["?"])[-1][:200]
    return json.loads(out.stdout.strip().splitlines()[-1])


def load_results(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else {}


def save_result(path: Path, key: str, value: Any) -> None:
    data = load_results(path)  # reread: another run may have added to it meanwhile
    data[key] = value
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    tmp.replace(path)


def main_child(argv: list[str]) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("what")
    ap.add_argument("--url")
    ap.add_argument("--store")
    ap.add_argument("--n", type=int, default=0)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--lengths", default="100,10000,100000")
    ap.add_argument("--ns", default="10,100")
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--queries", type=int, default=30)
    a = ap.parse_args(argv)
    if a.what == "ingest":
        res = child_ingest(a.url, a.store, a.n, a.dim, a.batch)
    elif a.what == "chat":
        res = child_chat(a.url, [int(x) for x in a.lengths.split(",")],
                         [int(x) for x in a.ns.split(",")], a.reps)
    else:
        res = child_cost(a.url, a.n, a.dim, a.batch, a.queries)
    print(json.dumps(res))
    return 0


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "_child":
        return main_child(sys.argv[2:])
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("command", choices=["ingest", "chat", "cost", "report"])
    ap.add_argument("--stores", default="memory,sqlite,postgres,redis")
    ap.add_argument("--records", type=int, default=100_000, help="ingest: records streamed")
    ap.add_argument("--sizes", default="10000,100000", help="cost: collection sizes")
    ap.add_argument("--lengths", default="100,10000,100000", help="chat: session lengths")
    ap.add_argument("--ns", default="10,100", help="chat: last N")
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--batch", type=int, default=1000, help="records per page written")
    ap.add_argument("--queries", type=int, default=30)
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per measurement")
    ap.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    ap.add_argument("--plots", type=Path, default=None, help="report: write PNGs here")
    a = ap.parse_args()
    if a.command == "report":
        from scale_report import report

        return report(load_results(a.results), a.plots)
    kinds = [k for k in a.stores.split(",") if k]
    unknown = set(kinds) - set(ALL_STORES)
    if unknown:
        ap.error(f"unknown stores {sorted(unknown)}; known: {', '.join(ALL_STORES)}")
    with tempfile.TemporaryDirectory() as tmp, store_urls(kinds, tmp) as urls:
        for kind in kinds:
            common = ["--url", urls[kind], "--store", kind, "--dim", str(a.dim),
                      "--batch", str(a.batch)]
            if a.command == "ingest":
                jobs = [(f"ingest/{kind}/{a.records}", ["ingest", "--n", str(a.records)])]
            elif a.command == "chat":
                jobs = [(f"chat/{kind}", ["chat", "--lengths", a.lengths, "--ns", a.ns])]
            else:
                jobs = [(f"cost/{kind}/{n}", ["cost", "--n", n, "--queries", str(a.queries)])
                        for n in a.sizes.split(",")]
            for key, args in jobs:
                print(f"{time.strftime('%H:%M:%S')} {key} ...", file=sys.stderr, flush=True)
                t0 = time.perf_counter()
                res = run_child([*args, *common], a.timeout)
                progress = progress_path(kind, a.records)
                if a.command == "ingest" and isinstance(res, str) and progress.exists():
                    lines = progress.read_text().splitlines()
                    res = {"stopped": res, "samples": [json.loads(x) for x in lines]}
                print(f"{time.strftime('%H:%M:%S')} {key}: {time.perf_counter() - t0:.0f} s "
                      f"{res if isinstance(res, str) else 'ok'}", file=sys.stderr, flush=True)
                if isinstance(res, dict):
                    res["load_avg"] = os.getloadavg()[0]  # other work on the machine
                save_result(a.results, key, res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
