"""Our LangChain and LlamaIndex adapters on Qdrant against the official integrations.

Run on demand (never in tests):

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python benchmarks/official_qdrant.py [--records 20000] [--dim 384] [--queries 30]
        [--rounds 2]

Everything runs in one process on the same engine: qdrant-client's local mode in
memory (Qdrant's Python emulation: no Qdrant server can run here; with
``--url http://host:6333`` every store uses that server instead). Each contender
gets a fresh engine and ingests the same records with precomputed vectors (random
unit vectors; the embedding model is out of the measurement); then every contender
answers the same filtered top-10 queries, taking turns query by query
(``official.run_turns``). Recall@10 is measured against exact search (numpy over the
filtered records). Prints medians over the rounds (ingest), p50 and p95 over every
query of every round, and ratios to the official integration.

* ``bruno LangChain``: ``BrunoVectorStore.add_texts`` / ``similarity_search_by_vector``.
* ``langchain-qdrant``: ``QdrantVectorStore`` defaults (``add_texts`` in batches of 64).
* ``bruno LlamaIndex``: ``BrunoVectorStore.add`` / ``query``.
* ``llama-index-vector-stores-qdrant``: ``QdrantVectorStore`` defaults.
* ``qdrant-client (raw)``: the writes langchain-qdrant makes (``upsert`` of 64
  points with a ``page_content`` and ``metadata`` payload), without LangChain;
  ``query_points`` with the same filter.
* ``qdrant-client, bruno's points``: the points this package writes, built before
  the clock starts, sent with ``upsert`` in its batches (256): the engine's cost of
  our payload (filter fields, word list, sparse word vector, exact float32 bytes),
  the floor of our ingest. Queried through ``Store.search``.
"""

from __future__ import annotations

import argparse
import sys
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from official import (  # noqa: E402
    TOPICS,
    Contender,
    Table,
    data,
    llama_query,
    nodes,
    print_table,
    queries_and_truth,
    run_turns,
)
from qdrant_client import QdrantClient, models  # noqa: E402

from bruno_memory_integrations import open_store  # noqa: E402

COLLECTION = "bench"


def client(url: str | None) -> QdrantClient:
    return QdrantClient(url=url) if url else QdrantClient(location=":memory:")


# ------------------------------------------------------------------ contenders
def bruno_langchain(url: str | None, emb: Table) -> Contender:
    from bruno_memory_integrations.langchain import BrunoVectorStore

    prefix = f"b{uuid.uuid4().hex[:8]}"
    store = open_store(client(url), prefix=prefix)
    vs = BrunoVectorStore(emb, store, collection=COLLECTION)

    def ingest(texts: list[str], metas: list[dict[str, Any]]) -> None:
        vs.add_texts(texts, metas, ids=[str(i) for i in range(len(texts))])

    def query(q: list[float], topic: str) -> list[int]:
        docs = vs.similarity_search_by_vector(q, k=10, filter={"topic": topic})
        return [int(d.metadata["i"]) for d in docs]

    return ingest, query


def official_langchain(url: str | None, emb: Table) -> Contender:
    from langchain_qdrant import QdrantVectorStore

    c = client(url)
    name = f"lc{uuid.uuid4().hex[:8]}"
    dim = len(next(iter(emb.by_text.values())))
    params = models.VectorParams(size=dim, distance=models.Distance.COSINE)
    c.create_collection(name, vectors_config=params)
    vs = QdrantVectorStore(client=c, collection_name=name, embedding=emb)

    def ingest(texts: list[str], metas: list[dict[str, Any]]) -> None:
        vs.add_texts(texts, metas)

    def query(q: list[float], topic: str) -> list[int]:
        flt = models.Filter(must=[models.FieldCondition(
            key="metadata.topic", match=models.MatchValue(value=topic))])
        docs = vs.similarity_search_by_vector(q, k=10, filter=flt)
        return [int(d.metadata["i"]) for d in docs]

    return ingest, query


def bruno_llama(url: str | None, emb: Table) -> Contender:
    from bruno_memory_integrations.llama_index import BrunoVectorStore

    store = open_store(client(url), prefix=f"b{uuid.uuid4().hex[:8]}")
    vs = BrunoVectorStore(store, collection=COLLECTION)

    def ingest(texts: list[str], metas: list[dict[str, Any]]) -> None:
        vs.add(nodes(texts, metas, emb))

    def query(q: list[float], topic: str) -> list[int]:
        return [int(n.metadata["i"]) for n in vs.query(llama_query(q, topic)).nodes]

    return ingest, query


def official_llama(url: str | None, emb: Table) -> Contender:
    from llama_index.vector_stores.qdrant import QdrantVectorStore

    vs = QdrantVectorStore(client=client(url), collection_name=f"li{uuid.uuid4().hex[:8]}")

    def ingest(texts: list[str], metas: list[dict[str, Any]]) -> None:
        vs.add(nodes(texts, metas, emb))

    def query(q: list[float], topic: str) -> list[int]:
        return [int(n.metadata["i"]) for n in vs.query(llama_query(q, topic)).nodes]

    return ingest, query


def raw_client(url: str | None, emb: Table) -> Contender:
    c = client(url)
    name = f"raw{uuid.uuid4().hex[:8]}"
    dim = len(next(iter(emb.by_text.values())))
    params = models.VectorParams(size=dim, distance=models.Distance.COSINE)
    c.create_collection(name, vectors_config=params)

    def ingest(texts: list[str], metas: list[dict[str, Any]]) -> None:
        vecs = emb.embed_documents(texts)
        for s in range(0, len(texts), 64):
            c.upsert(name, points=[
                models.PointStruct(id=str(uuid.UUID(int=i)), vector=vecs[i],
                                   payload={"page_content": texts[i], "metadata": metas[i]})
                for i in range(s, min(s + 64, len(texts)))
            ])

    def query(q: list[float], topic: str) -> list[int]:
        flt = models.Filter(must=[models.FieldCondition(
            key="metadata.topic", match=models.MatchValue(value=topic))])
        reply = c.query_points(name, query=q, query_filter=flt, limit=10, with_payload=True)
        return [int(p.payload["metadata"]["i"]) for p in reply.points]  # type: ignore[index]

    return ingest, query


def bruno_points(url: str | None, emb: Table) -> Contender:
    from bruno_memory_integrations.backends.qdrant import codec
    from bruno_memory_integrations.types import Record

    c = client(url)
    store = open_store(c, prefix=f"b{uuid.uuid4().hex[:8]}")
    dim = len(next(iter(emb.by_text.values())))
    store.ensure_collection(COLLECTION, dim, "cosine")
    qname = store.backend._qname(COLLECTION)  # type: ignore[attr-defined]
    keyword = store.backend.options.keyword_search  # type: ignore[attr-defined]
    points: list[Any] = []

    def ingest(texts: list[str], metas: list[dict[str, Any]]) -> None:
        size = store.backend.options.batch_size  # type: ignore[attr-defined]
        for s in range(0, len(points), size):
            c.upsert(qname, points=points[s : s + size], wait=True)

    def prepare(texts: list[str], metas: list[dict[str, Any]]) -> None:
        vecs = emb.embed_documents(texts)
        points[:] = [codec.record_point(Record(str(i), t, v, m), "cosine", keyword)
                     for i, (t, v, m) in enumerate(zip(texts, vecs, metas, strict=True))]

    def query(q: list[float], topic: str) -> list[int]:
        hits = store.search(COLLECTION, q, k=10, filter={"topic": topic})
        return [int(h.record.metadata["i"]) for h in hits]

    ingest.prepare = prepare  # type: ignore[attr-defined]
    return ingest, query


CONTENDERS = {
    "langchain-qdrant": official_langchain,
    "bruno LangChain": bruno_langchain,
    "llama-index-vector-stores-qdrant": official_llama,
    "bruno LlamaIndex": bruno_llama,
    "qdrant-client (raw)": raw_client,
    "qdrant-client, bruno's points": bruno_points,
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, default=20000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--queries", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=2, help="turns every contender takes")
    ap.add_argument("--url", default=None, help="a Qdrant server instead of local mode")
    args = ap.parse_args()
    texts, vecs, metas = data(args.records, args.dim)
    emb = Table(texts, vecs)
    queries, truth = queries_and_truth(vecs, metas, args.queries)
    makers = {name: (lambda r, make=make: make(args.url, emb)) for name, make in CONTENDERS.items()}
    results = run_turns(makers, texts, vecs, metas, queries, truth, args.rounds)
    engine = args.url or "qdrant-client local mode (:memory:)"
    print(f"\n{args.records} x {args.dim} random unit vectors, filtered top-10 (1/{TOPICS} of "
          f"the records), {args.queries} queries x {args.rounds} rounds, engine: {engine}\n")
    print_table([(None, results)], lambda name: "llama-index-vector-stores-qdrant"
                if "Llama" in name or name.startswith("llama") else "langchain-qdrant")


if __name__ == "__main__":
    main()
