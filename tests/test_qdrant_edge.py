"""The Qdrant filter translation, proven on the real engine (qdrant-edge-py, in-process).

Local mode is qdrant-client's Python emulation, so passing the conformance suite
on it does not prove that a Qdrant *server* evaluates our filters the same way.
qdrant-edge-py is Qdrant's Rust engine (the segment, payload and filter code of
the server) as a library. Its ``Filter`` / ``FieldCondition`` / ``Match*`` /
``RangeFloat`` types have the same structure as qdrant-client's models, so the
translator's output is converted mechanically (``to_edge``, which refuses any
type it does not know) and run on an ``EdgeShard`` holding the points the
backend writes (``codec.record_point``). Every result is compared with the
reference evaluator ``filters.evaluate``.

What this proves: the generated payload fields plus the translated filter give
the reference results on Qdrant's engine, for the conformance cases, extra
edge cases (numbers near 2**53, ints vs floats vs bools, nested values, keys
with dots and quotes) and seeded random filters; also the score conversion per
metric, keyword search (sparse IDF vectors + word filter) and the two upsert
modes the chat append relies on. What it does not prove: the HTTP/gRPC layer of
a server, payload indexes (an EdgeShard here has none; indexes do not change
results) and distributed collections. The live suite covers a real server.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

qe = pytest.importorskip("qdrant_edge", reason="qdrant-edge-py (the real engine) is not installed")
pytest.importorskip("qdrant_client", reason="the qdrant extra (qdrant-client) is not installed")

from qdrant_client import models

from bruno_memory_integrations.backends.qdrant import codec
from bruno_memory_integrations.backends.qdrant.filters import to_qdrant_filter
from bruno_memory_integrations.backends.qdrant.query import canonical_distance
from bruno_memory_integrations.errors import FilterError
from bruno_memory_integrations.filters import evaluate, parse_filter
from bruno_memory_integrations.scores import distance
from bruno_memory_integrations.testing.data import (
    FILTER_CASES,
    filter_records,
    random_filter,
    random_vector,
)
from bruno_memory_integrations.text import keyword_relevance, tokenize
from bruno_memory_integrations.types import Record

DIM = 8
RANDOM_FILTERS = 1000


# ------------------------------------------------------------------ models -> edge types
BOOL_NOT_CARRIED = (
    "qdrant-edge-py 0.9 reads a Python bool in MatchValue as the integer 1 (True matches "
    "a stored 1, not a stored true), so a boolean match cannot be sent to the engine "
    "through it; boolean conditions are proven on local mode and by the live suite"
)


class NotCarried(Exception):
    """A condition the edge binding cannot carry faithfully."""


def to_edge(node: Any) -> Any:
    """qdrant-client filter models -> qdrant_edge types, one to one; anything else is refused."""
    if isinstance(node, models.Filter):
        if node.min_should is not None:
            raise TypeError("min_should is not produced by the translator")
        return qe.Filter(
            must=[to_edge(c) for c in node.must] if node.must is not None else None,
            should=[to_edge(c) for c in node.should] if node.should is not None else None,
            must_not=[to_edge(c) for c in node.must_not] if node.must_not is not None else None,
        )
    if isinstance(node, models.FieldCondition):
        used = {k for k, v in node.model_dump().items() if v is not None} - {"key"}
        if not used <= {"match", "range"}:
            raise TypeError(f"unexpected field condition parts {used}")
        return qe.FieldCondition(
            key=node.key,
            match=to_edge(node.match) if node.match is not None else None,
            range=to_edge(node.range) if node.range is not None else None,
        )
    if isinstance(node, models.MatchValue):
        if isinstance(node.value, bool):
            raise NotCarried(BOOL_NOT_CARRIED)
        return qe.MatchValue(node.value)
    if isinstance(node, models.MatchAny):
        return qe.MatchAny(list(node.any))
    if isinstance(node, models.Range):
        return qe.RangeFloat(gte=node.gte, gt=node.gt, lte=node.lte, lt=node.lt)
    raise TypeError(f"no edge conversion for {type(node).__name__}")


def edge_point(point: models.PointStruct) -> Any:
    vector = point.vector
    if isinstance(vector, dict):
        vector = {
            name: qe.SparseVector(v.indices, v.values) if isinstance(v, models.SparseVector) else v
            for name, v in vector.items()
        }
    return qe.Point(id=uuid.UUID(str(point.id)), vector=vector, payload=point.payload)


def make_shard(path: Path, metric: str = "cosine", keyword: bool = False) -> Any:
    dist = {"cosine": qe.Distance.Cosine, "euclidean": qe.Distance.Euclid, "dot": qe.Distance.Dot}
    config: dict[str, Any] = {"vectors": qe.EdgeVectorParams(size=DIM, distance=dist[metric])}
    if keyword:
        config["sparse_vectors"] = {
            codec.KEYWORD_VECTOR: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)
        }
    return qe.EdgeShard.create(str(path), qe.EdgeConfig(**config))


def load(shard: Any, records: list[Record], metric: str = "cosine", keyword: bool = False) -> None:
    points = [edge_point(codec.record_point(r, metric, keyword)) for r in records]
    shard.update(qe.UpdateOperation.upsert_points(points))


def edge_ids(shard: Any, flt: Any, n: int) -> set[str]:
    """Ids the engine returns for a filter, by scroll (and count checked against it)."""
    pts, _ = shard.scroll(qe.ScrollRequest(limit=n + 10, filter=flt, with_payload=True))
    ids = {p.payload["id"] for p in pts}
    assert shard.count(qe.CountRequest(filter=flt, exact=True)) == len(ids)
    return ids


def run_filter(shard: Any, spec: dict[str, Any], records: list[Record]) -> set[str] | None:
    """The ids the engine selects for ``spec``; ``None`` when the binding cannot carry it."""
    translated = to_qdrant_filter(parse_filter(spec))
    if translated is True:
        return {r.id for r in records}
    if translated is False:
        return set()
    try:
        flt = to_edge(translated)
    except NotCarried:
        return None
    return edge_ids(shard, flt, len(records))


@pytest.fixture
def shard(tmp_path: Path) -> Iterator[Any]:
    s = make_shard(tmp_path / "shard")
    yield s
    s.close()


# ------------------------------------------------------------------ the conformance data
@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, list[Record]]]:
    """One shard with the conformance records, read (never written) by the tests using it."""
    shard = make_shard(tmp_path_factory.mktemp("edge") / "shard")
    recs = filter_records(DIM)
    load(shard, recs)
    yield shard, recs
    shard.close()


@pytest.mark.parametrize("case", [cid for cid, _ in FILTER_CASES])
def test_conformance_filter_cases_on_the_engine(
    loaded: tuple[Any, list[Record]], case: str
) -> None:
    shard, recs = loaded
    spec = dict(FILTER_CASES)[case]
    want = {r.id for r in recs if evaluate(parse_filter(spec), r.metadata)}
    got = run_filter(shard, spec, recs)
    if got is None:
        pytest.skip(BOOL_NOT_CARRIED)
    assert got == want


def test_random_filters_on_the_engine(loaded: tuple[Any, list[Record]]) -> None:
    """Seeded random nested filters: the engine's ids equal the reference's, every one.

    Filters holding a boolean match are counted apart (the binding cannot carry them).
    """
    shard, recs = loaded
    rng = random.Random(20261121)
    proven = discriminating = 0
    for _ in range(RANDOM_FILTERS):
        spec = random_filter(rng, depth=4)
        want = {r.id for r in recs if evaluate(parse_filter(spec), r.metadata)}
        got = run_filter(shard, spec, recs)
        if got is None:
            continue
        assert got == want, spec
        proven += 1
        discriminating += bool(want) and len(want) < len(recs)
    print(f"random filters proven on the engine: {proven} of {RANDOM_FILTERS}")
    assert proven >= RANDOM_FILTERS * 3 // 4
    assert discriminating > proven // 3  # the filters discriminate, they are not vacuous


def test_filtered_search_on_the_engine(loaded: tuple[Any, list[Record]]) -> None:
    """A filtered nearest-neighbour query returns exactly the matching records."""
    shard, recs = loaded
    for spec in ({"color": {"$in": ["red", "it's"]}}, {"$not": {"n": {"$gt": 5}}}):
        flt = to_qdrant_filter(parse_filter(spec))
        assert isinstance(flt, models.Filter)
        hits = shard.query(
            qe.QueryRequest(
                query=qe.Query.Nearest(recs[0].vector),
                filter=to_edge(flt),
                limit=len(recs),
                with_payload=True,
            )
        )
        want = {r.id for r in recs if evaluate(parse_filter(spec), r.metadata)}
        assert {h.payload["id"] for h in hits} == want


# ------------------------------------------------------------------ edge cases
EDGE_KEYS = ["a.b", 'q"k', "[0]", "x y", "ü.ñ", "d$ollar", "f.e"]


def _edge_records() -> list[Record]:
    rng = random.Random(9)
    values: list[Any] = [
        0, 1, 1.0, -1, 2**53 - 1, 2**53 + 1, 2**62, 0.5, -0.0, True, False, "1", "true", "",
        " ", "a.b", 'q"k', [1, 2], [True], ["1"], [1.0, "x", False], [], [[1]], {"a": 1},
        {}, None, [{"a": 1}], "ü",
    ]
    out = []
    for i in range(90):
        md: dict[str, Any] = {}
        for j, key in enumerate(EDGE_KEYS):
            if (i + j) % 3 != 0:
                md[key] = values[(i * 7 + j * 5) % len(values)]
        out.append(Record(f"e{i:03d}", "", random_vector(rng, DIM), md))
    return out


EDGE_SPECS: list[dict[str, Any]] = [
    *({k: v} for k in EDGE_KEYS for v in (1, 1.0, True, False, "1", "a.b", 'q"k', "", 0)),
    *({k: {"$contains": v}} for k in EDGE_KEYS for v in (1, True, "1", "x", False, 1.0)),
    *({k: {"$exists": b}} for k in EDGE_KEYS for b in (True, False)),
    *({k: {op: v}} for k in EDGE_KEYS for op in ("$gt", "$gte", "$lt", "$lte")
      for v in (0, 1, 0.5, -0.0, 2**53 - 1)),
    *({k: {"$in": v}} for k in EDGE_KEYS for v in ([1, 2], [True], ["1", "a.b"], [0.5, -1])),
    *({k: {"$nin": v}} for k in EDGE_KEYS for v in ([1, 2], [False], ["", " "])),
    *({k: {"$ne": v}} for k in EDGE_KEYS for v in (1, True, "1", None)),
]


def test_edge_values_and_keys_on_the_engine(shard: Any) -> None:
    recs = _edge_records()
    load(shard, recs)
    proven = 0
    for spec in EDGE_SPECS:
        want = {r.id for r in recs if evaluate(parse_filter(spec), r.metadata)}
        got = run_filter(shard, spec, recs)
        if got is not None:
            assert got == want, spec
            proven += 1
    print(f"edge-case filters proven on the engine: {proven} of {len(EDGE_SPECS)}")
    assert proven >= len(EDGE_SPECS) * 3 // 4


def test_numbers_beyond_exact_doubles_are_refused() -> None:
    for spec in ({"n": 2**53}, {"n": {"$gt": -(2**60)}}, {"n": {"$in": [1, 2**53]}},
                 {"t": {"$contains": 2.0**60}}):
        with pytest.raises(FilterError, match="2\\*\\*53"):
            to_qdrant_filter(parse_filter(spec))


def test_the_engine_has_the_array_semantics_the_fields_avoid(shard: Any) -> None:
    """Why the generated fields exist: on the engine, a match on an array field matches
    any element, and a nested key is a path. Our language says neither."""
    shard.update(qe.UpdateOperation.upsert_points([
        qe.Point(id=1, vector=[1.0] * DIM, payload={"tags": ["news"], "a": {"b": 1}}),
    ]))
    assert shard.count(qe.CountRequest(filter=qe.Filter(must=[
        qe.FieldCondition(key="tags", match=qe.MatchValue("news"))]), exact=True)) == 1
    assert shard.count(qe.CountRequest(filter=qe.Filter(must=[
        qe.FieldCondition(key="a.b", range=qe.RangeFloat(gte=1, lte=1))]), exact=True)) == 1
    # ... while the translation of {"tags": "news"} and {"a.b": 1} matches nothing here.
    load(shard, [Record("r", "", [1.0] * DIM, {"tags": ["news"], "a": {"b": 1}})])
    assert run_filter(shard, {"tags": "news"}, []) == set()
    assert run_filter(shard, {"a.b": 1}, []) == set()


# ------------------------------------------------------------------ scores, keywords, upserts
@pytest.mark.parametrize("metric", ["cosine", "euclidean", "dot"])
def test_score_conversion_on_the_engine(tmp_path: Path, metric: str) -> None:
    rng = random.Random(4)
    recs = [
        Record(f"s{i}", "", [x * (1 + i / 3) for x in random_vector(rng, DIM)], {})
        for i in range(20)
    ]
    shard = make_shard(tmp_path / metric, metric)
    try:
        load(shard, recs, metric)
        q = [x * 2.5 for x in random_vector(rng, DIM)]
        hits = shard.query(qe.QueryRequest(query=qe.Query.Nearest(q), limit=20, with_payload=True,
                                           with_vector=True))
        by_id = {r.id: r for r in recs}
        assert len(hits) == 20
        for h in hits:
            rec = by_id[h.payload["id"]]
            want = distance(metric, q, rec.vector or [])
            assert canonical_distance(metric, h.score) == pytest.approx(want, abs=1e-4)
            back = codec.decode_record(h.payload, h.vector, True)
            assert back.vector == pytest.approx(rec.vector, abs=1e-5)  # cosine: norm restored
    finally:
        shard.close()


def test_keyword_search_on_the_engine(tmp_path: Path) -> None:
    """Sparse word vectors (IDF) ranked by the engine, with the every-word filter."""
    texts = ["The quick brown fox", "a lazy brown dog sleeps", "Quick thinking saves the day",
             "nothing relevant here", "brown brown brown fox fox", "Ünïcode brown-fox_x"]
    recs = [Record(f"k{i}", t, random_vector(random.Random(i), DIM), {"i": i})
            for i, t in enumerate(texts)]
    shard = make_shard(tmp_path / "kw", keyword=True)
    try:
        load(shard, recs, keyword=True)
        for query in ("brown", "QUICK", "brown fox", "zebra", "fox brown", "ünïcode"):
            words = sorted(set(tokenize(query)))
            flt = qe.Filter(
                must=[qe.FieldCondition(key="w", match=qe.MatchValue(w)) for w in words]
            )
            sv = codec.query_sparse(words)
            hits = shard.query(qe.QueryRequest(
                query=qe.Query.Nearest(qe.SparseVector(sv.indices, sv.values),
                                       using=codec.KEYWORD_VECTOR),
                filter=flt, limit=10, with_payload=True))
            want = {r.id for r in recs if keyword_relevance(query, r.text) > 0}
            assert {h.payload["id"] for h in hits} == want, query
            assert all(h.score > 0 for h in hits)
        hits = shard.query(qe.QueryRequest(
            query=qe.Query.Nearest(qe.SparseVector(*_sv(["brown", "fox"])),
                                   using=codec.KEYWORD_VECTOR), limit=10, with_payload=True))
        assert hits[0].payload["id"] == "k4"  # the most brown-and-fox text ranks first
    finally:
        shard.close()


def _sv(words: list[str]) -> tuple[list[int], list[float]]:
    sv = codec.query_sparse(words)
    return list(sv.indices), list(sv.values)


def test_chat_append_primitives_on_the_engine(shard: Any) -> None:
    """The two upserts the chat append relies on behave as it assumes on the engine."""
    pid = uuid.uuid4()

    def put(payload: dict[str, Any], **kw: Any) -> None:
        shard.update(qe.UpdateOperation.upsert_points(
            [qe.Point(id=pid, vector=[1.0] * DIM, payload=payload)], **kw))

    def get() -> dict[str, Any]:
        (p,) = shard.retrieve([pid], True, False)
        return dict(p.payload)

    put({"token": "a"}, update_mode=qe.UpdateMode.InsertOnly)
    put({"token": "b"}, update_mode=qe.UpdateMode.InsertOnly)
    assert get() == {"token": "a"}  # insert-only never overwrites: the first claim wins

    def raise_to(n: int) -> None:
        put({"count": n}, condition=qe.Filter(must=[
            qe.FieldCondition(key="count", range=qe.RangeFloat(lt=n))]))

    pid = uuid.uuid4()
    raise_to(5)
    assert get() == {"count": 5}  # missing: inserted
    raise_to(3)
    assert get() == {"count": 5}  # a lower length never replaces a higher one
    raise_to(9)
    assert get() == {"count": 9}


def test_conversion_refuses_unknown_types() -> None:
    with pytest.raises(TypeError):
        to_edge(models.IsEmptyCondition(is_empty=models.PayloadField(key="x")))
    with pytest.raises(NotCarried):
        to_edge(models.MatchValue(value=True))


def test_the_binding_reads_bools_as_ints(shard: Any) -> None:
    """Pins the binding quirk that BOOL_NOT_CARRIED describes; if a later version
    fixes it, this fails and boolean conditions can join the proof."""
    shard.update(qe.UpdateOperation.upsert_points([
        qe.Point(id=1, vector=[1.0] * DIM, payload={"b": True}),
        qe.Point(id=2, vector=[1.0] * DIM, payload={"b": 1}),
    ]))
    pts, _ = shard.scroll(qe.ScrollRequest(limit=5, filter=qe.Filter(must=[
        qe.FieldCondition(key="b", match=qe.MatchValue(True))])))
    assert [int(str(p.id)) for p in pts] == [2]
