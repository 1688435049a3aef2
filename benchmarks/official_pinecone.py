"""Our LangChain and LlamaIndex adapters on Pinecone against the official integration and
the raw SDK.

Run on demand (never in tests):

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python benchmarks/official_pinecone.py [--records 5000] [--dim 384] [--queries 30]

No Pinecone runs here: by default every contender talks to the test stand-in
(tests/pinecone_standin.py), started in a separate process so its work does not share
this process's interpreter lock; with ``--host HOST --api-key KEY`` they all use a real
index instead (a dotproduct or cosine index of ``--dim`` dimensions; each contender
writes its own namespace and deletes it after). Against the stand-in the figures
measure **client-side cost** (request building, the SDK's model checks, our encoding),
not Pinecone's: the stand-in answers in a few ms and ranks exactly.

Each contender ingests the same records with precomputed vectors (random unit vectors),
then answers the same filtered top-10 queries. Recall@10 against exact search. Prints
medians, p95 and ratios to the official integration.

* ``raw SDK``: ``Index.upsert`` in batches of 100, ``Index.query`` with a filter.
* ``llama-index-vector-stores-pinecone``: ``PineconeVectorStore`` defaults.
* ``bruno LlamaIndex``: ``BrunoVectorStore.add`` / ``query``.
* ``bruno LangChain``: ``BrunoVectorStore.add_texts`` / ``similarity_search_by_vector``.

langchain-pinecone is left out: its releases need pinecone < 8, while this package needs
the 8.x SDK (API 2025-10).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from official import TOPICS, Table, data, exact_top, llama_query, nodes  # noqa: E402
from pinecone import Pinecone  # noqa: E402

from bruno_memory_integrations import open_store  # noqa: E402

KEY = "standin-key"


def start_standin(dim: int) -> tuple[subprocess.Popen[str], str]:
    code = (
        "import sys, time; sys.path.insert(0, 'tests');"
        "from pinecone_standin import PineconeStandIn;"
        f"s = PineconeStandIn(dimension={dim}, metric='dotproduct').start();"
        "print(s.host, flush=True); sys.stdin.read()"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


Contender = tuple[Callable[..., Any], Callable[..., Any], Callable[[], None]]


def raw_sdk(host: str, key: str, emb: Table) -> Contender:
    index = Pinecone(api_key=key).Index(host=host)
    ns = f"raw{uuid.uuid4().hex[:8]}"

    def ingest(texts: list[str], metas: list[dict[str, Any]]) -> None:
        vecs = [{"id": str(m["i"]), "values": emb.by_text[t], "metadata": {**m, "text": t}}
                for t, m in zip(texts, metas, strict=True)]
        for i in range(0, len(vecs), 100):
            index.upsert(vectors=vecs[i:i + 100], namespace=ns, show_progress=False)

    def query(q: list[float], topic: str) -> list[int]:
        res = index.query(vector=q, top_k=10, namespace=ns, filter={"topic": {"$eq": topic}},
                          include_metadata=True)
        return [int(m.metadata["i"]) for m in res.matches]

    return ingest, query, lambda: index.delete(delete_all=True, namespace=ns)


def official_llama(host: str, key: str, emb: Table) -> Contender:
    from llama_index.vector_stores.pinecone import PineconeVectorStore

    index = Pinecone(api_key=key).Index(host=host)
    ns = f"li{uuid.uuid4().hex[:8]}"
    vs = PineconeVectorStore(pinecone_index=index, namespace=ns)

    def ingest(texts: list[str], metas: list[dict[str, Any]]) -> None:
        vs.add(nodes(texts, metas, emb))

    def query(q: list[float], topic: str) -> list[int]:
        return [int(n.metadata["i"]) for n in vs.query(llama_query(q, topic)).nodes]

    return ingest, query, lambda: index.delete(delete_all=True, namespace=ns)


def _store(host: str, key: str) -> Any:
    url = host.replace("http://", "pinecone+http://").replace("https://", "pinecone://")
    return open_store(url, api_key=key, prefix=f"b{uuid.uuid4().hex[:8]}")


def bruno_llama(host: str, key: str, emb: Table) -> Contender:
    from bruno_memory_integrations.llama_index import BrunoVectorStore

    store = _store(host, key)
    vs = BrunoVectorStore(store, collection="bench")

    def ingest(texts: list[str], metas: list[dict[str, Any]]) -> None:
        vs.add(nodes(texts, metas, emb))

    def query(q: list[float], topic: str) -> list[int]:
        return [int(n.metadata["i"]) for n in vs.query(llama_query(q, topic)).nodes]

    return ingest, query, lambda: store.drop_collection("bench")


def bruno_langchain(host: str, key: str, emb: Table) -> Contender:
    from bruno_memory_integrations.langchain import BrunoVectorStore

    store = _store(host, key)
    vs = BrunoVectorStore(emb, store, collection="bench")

    def ingest(texts: list[str], metas: list[dict[str, Any]]) -> None:
        vs.add_texts(texts, metas, ids=[str(i) for i in range(len(texts))])

    def query(q: list[float], topic: str) -> list[int]:
        docs = vs.similarity_search_by_vector(q, k=10, filter={"topic": topic})
        return [int(d.metadata["i"]) for d in docs]

    return ingest, query, lambda: store.drop_collection("bench")


CONTENDERS = {
    "raw SDK": raw_sdk,
    "llama-index-vector-stores-pinecone": official_llama,
    "bruno LlamaIndex": bruno_llama,
    "bruno LangChain": bruno_langchain,
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, default=5000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--queries", type=int, default=30)
    ap.add_argument("--host", default=None, help="a real index's host instead of the stand-in")
    ap.add_argument("--api-key", default=os.environ.get("PINECONE_API_KEY"))
    args = ap.parse_args()
    proc = None
    if args.host:
        host, key = args.host, args.api_key
        if not host.startswith(("http://", "https://")):
            host = f"https://{host}"
    else:
        proc, host = start_standin(args.dim)
        key = KEY
    try:
        texts, vecs, metas = data(args.records, args.dim)
        emb = Table(texts, vecs)
        rng = random.Random(7)
        queries = [(rng.randrange(args.records), f"t{rng.randrange(TOPICS)}")
                   for _ in range(args.queries)]
        truth = [exact_top(vecs, metas, vecs[i], t) for i, t in queries]
        rows = []
        for name, make in CONTENDERS.items():
            ingest, query, cleanup = make(host, key, emb)
            began = time.perf_counter()
            ingest(texts, metas)
            ingest_s = time.perf_counter() - began
            times, recalls = [], []
            for (i, topic), want in zip(queries, truth, strict=True):
                began = time.perf_counter()
                got = query(vecs[i].tolist(), topic)
                times.append(time.perf_counter() - began)
                recalls.append(len(set(got) & want) / 10)
            cleanup()
            times.sort()
            rows.append((name, ingest_s, statistics.median(times),
                         times[min(len(times) - 1, int(0.95 * len(times)))],
                         statistics.mean(recalls)))
            print(f"  measured {name}", file=sys.stderr)
    finally:
        if proc is not None:
            proc.kill()
            proc.wait()
    official = {r[0]: r for r in rows}["llama-index-vector-stores-pinecone"]
    where = args.host or "the local stand-in (client-side cost only)"
    print(f"\n{args.records} x {args.dim} random unit vectors, filtered top-10 (1/{TOPICS} of "
          f"the records), {args.queries} queries, index: {where}\n")
    print("| client | ingest s | ingest vs official | filtered p50 ms | p95 ms | "
          "p50 vs official | recall@10 |")
    print("|---|---|---|---|---|---|---|")
    for name, ingest_s, p50, p95, recall in rows:
        print(f"| {name} | {ingest_s:.2f} | {official[1] / ingest_s:.2f}x faster | "
              f"{p50 * 1000:.1f} | {p95 * 1000:.1f} | {official[2] / p50:.2f}x faster | "
              f"{recall:.3f} |")


if __name__ == "__main__":
    main()
