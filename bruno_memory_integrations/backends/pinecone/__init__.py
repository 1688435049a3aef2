"""Pinecone backend (``pinecone://INDEX_HOST``, or a Pinecone / Index / IndexAsyncio object).

One Pinecone index holds everything: each vector collection is a Pinecone
namespace, a catalog namespace remembers what each collection was created with,
chat messages and key-value items are records in namespaces of their own with a
constant vector. Metadata is checked against Pinecone's limits before anything is
sent; filters are translated to Pinecone's filter language through the negation
normal form. See docs/backends/pinecone.md.
"""

from .backend import PineconeBackend

__all__ = ["PineconeBackend"]
