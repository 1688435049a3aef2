"""What the ``official_*.py`` benchmarks share: the data, the exact truth, the contenders'
turns and the table.

Each script names its contenders: a function per contender that makes a fresh
collection on the engine and returns ``(ingest, query)``. :func:`run_turns` measures
them all on the same engine, in rounds. Every contender ingests the same records
(precomputed vectors: the embedding model is out of the measurement) into a
collection of its own, in an order rotated by one each round, then answers the same
filtered top-10 queries after one untimed query (connections, caches, an index a load
left to the first search). The queries run in one of two ways:

* **in turns, on the loaded engine** (the default): once every contender has
  ingested, every query is asked of every contender in turn, in an order rotated by
  one each query, so the engine's background work and the machine's other load fall
  on all of them alike;
* **in isolation** (``isolate``, for an engine where one collection's size changes
  another's queries): each contender is queried right after its own ingest, and then
  ``isolate()`` empties the engine. Chroma needs it: its metadata index is shared by
  every collection of a server, so a filter on a key reads the matching entries of
  every collection holding that key (measured: 20.8 ms with the key in one collection,
  30.5 to 31.7 ms with it in five, on the same data).
"""

from __future__ import annotations

import statistics
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

TOPICS = 17

Ingest = Callable[[list[str], list[dict[str, Any]]], None]
Query = Callable[[list[float], str], list[int]]
Contender = tuple[Ingest, Query]


class Table(Embeddings):
    """Precomputed vectors by text: embedding costs nothing and is the same for all."""

    def __init__(self, texts: list[str], vectors: np.ndarray) -> None:
        self.by_text = {t: v.tolist() for t, v in zip(texts, vectors, strict=True)}
        self.dim = vectors.shape[1]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self.by_text.get(t) or [1.0] + [0.0] * (self.dim - 1) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self.by_text[text]


def data(n: int, dim: int) -> tuple[list[str], np.ndarray, list[dict[str, Any]]]:
    """``n`` random unit vectors, their texts, and metadata ``{"topic": "t<0..16>", "i": i}``."""
    rng = np.random.default_rng(42)
    vecs = rng.standard_normal((n, dim)).astype(np.float64)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    texts = [f"document {i} about topic {i % TOPICS}" for i in range(n)]
    metas = [{"topic": f"t{i % TOPICS}", "i": i} for i in range(n)]
    return texts, vecs, metas


def exact_top(
    vecs: np.ndarray, metas: list[dict[str, Any]], q: np.ndarray, topic: str
) -> set[int]:
    """The true filtered top 10 (exact cosine over the records of ``topic``)."""
    idx = np.array([i for i, m in enumerate(metas) if m["topic"] == topic])
    sims = vecs[idx] @ q
    return {int(i) for i in idx[np.argsort(-sims)[:10]]}


def queries_and_truth(
    vecs: np.ndarray, metas: list[dict[str, Any]], count: int
) -> tuple[list[tuple[int, str]], list[set[int]]]:
    """``count`` filtered queries (a record's vector and a topic) and their true top 10."""
    import random

    rng = random.Random(7)
    queries = [(rng.randrange(len(metas)), f"t{rng.randrange(TOPICS)}") for _ in range(count)]
    return queries, [exact_top(vecs, metas, vecs[i], t) for i, t in queries]


def nodes(texts: list[str], metas: list[dict[str, Any]], emb: Table) -> list[Any]:
    """LlamaIndex text nodes of the records, with their vectors."""
    from llama_index.core.schema import TextNode

    return [TextNode(id_=str(uuid.UUID(int=i)), text=t, metadata=m, embedding=emb.by_text[t])
            for i, (t, m) in enumerate(zip(texts, metas, strict=True))]


def llama_query(q: list[float], topic: str) -> Any:
    """A LlamaIndex top-10 query with the topic filter."""
    from llama_index.core.vector_stores.types import (
        ExactMatchFilter,
        MetadataFilters,
        VectorStoreQuery,
    )

    filters = MetadataFilters(filters=[ExactMatchFilter(key="topic", value=topic)])
    return VectorStoreQuery(query_embedding=q, similarity_top_k=10, filters=filters)


@dataclass
class Result:
    """One contender's measurements over every round."""

    ingests: list[float] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    recalls: list[float] = field(default_factory=list)
    failure: str | None = None

    def row(self) -> tuple[float, float, float, float]:
        """(median ingest s, p50 s, p95 s, mean recall@10)."""
        ts = sorted(self.times)
        return (statistics.median(self.ingests), statistics.median(ts),
                ts[min(len(ts) - 1, int(0.95 * len(ts)))], statistics.mean(self.recalls))


def _rotated(names: list[str], by: int) -> list[str]:
    by %= max(len(names), 1)
    return names[by:] + names[:by]


def run_turns(
    makers: dict[str, Callable[[int], Contender]],
    texts: list[str],
    vecs: np.ndarray,
    metas: list[dict[str, Any]],
    queries: list[tuple[int, str]],
    truth: list[set[int]],
    rounds: int,
    label: str = "",
    isolate: Callable[[], None] | None = None,
) -> dict[str, Result]:
    """Measure every contender (``makers[name](round)`` makes one) as the module says.

    A contender whose ingest or query raises is reported with its error and left out
    of later rounds: a failing integration is a result.
    """
    names = list(makers)
    results = {n: Result() for n in names}

    def fail(name: str, exc: Exception) -> None:
        results[name].failure = f"fails: {type(exc).__name__}: {' '.join(str(exc).split())[:90]}"
        print(f"  {label}{name}: {results[name].failure}", file=sys.stderr)

    def load(name: str, r: int) -> Query | None:
        try:
            ingest, query = makers[name](r)
            if hasattr(ingest, "prepare"):  # work its ingest needs ready, off the clock
                ingest.prepare(texts, metas)
            began = time.perf_counter()
            ingest(texts, metas)
            results[name].ingests.append(time.perf_counter() - began)
            i0, topic0 = queries[0]
            query(vecs[i0].tolist(), topic0)  # untimed: connections, caches, indexes
        except Exception as exc:  # noqa: BLE001 - the failure is the result
            fail(name, exc)
            return None
        print(f"  {label}round {r + 1} {name}: ingest {results[name].ingests[-1]:.2f} s",
              file=sys.stderr)
        return query

    def ask(loaded: dict[str, Query], order: Callable[[int], list[str]]) -> None:
        for n, ((i, topic), want) in enumerate(zip(queries, truth, strict=True)):
            for name in order(n):
                if name not in loaded:
                    continue
                try:
                    began = time.perf_counter()
                    got = loaded[name](vecs[i].tolist(), topic)
                    results[name].times.append(time.perf_counter() - began)
                except Exception as exc:  # noqa: BLE001
                    fail(name, exc)
                    del loaded[name]
                    continue
                results[name].recalls.append(len(set(got) & want) / 10)

    for r in range(rounds):
        todo = [n for n in _rotated(names, r) if not results[n].failure]
        if isolate is not None:
            for name in todo:
                query = load(name, r)
                if query is not None:
                    ask({name: query}, lambda n, name=name: [name])
                isolate()
        else:
            loaded = {name: q for name in todo if (q := load(name, r)) is not None}
            ask(loaded, lambda n, first=list(loaded): _rotated(first, n))
        print(f"  {label}round {r + 1}: queries done", file=sys.stderr)
    return results


def print_table(
    tables: list[tuple[str | None, dict[str, Result]]], official_of: Callable[[str], str]
) -> None:
    """One markdown table; an engine column when a label is given. Ratios are the
    official integration's time over the row's (above 1: faster)."""
    engine = tables[0][0] is not None
    head = "| engine " if engine else ""
    print(f"{head}| store | ingest s | ingest vs official | filtered p50 ms | p95 ms | "
          "p50 vs official | recall@10 |")
    print("|---" * (8 if engine else 7) + "|")
    for label, results in tables:
        first = f"| {label} " if engine else ""
        for name, res in results.items():
            if res.failure or not res.times:
                print(f"{first}| {name} | {res.failure or 'no result'} | | | | | |")
                continue
            ingest_s, p50, p95, recall = res.row()
            vs_ingest = vs_p50 = "n/a"
            base = results.get(official_of(name))
            if base is not None and not base.failure and base.times:
                b_ingest, b_p50, _, _ = base.row()
                vs_ingest, vs_p50 = f"{b_ingest / ingest_s:.2f}x", f"{b_p50 / p50:.2f}x"
            print(f"{first}| {name} | {ingest_s:.2f} | {vs_ingest} | {p50 * 1000:.1f} | "
                  f"{p95 * 1000:.1f} | {vs_p50} | {recall:.3f} |")
    print("\n(ingest: median of the rounds; p50 / p95 over every query of every round; "
          "ratios: the official integration's time over this row's, above 1 is faster)")
