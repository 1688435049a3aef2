"""The ``bruno-memory`` command.

``bruno-memory demo`` is the main job: it loads the bundled corpus into the default
SQLite store and shows, offline, a LangChain retrieval with a filter, a chat-history
round trip, and a LlamaIndex ``VectorStoreIndex`` query over the same store.
``bruno-memory info URL`` prints a store's backend, capabilities and collections.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from importlib import resources
from typing import Any

from . import open_store

DEFAULT_DB = "bruno_demo.db"
COLLECTION = "demo_docs"


def load_corpus() -> list[dict[str, Any]]:
    """The bundled demo corpus: short documents with topic, year and source metadata."""
    text = (
        resources.files("bruno_memory_integrations")
        .joinpath("data/corpus.jsonl")
        .read_text("utf-8")
    )
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _rule(title: str) -> None:
    print(f"\n== {title} " + "=" * max(0, 68 - len(title)))


def _clip(text: str, width: int = 78) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def run_demo(url: str, reset: bool = False) -> int:
    from langchain_core.documents import Document
    from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
    from llama_index.core import VectorStoreIndex

    from .embeddings import default_embeddings, embedding_model_name
    from .embeddings.llama_index import to_llama_index_embedding
    from .langchain import BrunoChatMessageHistory, BrunoVectorStore
    from .llama_index import BrunoVectorStore as LlamaVectorStore

    started = time.perf_counter()
    store = open_store(url)
    try:
        emb = default_embeddings()
        _rule("Store")
        print(f"store      : {url}  (backend: {store.backend_name})")
        print(f"embeddings : {embedding_model_name(emb)}")
        if reset:
            store.drop_collection(COLLECTION)

        # 1. Load the corpus through the LangChain adapter (upsert by id: re-runs replace).
        corpus = load_corpus()
        lc = BrunoVectorStore(emb, store=store, collection=COLLECTION)
        docs = [
            Document(page_content=d["text"], metadata=d["metadata"], id=d["id"]) for d in corpus
        ]
        t0 = time.perf_counter()
        lc.add_documents(docs)
        print(
            f"loaded     : {len(docs)} documents into collection {COLLECTION!r} "
            f"in {time.perf_counter() - t0:.1f} s; it holds {store.count(COLLECTION)} records"
        )

        # 2. LangChain retrieval with a metadata filter.
        _rule("LangChain: similarity search with a filter")
        question = "How do plants make their food?"
        flt = {"topic": {"$in": ["biology", "cooking"]}, "year": {"$gte": 2019}}
        print(f"query  : {question}\nfilter : {json.dumps(flt)}")
        for doc, score in lc.similarity_search_with_score(question, k=3, filter=flt):
            md = doc.metadata
            print(f"  {score:.3f}  [{md['topic']}, {md['year']}] {_clip(doc.page_content, 60)}")
        retriever = lc.as_retriever(search_kwargs={"k": 2, "filter": {"topic": "astronomy"}})
        print("retriever (topic = astronomy) for 'what is at the centre of the solar system?':")
        for doc in retriever.invoke("what is at the centre of the solar system?"):
            print(f"  - {_clip(doc.page_content, 74)}")

        # 3. Chat history round trip, including a tool call.
        _rule("LangChain: chat history round trip")
        history = BrunoChatMessageHistory("demo-session", store=store)
        history.clear()
        history.add_messages(
            [
                HumanMessage("Which planet is the largest?", id="m1"),
                AIMessage(
                    "",
                    id="m2",
                    tool_calls=[
                        {"name": "search_docs", "args": {"query": "largest planet"}, "id": "call-1"}
                    ],
                ),
                ToolMessage("Jupiter is the largest planet.", tool_call_id="call-1", id="m3"),
                AIMessage("Jupiter, a gas giant.", id="m4"),
            ]
        )
        again = BrunoChatMessageHistory("demo-session", store=store)
        for m in again.messages:
            extra = (
                f" tool_calls={[c['name'] for c in m.tool_calls]}"
                if isinstance(m, AIMessage) and m.tool_calls
                else ""
            )
            print(f"  {m.type:>5}: {m.content or '(no text)'}{extra}")
        same = [m.model_dump() for m in again.messages] == [
            m.model_dump() for m in history.messages
        ]
        print(
            f"read back by a new history object: {len(again.messages)} messages, identical: {same}"
        )

        # 4. LlamaIndex over the same collection.
        _rule("LlamaIndex: VectorStoreIndex over the same store")
        li_store = LlamaVectorStore(store=store, collection=COLLECTION)
        index = VectorStoreIndex.from_vector_store(
            li_store, embed_model=to_llama_index_embedding(emb)
        )
        li_question = "Who first landed on the Moon?"
        print(f"query  : {li_question}")
        for hit in index.as_retriever(similarity_top_k=3).retrieve(li_question):
            md = hit.node.metadata
            text = _clip(hit.node.get_content(), 60)
            print(f"  {hit.score:.3f}  [{md.get('topic')}, {md.get('year')}] {text}")

        if store.capabilities.hybrid_search:
            _rule("Hybrid search (vector + keyword, reciprocal rank fusion)")
            q = "Maillard reaction"
            print(f"query  : {q}")
            for res in store.hybrid_search(COLLECTION, q, emb.embed_query(q), k=2):
                print(f"  {res.score:.3f}  {_clip(res.record.text, 70)}")
        print(f"\ndone in {time.perf_counter() - started:.1f} s")
        return 0
    finally:
        store.close()


def run_info(url: str) -> int:
    store = open_store(url)
    try:
        print(f"backend      : {store.backend_name}")
        caps = store.capabilities.as_dict()
        print("capabilities : " + ", ".join(f"{k}={v}" for k, v in caps.items()))
        for name in store.list_collections():
            info = store.collection_info(name)
            print(f"collection   : {name!r} {store.count(name)} records, {info}")
        return 0
    finally:
        store.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bruno-memory", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="load the bundled corpus and show both frameworks, offline")
    demo.add_argument(
        "--url", default=f"sqlite:///{DEFAULT_DB}", help="store URL (default: %(default)s)"
    )
    demo.add_argument("--reset", action="store_true", help="drop the demo collection first")
    info = sub.add_parser("info", help="show a store's backend, capabilities and collections")
    info.add_argument("url")
    args = parser.parse_args(argv)
    if args.command == "demo":
        return run_demo(args.url, args.reset)
    return run_info(args.url)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
