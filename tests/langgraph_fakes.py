"""Deterministic offline embeddings for the LangGraph store tests.

Texts sharing character trigrams get close vectors, so "long text" is near
"longer text document" and far from "birds": enough to test ranking, filters
and paging without a model.
"""

from __future__ import annotations

import hashlib
import math

from langchain_core.embeddings import Embeddings


class TrigramEmbeddings(Embeddings):
    """Hashed character trigrams of the lower-cased text, L2-normalised."""

    def __init__(self, dims: int = 256) -> None:
        self.dims = dims

    def _embed(self, text: str) -> list[float]:
        vec = [0.0] * self.dims
        padded = f"  {text.lower()} "
        for i in range(len(padded) - 2):
            gram = padded[i : i + 3].encode("utf-8")
            slot = int.from_bytes(hashlib.blake2b(gram, digest_size=4).digest(), "big")
            vec[slot % self.dims] += 1.0
        norm = math.sqrt(sum(x * x for x in vec))
        if norm == 0:
            vec[0] = 1.0  # the empty text still has a direction
            return vec
        return [x / norm for x in vec]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._embed(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._embed(text)
