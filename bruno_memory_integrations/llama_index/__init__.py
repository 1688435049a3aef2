"""LlamaIndex adapters: vector store, chat store, key-value / document / index stores.

Install with ``pip install 'bruno-memory-integrations[llama-index]'``. Every class
takes a :class:`~bruno_memory_integrations.Store`, a store URL or a driver client,
and works the same on every backend. See docs/llama_index.md.
"""

from __future__ import annotations

from ..errors import MissingDependencyError

try:
    import llama_index.core  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise MissingDependencyError(
        "llama-index-core", "llama-index", "the LlamaIndex adapters"
    ) from exc

from .chat_store import BrunoChatStore
from .filters import to_bruno_filter
from .kv_store import BrunoDocumentStore, BrunoIndexStore, BrunoKVStore
from .vector_store import BrunoVectorStore, node_to_record, record_to_node

__all__ = [
    "BrunoChatStore",
    "BrunoDocumentStore",
    "BrunoIndexStore",
    "BrunoKVStore",
    "BrunoVectorStore",
    "node_to_record",
    "record_to_node",
    "to_bruno_filter",
]
