"""LangGraph on every backend: a checkpointer (short-term, per-thread state) and a
long-term ``BaseStore`` with semantic search, both over one
:class:`~bruno_memory_integrations.Store`.

Needs the ``langgraph`` extra: ``pip install 'bruno-memory-integrations[langgraph]'``.
See docs/langgraph.md.
"""

from .checkpoint import BrunoCheckpointSaver
from .long_term import BrunoStore

__all__ = ["BrunoCheckpointSaver", "BrunoStore"]
