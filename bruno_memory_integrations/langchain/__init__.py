"""LangChain adapters: a vector store, a chat message history and a byte store.

Each class is a thin translation between LangChain's types and one
:class:`~bruno_memory_integrations.Store`, so the same data is reachable from
LlamaIndex and from plain Python, on every backend::

    from bruno_memory_integrations.langchain import (
        BrunoByteStore,
        BrunoChatMessageHistory,
        BrunoVectorStore,
    )

    vectors = BrunoVectorStore(embeddings, store="sqlite:///memory.db")
    history = BrunoChatMessageHistory("session-1", store=vectors.store)
    cache = BrunoByteStore(store=vectors.store)

Importing this module imports ``langchain_core`` (the ``langchain`` extra) and
no database driver; without ``langchain_core`` it raises
:class:`~bruno_memory_integrations.MissingDependencyError` naming the extra.
See docs/langchain.md.
"""

from __future__ import annotations

from ..errors import MissingDependencyError

try:
    import langchain_core  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise MissingDependencyError(
        "langchain-core", "langchain", "the LangChain adapters"
    ) from exc

from .byte_store import BrunoByteStore
from .chat_history import BrunoChatMessageHistory
from .vectorstore import BrunoVectorStore

__all__ = ["BrunoByteStore", "BrunoChatMessageHistory", "BrunoVectorStore"]
