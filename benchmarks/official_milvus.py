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
out of the measurement); then every contender answers the same filtered top-10
queries (one topic of 17): on Milvus Lite taking turns query by query, on the server
each contender alone, the server emptied after it (``official.run_turns``; a server
keeps working on a contender's segments after its ingest returns). Recall@10 is
measured against exact search (numpy over the filtered records). Prints the median
ingest over the rounds, p50 and p95 over every query of every round, and ratios to
the official integration.

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
import shutil
import sys
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


from official import (  # noqa: E402
    TOPICS,
    Contender,
    Result,
    Table,
    data,
    llama_query,
    nodes,
    print_table,
    queries_and_truth,
    run_turns,
)

from bruno_memory_integrations import open_store  # noqa: E402

COLLECTION = "bench"


# ------------------------------------------------------------------ contenders
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


def bruno_llama(uri: str, emb: Table) -> Contender:
    from bruno_memory_integrations.llama_index import BrunoVectorStore

    store = open_store(_ours(uri), prefix=f"b{uuid.uuid4().hex[:8]}")
    vs = BrunoVectorStore(store, collection=COLLECTION)

    def ingest(texts: list[str], metas: list[dict[str, Any]]) -> None:
        vs.add(nodes(texts, metas, emb))

    def query(q: list[float], topic: str) -> list[int]:
        return [int(n.metadata["i"]) for n in vs.query(llama_query(q, topic)).nodes]

    return ingest, query


def official_llama(uri: str, emb: Table) -> Contender:
    from llama_index.vector_stores.milvus import MilvusVectorStore

    vs = MilvusVectorStore(
        uri=uri, collection_name=f"li{uuid.uuid4().hex[:8]}", dim=emb.dim, overwrite=True
    )

    def ingest(texts: list[str], metas: list[dict[str, Any]]) -> None:
        vs.add(nodes(texts, metas, emb))

    def query(q: list[float], topic: str) -> list[int]:
        return [int(n.metadata["i"]) for n in vs.query(llama_query(q, topic)).nodes]

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
    label: str, uri_for: Callable[[str], str], texts: list[str], vecs: np.ndarray,
    metas: list[dict[str, Any]], queries: list[tuple[int, str]], truth: list[set[int]],
    rounds: int, isolate: Callable[[], None] | None = None,
) -> dict[str, Result]:
    emb = Table(texts, vecs)
    makers = {name: (lambda r, name=name, make=make: make(uri_for(f"{name} {r}"), emb))
              for name, make in CONTENDERS.items()}
    return run_turns(makers, texts, vecs, metas, queries, truth, rounds, label=f"{label}: ",
                     isolate=isolate)


def _emptier(url: str) -> Callable[[], None]:
    """Drops every collection of a server: the next contender starts on an idle engine.

    A server keeps sealing, flushing and indexing a contender's segments after its
    ingest returns; that work landed on whichever contender came next (measured: our
    ingest took 2.7-3.8 s on a fresh server and 9.4-11.3 s after the others').
    """
    from pymilvus import MilvusClient

    def empty() -> None:
        client = MilvusClient(uri=url)
        try:
            for name in client.list_collections():
                client.drop_collection(name)
        finally:
            client.close()

    return empty


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
    queries, truth = queries_and_truth(vecs, metas, args.queries)
    tables: list[tuple[str | None, dict[str, Result]]] = []
    engines = args.engines.split(",")
    if "lite" in engines:
        tmp = Path(tempfile.mkdtemp(prefix="bench-milvus-lite-"))
        try:
            tables.append(("Milvus Lite", run_engine(
                "Milvus Lite", lambda name: str(tmp / f"{abs(hash(name))}.db"),
                texts, vecs, metas, queries, truth, args.rounds,
            )))
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
            tables.append(("Milvus 2.3 standalone", run_engine(
                "Milvus 2.3 standalone", lambda name: str(url), texts, vecs, metas, queries,
                truth, args.rounds, isolate=_emptier(str(url)),
            )))
        finally:
            if server is not None:
                server.close()
    print(f"\n{args.records} x {args.dim} random unit vectors, filtered top-10 (1/{TOPICS} of "
          f"the records), {args.queries} queries x {args.rounds} rounds\n")
    print_table(tables, lambda name: "llama-index-vector-stores-milvus"
                if "Llama" in name or name.startswith("llama") else "langchain-milvus")
    print("(pymilvus rows against langchain-milvus)")


if __name__ == "__main__":
    main()
