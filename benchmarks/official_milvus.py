"""Our LangChain and LlamaIndex adapters on Milvus against the official integrations.

Run on demand (never in tests):

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python benchmarks/official_milvus.py [--records 20000] [--dim 384] [--queries 30]
        [--engines lite,server] [--url http://host:19530] [--rounds 2]

One run measures every contender on each engine: Milvus Lite (a fresh file per
contender) and the real C++ Milvus standalone (the PyPI ``milvus`` package,
started here with its default settings unless ``--url`` names a server; each
contender gets its own collection on it). Each contender ingests the same
records with precomputed vectors (random unit vectors; the embedding model is
out of the measurement), then answers the same filtered top-10 queries (one
topic of 17). Recall@10 is measured against exact search (numpy over the
filtered records). Contenders take turns: each round measures every one of them,
in an order rotated by one each round, so load from elsewhere on a shared machine
falls on all of them. Prints the median ingest over the rounds, p50 and p95 over
every query of every round, and ratios to the official integration.

* ``bruno LangChain``: ``BrunoVectorStore.add_texts`` / ``similarity_search_by_vector``.
* ``langchain-milvus``: ``Milvus`` defaults (its index, Session consistency).
* ``bruno LlamaIndex``: ``BrunoVectorStore.add`` / ``query``.
* ``llama-index-vector-stores-milvus``: ``MilvusVectorStore`` defaults.
* ``pymilvus``: ``MilvusClient`` quick setup (AUTOINDEX, COSINE, dynamic fields),
  ``insert`` in batches of 1 000, ``search`` with ``topic == "t.."``.
* ``pymilvus, bruno's rows (upsert)`` / ``(insert)``: the rows this package writes,
  built before the clock starts, sent in its batches (512) with ``upsert`` (what
  the package does) or ``insert`` (what the official integrations do): the engine's
  cost of our rows, the floor of our ingest. Queried through ``Store.search``.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from langchain_core.embeddings import Embeddings  # noqa: E402

from bruno_memory_integrations import open_store  # noqa: E402

TOPICS = 17
COLLECTION = "bench"


class Table(Embeddings):
    """Precomputed vectors by text: embedding costs nothing and is the same for all."""

    def __init__(self, texts: list[str], vectors: np.ndarray) -> None:
        self.by_text = {t: v.tolist() for t, v in zip(texts, vectors, strict=True)}
        self.dim = vectors.shape[1]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self.by_text.get(t) or [1.0] + [0.0] * (self.dim - 1) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self.by_text[text]


def data(n: int, dim: int) -> tuple[list[str], np.ndarray, list[dict[str, Any]]]:
    rng = np.random.default_rng(42)
    vecs = rng.standard_normal((n, dim)).astype(np.float64)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    texts = [f"document {i} about topic {i % TOPICS}" for i in range(n)]
    metas = [{"topic": f"t{i % TOPICS}", "i": i} for i in range(n)]
    return texts, vecs, metas


def exact_top(
    vecs: np.ndarray, metas: list[dict[str, Any]], q: np.ndarray, topic: str
) -> set[int]:
    idx = np.array([i for i, m in enumerate(metas) if m["topic"] == topic])
    sims = vecs[idx] @ q
    return {int(i) for i in idx[np.argsort(-sims)[:10]]}


# ------------------------------------------------------------------ contenders
Contender = tuple[Callable[..., Any], Callable[..., Any]]


def _ours(uri: str) -> str:
    return uri.replace("http://", "milvus://") if uri.startswith("http") else f"milvus:///{uri}"


def bruno_langchain(uri: str, emb: Table) -> Contender:
    from bruno_memory_integrations.langchain import BrunoVectorStore

    store = open_store(_ours(uri), prefix=f"b{uuid.uuid4().hex[:8]}")
    vs = BrunoVectorStore(emb, store, collection=COLLECTION)

    def ingest(texts: list[str], metas: list[dict[str, Any]]) -> None:
        vs.add_texts(texts, metas, ids=[str(i) for i in range(len(texts))])

    def query(q: list[float], topic: str) -> list[int]:
        docs = vs.similarity_search_by_vector(q, k=10, filter={"topic": topic})
        return [int(d.metadata["i"]) for d in docs]

    return ingest, query


def official_langchain(uri: str, emb: Table) -> Contender:
    from langchain_milvus import Milvus
    from pymilvus import connections

    vs = Milvus(emb, collection_name=f"lc{uuid.uuid4().hex[:8]}", connection_args={"uri": uri})
    if not connections.has_connection(vs.alias):
        # langchain-milvus 0.3.3 reads collections through pymilvus' ORM under an alias
        # that pymilvus 2.6's MilvusClient no longer registers ("should create
        # connection first"): register it, outside the measured time.
        connections.connect(alias=vs.alias, uri=uri)

    def ingest(texts: list[str], metas: list[dict[str, Any]]) -> None:
        vs.add_texts(texts, metas, ids=[str(i) for i in range(len(texts))])

    def query(q: list[float], topic: str) -> list[int]:
        docs = vs.similarity_search_by_vector(q, k=10, expr=f'topic == "{topic}"')
        return [int(d.metadata["i"]) for d in docs]

    return ingest, query


def _nodes(texts: list[str], metas: list[dict[str, Any]], emb: Table) -> list[Any]:
    from llama_index.core.schema import TextNode

    return [TextNode(id_=str(uuid.UUID(int=i)), text=t, metadata=m, embedding=emb.by_text[t])
            for i, (t, m) in enumerate(zip(texts, metas, strict=True))]


def _li_query(q: list[float], topic: str) -> Any:
    from llama_index.core.vector_stores.types import (
        ExactMatchFilter,
        MetadataFilters,
        VectorStoreQuery,
    )

    filters = MetadataFilters(filters=[ExactMatchFilter(key="topic", value=topic)])
    return VectorStoreQuery(query_embedding=q, similarity_top_k=10, filters=filters)


def bruno_llama(uri: str, emb: Table) -> Contender:
    from bruno_memory_integrations.llama_index import BrunoVectorStore

    store = open_store(_ours(uri), prefix=f"b{uuid.uuid4().hex[:8]}")
    vs = BrunoVectorStore(store, collection=COLLECTION)

    def ingest(texts: list[str], metas: list[dict[str, Any]]) -> None:
        vs.add(_nodes(texts, metas, emb))

    def query(q: list[float], topic: str) -> list[int]:
        return [int(n.metadata["i"]) for n in vs.query(_li_query(q, topic)).nodes]

    return ingest, query


def official_llama(uri: str, emb: Table) -> Contender:
    from llama_index.vector_stores.milvus import MilvusVectorStore

    vs = MilvusVectorStore(
        uri=uri, collection_name=f"li{uuid.uuid4().hex[:8]}", dim=emb.dim, overwrite=True
    )

    def ingest(texts: list[str], metas: list[dict[str, Any]]) -> None:
        vs.add(_nodes(texts, metas, emb))

    def query(q: list[float], topic: str) -> list[int]:
        return [int(n.metadata["i"]) for n in vs.query(_li_query(q, topic)).nodes]

    return ingest, query


def raw_pymilvus(uri: str, emb: Table) -> Contender:
    from pymilvus import MilvusClient

    client = MilvusClient(uri)
    name = f"raw{uuid.uuid4().hex[:8]}"
    client.create_collection(name, dimension=emb.dim, metric_type="COSINE", id_type="int")

    def ingest(texts: list[str], metas: list[dict[str, Any]]) -> None:
        rows = [
            {"id": i, "vector": emb.by_text[t], "text": t, **m}
            for i, (t, m) in enumerate(zip(texts, metas, strict=True))
        ]
        for s in range(0, len(rows), 1000):
            client.insert(name, rows[s : s + 1000])

    def query(q: list[float], topic: str) -> list[int]:
        res = client.search(
            name, data=[q], limit=10, filter=f'topic == "{topic}"', output_fields=["i"]
        )
        return [int(h["entity"]["i"]) for h in res[0]]

    return ingest, query


def _bruno_rows(uri: str, emb: Table, method: str) -> Contender:
    from pymilvus import MilvusClient

    from bruno_memory_integrations.backends.milvus import codec
    from bruno_memory_integrations.sansio import drive
    from bruno_memory_integrations.types import Record

    store = open_store(_ours(uri), prefix=f"b{uuid.uuid4().hex[:8]}")
    store.ensure_collection(COLLECTION, emb.dim, "cosine")
    backend: Any = store.backend
    _, qname, ckey = drive(backend._require(COLLECTION), backend.execute)
    client = MilvusClient(uri)
    rows: list[dict[str, Any]] = []

    def ingest(texts: list[str], metas: list[dict[str, Any]]) -> None:
        size = backend.options.batch_size
        for s in range(0, len(rows), size):
            getattr(client, method)(qname, rows[s : s + size])

    def prepare(texts: list[str], metas: list[dict[str, Any]]) -> None:
        vecs = emb.embed_documents(texts)
        rows[:] = [codec.record_row(ckey, Record(str(i), t, v, m))
                   for i, (t, v, m) in enumerate(zip(texts, vecs, metas, strict=True))]

    def query(q: list[float], topic: str) -> list[int]:
        hits = store.search(COLLECTION, q, k=10, filter={"topic": topic})
        return [int(h.record.metadata["i"]) for h in hits]

    ingest.prepare = prepare  # type: ignore[attr-defined]
    return ingest, query


def bruno_rows_upsert(uri: str, emb: Table) -> Contender:
    return _bruno_rows(uri, emb, "upsert")


def bruno_rows_insert(uri: str, emb: Table) -> Contender:
    return _bruno_rows(uri, emb, "insert")


CONTENDERS = {
    "langchain-milvus": official_langchain,
    "bruno LangChain": bruno_langchain,
    "llama-index-vector-stores-milvus": official_llama,
    "bruno LlamaIndex": bruno_llama,
    "pymilvus (raw)": raw_pymilvus,
    "pymilvus, bruno's rows (upsert)": bruno_rows_upsert,
    "pymilvus, bruno's rows (insert)": bruno_rows_insert,
}


def run_engine(
    engine: str, uri_for: Callable[[str], str], texts: list[str], vecs: np.ndarray,
    metas: list[dict[str, Any]], queries: list[tuple[int, str]], truth: list[set[int]],
    rounds: int,
) -> list[tuple[str, str, float, float, float, float]]:
    emb = Table(texts, vecs)
    names = list(CONTENDERS)
    ingests: dict[str, list[float]] = {n: [] for n in names}
    times: dict[str, list[float]] = {n: [] for n in names}
    recalls: dict[str, list[float]] = {n: [] for n in names}
    failed: set[str] = set()
    for r in range(rounds):
        for name in names[r % len(names):] + names[: r % len(names)]:
            if name in failed:
                continue
            try:
                ingest, query = CONTENDERS[name](uri_for(f"{name} {r}"), emb)
                if hasattr(ingest, "prepare"):
                    ingest.prepare(texts, metas)
                began = time.perf_counter()
                ingest(texts, metas)
                ingests[name].append(time.perf_counter() - began)
                for (i, topic), want in zip(queries, truth, strict=True):
                    began = time.perf_counter()
                    got = query(vecs[i].tolist(), topic)
                    times[name].append(time.perf_counter() - began)
                    recalls[name].append(len(set(got) & want) / 10)
            except Exception as exc:  # noqa: BLE001 - a failing integration is reported
                print(f"  {engine} {name} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
                failed.add(name)
                continue
            print(f"  round {r + 1} {engine} {name}: ingest {ingests[name][-1]:.2f} s",
                  file=sys.stderr)
    rows = []
    for name in names:
        if name in failed:
            rows.append((engine, name, float("nan"), float("nan"), float("nan"), float("nan")))
            continue
        ts = sorted(times[name])
        rows.append((engine, name, statistics.median(ingests[name]), statistics.median(ts),
                     ts[min(len(ts) - 1, int(0.95 * len(ts)))], statistics.mean(recalls[name])))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, default=20000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--queries", type=int, default=30)
    ap.add_argument("--engines", default="lite,server")
    ap.add_argument("--url", default=None, help="a Milvus server instead of starting one")
    ap.add_argument("--rounds", type=int, default=2, help="turns every contender takes")
    args = ap.parse_args()
    texts, vecs, metas = data(args.records, args.dim)
    rng = random.Random(7)
    queries = [
        (rng.randrange(args.records), f"t{rng.randrange(TOPICS)}") for _ in range(args.queries)
    ]
    truth = [exact_top(vecs, metas, vecs[i], t) for i, t in queries]
    rows = []
    engines = args.engines.split(",")
    if "lite" in engines:
        tmp = Path(tempfile.mkdtemp(prefix="bench-milvus-lite-"))
        try:
            rows += run_engine(
                "Milvus Lite", lambda name: str(tmp / f"{abs(hash(name))}.db"),
                texts, vecs, metas, queries, truth, args.rounds,
            )
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    if "server" in engines:
        server = None
        url = args.url
        if url is None:
            from servers import MilvusServer

            server = MilvusServer(config={})  # the server's default settings
            server.start()
            url = f"http://127.0.0.1:{server.port}"
        try:
            rows += run_engine(
                "Milvus 2.3 standalone", lambda name: str(url), texts, vecs, metas, queries,
                truth, args.rounds,
            )
        finally:
            if server is not None:
                server.close()
    print(f"\n{args.records} x {args.dim} random unit vectors, filtered top-10 (1/{TOPICS} of "
          f"the records), {args.queries} queries x {args.rounds} rounds\n")
    print("| engine | store | ingest s | ingest vs official | filtered p50 ms | p95 ms | "
          "p50 vs official | recall@10 |")
    print("|---|---|---|---|---|---|---|---|")
    base = {(r[0], r[1]): r for r in rows}
    for engine, name, ingest_s, p50, p95, recall in rows:
        off = "llama-index-vector-stores-milvus" if "Llama" in name or name.startswith(
            "llama") else "langchain-milvus"
        o = base[(engine, off)]
        print(f"| {engine} | {name} | {ingest_s:.2f} | {o[2] / ingest_s:.2f}x | "
              f"{p50 * 1000:.1f} | {p95 * 1000:.1f} | {o[3] / p50:.2f}x | "
              f"{recall:.3f} |")
    print("\n(ingest: median of the rounds; ratios: the official integration's time over this "
          "row's, above 1 is faster; pymilvus rows against langchain-milvus)")


if __name__ == "__main__":
    main()
