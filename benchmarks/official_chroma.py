"""Our LangChain and LlamaIndex adapters on Chroma against the official integrations.

Run on demand (never in tests):

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python benchmarks/official_chroma.py [--records 20000] [--dim 384] [--queries 30]
        [--rounds 2]
    .venv/bin/python benchmarks/official_chroma.py --server   # a `chroma run` server

Everything runs in one process on the same engine: embedded Chroma
(``PersistentClient`` on a fresh directory, on tmpfs when there is one), or with
``--server`` a ``chroma run`` server started here (``--url`` names one of yours).
Each contender gets a collection of its own on that engine, ingests the same
records with precomputed vectors (random unit vectors: the embedding model is out
of the measurement), then answers the same filtered top-10 queries. Recall@10 is
measured against exact search (numpy over the filtered records). Contenders take
turns: each round measures every one of them, in an order rotated by one each
round, so load from elsewhere on a shared machine falls on all of them. Prints the
median ingest over the rounds, p50 and p95 over every query of every round, and
ratios to the official integration of the same framework.

* ``langchain-chroma``: ``Chroma.add_texts`` of everything at once, as a user calls
  it; when Chroma refuses the batch the row says so, and the next row is the
  workaround its users write (``add_texts`` per slice of ``get_max_batch_size()``).
* ``bruno LangChain``: ``BrunoVectorStore.add_texts`` / ``similarity_search_by_vector``.
* ``llama-index-vector-stores-chroma``: ``ChromaVectorStore.add`` / ``query`` defaults.
* ``bruno LlamaIndex``: ``BrunoVectorStore.add`` / ``query``.
* ``raw chromadb``: ``collection.add`` per slice of the maximum batch, ``query`` with
  ``where`` (the floor: no integration at all).
* ``raw chromadb, bruno's entries``: the entries this package writes (metadata with
  the generated filter fields, word document, exact float32 bytes), built before
  the clock starts, sent with ``upsert`` per slice of the maximum batch: the
  engine's cost of our entries, the floor of our ingest. Queried through
  ``Store.search``.
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


def _name(tag: str) -> str:
    return f"{tag}{uuid.uuid4().hex[:8]}"


def bruno_langchain(client: Any, emb: Table) -> Contender:
    from bruno_memory_integrations.langchain import BrunoVectorStore

    store = open_store(client, prefix=_name("b"))
    vs = BrunoVectorStore(emb, store, collection=COLLECTION)

    def ingest(texts: list[str], metas: list[dict[str, Any]]) -> None:
        vs.add_texts(texts, metas, ids=[str(i) for i in range(len(texts))])

    def query(q: list[float], topic: str) -> list[int]:
        docs = vs.similarity_search_by_vector(q, k=10, filter={"topic": topic})
        return [int(d.metadata["i"]) for d in docs]

    return ingest, query


def _official_lc(client: Any, emb: Table, sliced: bool) -> Contender:
    from langchain_chroma import Chroma

    vs = Chroma(
        collection_name=_name("lc"),
        embedding_function=emb,
        client=client,
        collection_metadata={"hnsw:space": "cosine"},
    )

    def ingest(texts: list[str], metas: list[dict[str, Any]]) -> None:
        ids = [str(i) for i in range(len(texts))]
        if not sliced:
            vs.add_texts(texts, metas, ids=ids)
            return
        size = client.get_max_batch_size()
        for i in range(0, len(texts), size):
            vs.add_texts(texts[i : i + size], metas[i : i + size], ids=ids[i : i + size])

    def query(q: list[float], topic: str) -> list[int]:
        docs = vs.similarity_search_by_vector(q, k=10, filter={"topic": topic})
        return [int(d.metadata["i"]) for d in docs]

    return ingest, query


def official_langchain(client: Any, emb: Table) -> Contender:
    return _official_lc(client, emb, sliced=False)


def official_langchain_sliced(client: Any, emb: Table) -> Contender:
    return _official_lc(client, emb, sliced=True)


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


def bruno_llama(client: Any, emb: Table) -> Contender:
    from bruno_memory_integrations.llama_index import BrunoVectorStore

    store = open_store(client, prefix=_name("b"))
    vs = BrunoVectorStore(store, collection=COLLECTION)

    def ingest(texts: list[str], metas: list[dict[str, Any]]) -> None:
        vs.add(_nodes(texts, metas, emb))

    def query(q: list[float], topic: str) -> list[int]:
        return [int(n.metadata["i"]) for n in vs.query(_li_query(q, topic)).nodes]

    return ingest, query


def official_llama(client: Any, emb: Table) -> Contender:
    from llama_index.vector_stores.chroma import ChromaVectorStore

    col = client.get_or_create_collection(
        _name("li"), embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
    )
    vs = ChromaVectorStore(chroma_collection=col)

    def ingest(texts: list[str], metas: list[dict[str, Any]]) -> None:
        vs.add(_nodes(texts, metas, emb))

    def query(q: list[float], topic: str) -> list[int]:
        return [int(n.metadata["i"]) for n in vs.query(_li_query(q, topic)).nodes]

    return ingest, query


def raw_chromadb(client: Any, emb: Table) -> Contender:
    col = client.get_or_create_collection(
        _name("raw"), embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
    )

    def ingest(texts: list[str], metas: list[dict[str, Any]]) -> None:
        size = client.get_max_batch_size()
        vecs = emb.embed_documents(texts)
        for i in range(0, len(texts), size):
            col.add(
                ids=[str(j) for j in range(i, min(i + size, len(texts)))],
                embeddings=vecs[i : i + size],
                metadatas=metas[i : i + size],
                documents=texts[i : i + size],
            )

    def query(q: list[float], topic: str) -> list[int]:
        reply = col.query(query_embeddings=[q], n_results=10, where={"topic": topic})
        return [int(m["i"]) for m in reply["metadatas"][0]]

    return ingest, query


def bruno_entries(client: Any, emb: Table) -> Contender:
    from bruno_memory_integrations.backends.chroma import codec
    from bruno_memory_integrations.types import Record

    store = open_store(client, prefix=_name("b"))
    store.ensure_collection(COLLECTION, emb.dim, "cosine")
    col = client.get_collection(store.backend._cname(COLLECTION))  # type: ignore[attr-defined]
    batch: dict[str, Any] = {}

    def ingest(texts: list[str], metas: list[dict[str, Any]]) -> None:
        size = client.get_max_batch_size()
        for i in range(0, len(texts), size):
            col.upsert(**{k: v[i : i + size] for k, v in batch.items()})

    def prepare(texts: list[str], metas: list[dict[str, Any]]) -> None:
        vecs = emb.embed_documents(texts)
        entries = [codec.encode_record(Record(str(i), t, v, m), "cosine")
                   for i, (t, v, m) in enumerate(zip(texts, vecs, metas, strict=True))]
        batch.update(ids=[str(i) for i in range(len(texts))], embeddings=vecs,
                     metadatas=[e[0] for e in entries], documents=[e[1] for e in entries])

    def query(q: list[float], topic: str) -> list[int]:
        hits = store.search(COLLECTION, q, k=10, filter={"topic": topic})
        return [int(h.record.metadata["i"]) for h in hits]

    ingest.prepare = prepare  # type: ignore[attr-defined]
    return ingest, query


CONTENDERS: dict[str, tuple[str, Callable[..., Contender]]] = {
    # name: (the official row its ratios are against, factory)
    "langchain-chroma": ("langchain-chroma", official_langchain),
    "langchain-chroma, sliced by hand": ("langchain-chroma, sliced by hand",
                                         official_langchain_sliced),
    "bruno LangChain": ("langchain-chroma, sliced by hand", bruno_langchain),
    "llama-index-vector-stores-chroma": ("llama-index-vector-stores-chroma", official_llama),
    "bruno LlamaIndex": ("llama-index-vector-stores-chroma", bruno_llama),
    "raw chromadb": ("raw chromadb", raw_chromadb),
    "raw chromadb, bruno's entries": ("raw chromadb", bruno_entries),
}


def make_client(args: argparse.Namespace) -> tuple[Any, str, Callable[[], None]]:
    import chromadb
    from chromadb.config import Settings

    settings = Settings(anonymized_telemetry=False)
    if args.url or args.server:
        server = None
        url = args.url
        if url is None:
            from servers import ChromaServer

            server = ChromaServer().start()
            url = f"http://{server.host}:{server.port}"
        host, port = url.split("://", 1)[1].rsplit(":", 1)
        client = chromadb.HttpClient(host=host, port=int(port), settings=settings)

        def done() -> None:
            client.close()
            if server is not None:
                server.close()

        return client, f"Chroma server (chroma run, {chromadb.__version__}) at {url}", done
    from servers import temp_root

    path = tempfile.mkdtemp(prefix="bruno-bench-chroma-", dir=temp_root())
    client = chromadb.PersistentClient(path=path, settings=settings)

    def cleanup() -> None:
        client.close()
        shutil.rmtree(path, ignore_errors=True)

    return client, f"embedded Chroma {chromadb.__version__} (PersistentClient on {path})", cleanup


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, default=20000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--queries", type=int, default=30)
    ap.add_argument("--server", action="store_true", help="start a chroma run server")
    ap.add_argument("--url", default=None, help="http://host:port of a Chroma server")
    ap.add_argument("--only", default=None, help="comma-separated contender names")
    ap.add_argument("--rounds", type=int, default=2, help="turns every contender takes")
    args = ap.parse_args()
    texts, vecs, metas = data(args.records, args.dim)
    emb = Table(texts, vecs)
    rng = random.Random(7)
    queries = [
        (rng.randrange(args.records), f"t{rng.randrange(TOPICS)}") for _ in range(args.queries)
    ]
    truth = [exact_top(vecs, metas, vecs[i], t) for i, t in queries]
    client, engine, done = make_client(args)
    rows: dict[str, tuple[float, float, float, float] | str] = {}
    names = [n for n in CONTENDERS if n in (set(args.only.split(",")) if args.only
                                            else set(CONTENDERS))]
    ingests: dict[str, list[float]] = {n: [] for n in names}
    times: dict[str, list[float]] = {n: [] for n in names}
    recalls: dict[str, list[float]] = {n: [] for n in names}
    try:
        for r in range(args.rounds):
            for name in names[r % len(names):] + names[: r % len(names)]:
                if isinstance(rows.get(name), str):
                    continue
                ingest, query = CONTENDERS[name][1](client, emb)
                if hasattr(ingest, "prepare"):
                    ingest.prepare(texts, metas)
                began = time.perf_counter()
                try:
                    ingest(texts, metas)
                except Exception as exc:  # noqa: BLE001 - the failure is the result
                    rows[name] = f"fails: {type(exc).__name__}: {str(exc)[:90]}"
                    print(f"  {name}: {rows[name]}", file=sys.stderr)
                    continue
                ingests[name].append(time.perf_counter() - began)
                for (i, topic), want in zip(queries, truth, strict=True):
                    began = time.perf_counter()
                    got = query(vecs[i].tolist(), topic)
                    times[name].append(time.perf_counter() - began)
                    recalls[name].append(len(set(got) & want) / 10)
                print(f"  round {r + 1} {name}: ingest {ingests[name][-1]:.2f} s",
                      file=sys.stderr)
    finally:
        done()
    for name in names:
        if isinstance(rows.get(name), str) or not ingests[name]:
            continue
        ts = sorted(times[name])
        rows[name] = (statistics.median(ingests[name]), statistics.median(ts),
                      ts[min(len(ts) - 1, int(0.95 * len(ts)))], statistics.mean(recalls[name]))
    rows = {n: rows[n] for n in names if n in rows}
    print(f"\n{args.records} x {args.dim} random unit vectors, filtered top-10 (1/{TOPICS} of "
          f"the records), {args.queries} queries x {args.rounds} rounds, engine: {engine}\n")
    print("| store | ingest s | ingest vs official | filtered p50 ms | p95 ms | "
          "p50 vs official | recall@10 |")
    print("|---|---|---|---|---|---|---|")
    for name, row in rows.items():
        if isinstance(row, str):
            print(f"| {name} | {row} | | | | | |")
            continue
        ingest_s, p50, p95, recall = row
        base = rows.get(CONTENDERS[name][0])
        vs_ingest = vs_p50 = "n/a"
        if isinstance(base, tuple):
            vs_ingest = f"{base[0] / ingest_s:.2f}x"
            vs_p50 = f"{base[1] / p50:.2f}x"
        print(f"| {name} | {ingest_s:.2f} | {vs_ingest} | {p50 * 1000:.1f} | "
              f"{p95 * 1000:.1f} | {vs_p50} | {recall:.3f} |")
    print("\n(ingest: median of the rounds; ratios: the official time over this row's, above 1 "
          "is faster)")


if __name__ == "__main__":
    main()
