"""Weaviate backend (``weaviate://``, ``weaviates://``, or a weaviate-client client object).

Vector records in one Weaviate collection per collection, metadata in typed
properties, filters translated to Weaviate's filters, native BM25 and hybrid search,
chat messages and key-value items in two shared collections without vectors, native
asyncio through ``WeaviateAsyncClient``. See docs/backends/weaviate.md.
"""

from .backend import WeaviateBackend

__all__ = ["WeaviateBackend"]
