"""Our LangChain and LlamaIndex adapters on Chroma against the official integrations.

Run on demand (never in tests):

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python benchmarks/official_chroma.py [--records 20000] [--dim 384] [--queries 30]
        [--rounds 2]
    .venv/bin/python benchmarks/official_chroma.py --server   # a `chroma run` server

Everything runs in one process on the same engine: embedded Chroma
(``PersistentClient`` on a fresh directory, on tmpfs when there is one), or with
``--server`` a ``chroma run`` server started here (``--url`` names one of yours).
Each contender gets a collection of its own on that engine and ingests the same
records with precomputed vectors (random unit vectors: the embedding model is out
of the measurement); then answers the same filtered top-10 queries, alone on the engine
(``official.run_turns`` with ``isolate``: Chroma's metadata index spans every
collection, so another contender's collection would slow this one's filter). Recall@10
is measured against exact search (numpy over the filtered records). Prints the
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
import shutil
import sys
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


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

from bruno_memory_integrations import open_store  # noqa: E402

COLLECTION = "bench"


# ------------------------------------------------------------------ contenders
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


def bruno_llama(client: Any, emb: Table) -> Contender:
    from bruno_memory_integrations.llama_index import BrunoVectorStore

    store = open_store(client, prefix=_name("b"))
    vs = BrunoVectorStore(store, collection=COLLECTION)

    def ingest(texts: list[str], metas: list[dict[str, Any]]) -> None:
        vs.add(nodes(texts, metas, emb))

    def query(q: list[float], topic: str) -> list[int]:
        return [int(n.metadata["i"]) for n in vs.query(llama_query(q, topic)).nodes]

    return ingest, query


def official_llama(client: Any, emb: Table) -> Contender:
    from llama_index.vector_stores.chroma import ChromaVectorStore

    col = client.get_or_create_collection(
        _name("li"), embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
    )
    vs = ChromaVectorStore(chroma_collection=col)

    def ingest(texts: list[str], metas: list[dict[str, Any]]) -> None:
        vs.add(nodes(texts, metas, emb))

    def query(q: list[float], topic: str) -> list[int]:
        return [int(n.metadata["i"]) for n in vs.query(llama_query(q, topic)).nodes]

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
    queries, truth = queries_and_truth(vecs, metas, args.queries)
    client, engine, done = make_client(args)
    wanted = set(args.only.split(",")) if args.only else set(CONTENDERS)
    makers = {name: (lambda r, make=make: make(client, emb))
              for name, (_, make) in CONTENDERS.items() if name in wanted}
    try:
        def isolate() -> None:  # Chroma's metadata index spans every collection: start empty
            for col in client.list_collections():
                client.delete_collection(col.name if hasattr(col, "name") else col)

        results = run_turns(makers, texts, vecs, metas, queries, truth, args.rounds,
                            isolate=isolate)
    finally:
        done()
    print(f"\n{args.records} x {args.dim} random unit vectors, filtered top-10 (1/{TOPICS} of "
          f"the records), {args.queries} queries x {args.rounds} rounds, engine: {engine}\n")
    print_table([(None, results)], lambda name: CONTENDERS[name][0])


if __name__ == "__main__":
    main()
