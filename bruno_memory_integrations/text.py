"""Keyword-search semantics shared by every backend (see docs/architecture.md).

A record matches a keyword query when its text contains every word of the query,
compared case-insensitively, where a word is a run of Unicode letters and digits.
No stemming and no stop words, so the same query finds the same records in every
store. Relevance order is the store's own (BM25, ts_rank, ...).
"""

from __future__ import annotations

import re

__all__ = ["keyword_relevance", "tokenize"]

_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def tokenize(text: str) -> list[str]:
    """Lower-cased words of ``text``."""
    return [w.lower() for w in _WORD.findall(text)]


def keyword_relevance(query: str, text: str) -> float:
    """The reference relevance: 0 when a query word is missing, else a TF score."""
    terms = set(tokenize(query))
    if not terms:
        return 0.0
    words = tokenize(text)
    counts = dict.fromkeys(terms, 0)
    for w in words:
        if w in counts:
            counts[w] += 1
    if not all(counts.values()):
        return 0.0
    return sum(counts.values()) / (len(words) ** 0.5)
