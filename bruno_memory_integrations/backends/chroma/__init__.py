"""Chroma backend (embedded ``chroma:///dir``, servers ``chroma+http://`` / ``chroma+https://``).

Vector records in one Chroma collection per collection, metadata filters over
generated fields (exact, or refused), exact keyword search over a word document,
chat messages and key-value items in collections of their own, native async with
``AsyncHttpClient`` on a server. See docs/backends/chroma.md.
"""

from .backend import ChromaBackend

__all__ = ["ChromaBackend"]
