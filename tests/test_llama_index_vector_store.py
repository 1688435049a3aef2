"""BrunoVectorStore and the MetadataFilters translator, on every backend."""

from __future__ import annotations

import math
import random
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

pytest.importorskip("llama_index.core", reason="llama-index-core is not installed")

from llama_index.core import StorageContext, VectorStoreIndex
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.schema import (
    Document,
    ImageNode,
    IndexNode,
    MediaResource,
    Node,
    NodeRelationship,
    RelatedNodeInfo,
    TextNode,
)
from llama_index.core.vector_stores.types import (
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
)

from bruno_memory_integrations import (
    CollectionMismatchError,
    FilterError,
    InvalidInputError,
    NotSupportedError,
    Record,
    Store,
    matches,
)
from bruno_memory_integrations.adapters_common import NODE_KEY, REF_DOC_KEY
from bruno_memory_integrations.llama_index import (
    BrunoVectorStore,
    node_to_record,
    record_to_node,
    to_bruno_filter,
)

try:
    from stores import forbid_sync
except ImportError:  # tests/ imported as a package
    from tests.stores import forbid_sync

DIM = 8


def _unit(v: list[float]) -> list[float]:
    n = math.sqrt(sum(x * x for x in v)) or 1.0
    return [x / n for x in v]


def _vec(seed: int) -> list[float]:
    rng = random.Random(seed)
    return _unit([rng.uniform(-1, 1) for _ in range(DIM)])


def _axis(i: int, tilt: float = 0.0) -> list[float]:
    v = [0.0] * DIM
    v[i % DIM] = 1.0
    v[(i + 1) % DIM] = tilt
    return _unit(v)


# ------------------------------------------------------------------ fixtures
@pytest.fixture
def coll() -> str:
    return f"li_{uuid.uuid4().hex[:10]}"


@pytest.fixture
def vs(store: Store, coll: str) -> Iterator[BrunoVectorStore]:
    v = BrunoVectorStore(store, collection=coll)
    yield v
    if not store.closed:
        store.drop_collection(coll)


def _nodes() -> list[TextNode]:
    """Six nodes from two documents, embedded along distinct axes."""
    out = []
    for i in range(6):
        doc = "doc-a" if i < 3 else "doc-b"
        out.append(
            TextNode(
                id_=f"n{i}",
                text=f"node {i} about {'apples' if i % 2 == 0 else 'pears'}",
                metadata={
                    "i": i,
                    "fruit": "apple" if i % 2 == 0 else "pear",
                    "tags": [f"t{i % 3}"],
                },
                embedding=_axis(i),
                relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=doc)},
            )
        )
    return out


# ================================================================== filter translation
# Metadata of the filter data set: missing fields, null, ints, floats, strings, lists.
FILTER_DATA: list[dict[str, Any]] = [
    {"i": 0, "color": "red", "n": 1.5, "tags": ["a", "b"]},
    {"i": 1, "color": "green", "n": 2, "tags": ["b"]},
    {"i": 2, "color": "blue", "tags": ["c", "a"]},
    {"i": 3, "color": None, "n": 7.25, "tags": []},
    {"i": 4, "n": -3},
    {"i": 5, "color": "red", "n": 10, "tags": ["a", "b", "c"]},
    {"i": 6, "color": "Red", "n": 0, "tags": ["d"]},
    {"i": 7, "color": "it's", "n": 2.0},
]


def _f(key: str, value: Any, op: FilterOperator) -> MetadataFilter:
    return MetadataFilter(key=key, value=value, operator=op)


def _has(md: dict[str, Any], key: str) -> bool:
    return md.get(key) is not None


#: (case id, filters, what LlamaIndex means by it, as a predicate over metadata).
FILTER_CASES: list[tuple[str, MetadataFilters, Callable[[dict[str, Any]], bool]]] = [
    (
        "eq",
        MetadataFilters(filters=[_f("color", "red", FilterOperator.EQ)]),
        lambda m: m.get("color") == "red",
    ),
    ("eq-int", MetadataFilters(filters=[_f("n", 2, FilterOperator.EQ)]), lambda m: m.get("n") == 2),
    (
        "ne",
        MetadataFilters(filters=[_f("color", "red", FilterOperator.NE)]),
        lambda m: m.get("color") != "red",
    ),
    (
        "gt",
        MetadataFilters(filters=[_f("n", 2, FilterOperator.GT)]),
        lambda m: _has(m, "n") and m["n"] > 2,
    ),
    (
        "gte",
        MetadataFilters(filters=[_f("n", 2, FilterOperator.GTE)]),
        lambda m: _has(m, "n") and m["n"] >= 2,
    ),
    (
        "lt",
        MetadataFilters(filters=[_f("n", 1.5, FilterOperator.LT)]),
        lambda m: _has(m, "n") and m["n"] < 1.5,
    ),
    (
        "lte",
        MetadataFilters(filters=[_f("n", 1.5, FilterOperator.LTE)]),
        lambda m: _has(m, "n") and m["n"] <= 1.5,
    ),
    (
        "in",
        MetadataFilters(filters=[_f("color", ["red", "blue"], FilterOperator.IN)]),
        lambda m: m.get("color") in ("red", "blue"),
    ),
    (
        "in-int",
        MetadataFilters(filters=[_f("i", [1, 4, 9], FilterOperator.IN)]),
        lambda m: m["i"] in (1, 4, 9),
    ),
    (
        "nin",
        MetadataFilters(filters=[_f("color", ["red", "blue"], FilterOperator.NIN)]),
        lambda m: m.get("color") not in ("red", "blue"),
    ),
    (
        "contains",
        MetadataFilters(filters=[_f("tags", "a", FilterOperator.CONTAINS)]),
        lambda m: "a" in (m.get("tags") or []),
    ),
    (
        "any",
        MetadataFilters(filters=[_f("tags", ["c", "d"], FilterOperator.ANY)]),
        lambda m: any(t in (m.get("tags") or []) for t in ("c", "d")),
    ),
    (
        "any-one",
        MetadataFilters(filters=[_f("tags", ["b"], FilterOperator.ANY)]),
        lambda m: "b" in (m.get("tags") or []),
    ),
    (
        "all",
        MetadataFilters(filters=[_f("tags", ["a", "b"], FilterOperator.ALL)]),
        lambda m: all(t in (m.get("tags") or []) for t in ("a", "b")),
    ),
    (
        "is-empty",
        MetadataFilters(filters=[_f("color", None, FilterOperator.IS_EMPTY)]),
        lambda m: m.get("color") is None,
    ),
    (
        "and",
        MetadataFilters(
            filters=[_f("color", "red", FilterOperator.EQ), _f("n", 5, FilterOperator.GT)]
        ),
        lambda m: m.get("color") == "red" and _has(m, "n") and m["n"] > 5,
    ),
    (
        "or",
        MetadataFilters(
            filters=[_f("color", "green", FilterOperator.EQ), _f("n", 0, FilterOperator.LT)],
            condition=FilterCondition.OR,
        ),
        lambda m: m.get("color") == "green" or (_has(m, "n") and m["n"] < 0),
    ),
    (
        "not-one",
        MetadataFilters(
            filters=[_f("color", "red", FilterOperator.EQ)], condition=FilterCondition.NOT
        ),
        lambda m: m.get("color") != "red",
    ),
    (
        "not-many",
        MetadataFilters(
            filters=[_f("color", "red", FilterOperator.EQ), _f("i", 2, FilterOperator.LTE)],
            condition=FilterCondition.NOT,
        ),
        lambda m: not (m.get("color") == "red" or m["i"] <= 2),
    ),
    (
        "nested",
        MetadataFilters(
            filters=[
                _f("i", 1, FilterOperator.GTE),
                MetadataFilters(
                    filters=[
                        _f("tags", "a", FilterOperator.CONTAINS),
                        MetadataFilters(
                            filters=[_f("n", 2, FilterOperator.EQ)], condition=FilterCondition.NOT
                        ),
                    ],
                    condition=FilterCondition.OR,
                ),
            ]
        ),
        lambda m: m["i"] >= 1 and ("a" in (m.get("tags") or []) or m.get("n") != 2),
    ),
    (
        "quote",
        MetadataFilters(filters=[_f("color", "it's", FilterOperator.EQ)]),
        lambda m: m.get("color") == "it's",
    ),
    (
        "text-match",
        MetadataFilters(filters=[_f("color", "re", FilterOperator.TEXT_MATCH)]),
        lambda m: isinstance(m.get("color"), str) and "re" in m["color"],
    ),
    (
        "text-match-insensitive",
        MetadataFilters(filters=[_f("color", "RE", FilterOperator.TEXT_MATCH_INSENSITIVE)]),
        lambda m: isinstance(m.get("color"), str) and "re" in m["color"].lower(),
    ),
    (
        "text-match-quote",
        MetadataFilters(filters=[_f("color", "'", FilterOperator.TEXT_MATCH)]),
        lambda m: isinstance(m.get("color"), str) and "'" in m["color"],
    ),
]


@pytest.mark.parametrize("case_id,filters,meaning", FILTER_CASES, ids=[c[0] for c in FILTER_CASES])
def test_filter_translation_means_what_llama_index_means(
    case_id: str, filters: MetadataFilters, meaning: Callable[[dict[str, Any]], bool]
) -> None:
    spec = to_bruno_filter(filters)
    got = [m["i"] for m in FILTER_DATA if matches(spec, m)]
    want = [m["i"] for m in FILTER_DATA if meaning(m)]
    assert got == want
    assert 0 < len(want) < len(FILTER_DATA), "a case should split the data set"


def test_filter_translation_shapes() -> None:
    assert to_bruno_filter(None) == {}
    assert to_bruno_filter(MetadataFilters(filters=[])) == {}
    assert to_bruno_filter(MetadataFilters(filters=[_f("a", 1, FilterOperator.EQ)])) == {
        "a": {"$eq": 1}
    }
    assert to_bruno_filter(MetadataFilters(filters=[_f("t", ["x", "y"], FilterOperator.ALL)])) == {
        "$and": [{"t": {"$contains": "x"}}, {"t": {"$contains": "y"}}]
    }
    assert to_bruno_filter(MetadataFilters(filters=[_f("a", None, FilterOperator.IS_EMPTY)])) == {
        "a": {"$exists": False}
    }


@pytest.mark.parametrize(
    "filters",
    [
        MetadataFilters(filters=[_f("color", 5, FilterOperator.TEXT_MATCH)]),
        MetadataFilters(filters=[_f("color", "RÉ", FilterOperator.TEXT_MATCH_INSENSITIVE)]),
        MetadataFilters(filters=[_f("n", "5", FilterOperator.GT)]),
        MetadataFilters(filters=[_f("color", [], FilterOperator.IN)]),
        MetadataFilters(filters=[_f("color", "red", FilterOperator.IN)]),
        MetadataFilters(filters=[_f("tags", "a", FilterOperator.ANY)]),
        MetadataFilters(filters=[_f("color", ["a", "b"], FilterOperator.EQ)]),
        MetadataFilters(filters=[_f("i", ["1"], FilterOperator.GTE)]),
        MetadataFilters(filters=[_f("a", 1, FilterOperator.EQ), MetadataFilters(filters=[])]),
        MetadataFilters.model_construct(
            filters=[MetadataFilter.model_construct(key="a", value=1, operator="regex")],
            condition=FilterCondition.AND,
        ),
    ],
    ids=[
        "text-match-number",
        "text-match-insensitive-non-ascii",
        "gt-string",
        "in-empty",
        "in-scalar",
        "any-scalar",
        "eq-list",
        "gte-list",
        "nested-empty",
        "unknown-operator",
    ],
)
def test_untranslatable_filters_raise(filters: MetadataFilters) -> None:
    with pytest.raises(FilterError):
        to_bruno_filter(filters)


def test_import_loads_no_driver() -> None:
    code = (
        "import sys, bruno_memory_integrations.llama_index\n"
        "drivers = ('psycopg', 'psycopg_pool', 'redis', 'sqlite_vec')\n"
        "bad = [m for m in drivers if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ================================================================== node <-> record
def _node_zoo() -> list[Any]:
    text = TextNode(
        id_="text",
        text="plain text node",
        metadata={"k": "v", "num": 3},
        embedding=_vec(1),
        excluded_embed_metadata_keys=["num"],
        excluded_llm_metadata_keys=["k"],
        metadata_template="{key}={value}",
        metadata_separator=" | ",
        text_template="{content}\n--\n{metadata_str}",
        start_char_idx=3,
        end_char_idx=18,
        relationships={
            NodeRelationship.SOURCE: RelatedNodeInfo(node_id="src", metadata={"p": 1}),
            NodeRelationship.NEXT: RelatedNodeInfo(node_id="text2"),
        },
    )
    doc = Document(id_="doc", text="a whole document", metadata={"title": "T"}, embedding=_vec(2))
    multi = Node(
        id_="multi",
        text_resource=MediaResource(text="multimodal text", mimetype="text/markdown"),
        embedding=_vec(3),
    )
    index_node = IndexNode(id_="idx", text="points elsewhere", index_id="other", embedding=_vec(4))
    image = ImageNode(id_="img", text="a caption", image="aGVsbG8=", embedding=_vec(5))
    empty = TextNode(id_="empty", text="", embedding=_vec(6))
    return [text, doc, multi, index_node, image, empty]


@pytest.mark.parametrize("node", _node_zoo(), ids=lambda n: n.node_id)
def test_node_record_round_trip(node: Any) -> None:
    rec = node_to_record(node)
    assert rec.id == node.node_id
    assert isinstance(rec.metadata[NODE_KEY], str)
    assert {k: v for k, v in rec.metadata.items() if not k.startswith("_bruno_")} == node.metadata
    back = record_to_node(rec)
    assert type(back) is type(node)
    assert back == node
    assert back.hash == node.hash
    if node.ref_doc_id:
        assert rec.metadata[REF_DOC_KEY] == node.ref_doc_id


def test_record_without_node_string_is_a_text_node() -> None:
    rec = Record("x", "from elsewhere", [0.1] * DIM, {"source": "langchain"})
    node = record_to_node(rec)
    assert type(node) is TextNode
    assert (node.node_id, node.text, node.metadata, node.embedding) == (
        "x",
        "from elsewhere",
        {"source": "langchain"},
        [0.1] * DIM,
    )
    assert node.ref_doc_id is None


# ================================================================== backend behaviour
def test_flat_metadata_follows_capability(vs: BrunoVectorStore, store: Store) -> None:
    assert vs.flat_metadata is (not store.capabilities.nested_metadata)
    assert vs.stores_text is True
    assert vs.client is store


def test_nodes_round_trip_through_the_store(vs: BrunoVectorStore) -> None:
    zoo = _node_zoo()
    assert vs.add(zoo) == [n.node_id for n in zoo]
    got = vs.get_nodes(node_ids=[n.node_id for n in reversed(zoo)])
    assert [g.node_id for g in got] == [n.node_id for n in reversed(zoo)]
    for want, have in zip(reversed(zoo), got, strict=True):
        assert type(have) is type(want)
        assert have.get_content() == want.get_content()
        assert have.metadata == want.metadata
        assert have.relationships == want.relationships
        assert have.embedding == pytest.approx(want.embedding, abs=1e-5)
        assert have.model_dump(exclude={"embedding"}) == want.model_dump(exclude={"embedding"})


def test_readding_replaces_instead_of_duplicating(vs: BrunoVectorStore, store: Store) -> None:
    nodes = _nodes()
    vs.add(nodes)
    changed = TextNode(id_="n1", text="changed", metadata={"i": 1}, embedding=_axis(1))
    assert vs.add([changed, changed]) == ["n1", "n1"]
    assert store.count(vs.collection) == 6
    (got,) = vs.get_nodes(node_ids=["n1"])
    assert got.get_content() == "changed"


def test_add_nothing_and_unembedded(vs: BrunoVectorStore) -> None:
    assert vs.add([]) == []
    with pytest.raises(InvalidInputError):
        vs.add([TextNode(id_="x", text="no embedding")])


def test_delete_by_ref_doc_id(vs: BrunoVectorStore) -> None:
    vs.add(_nodes())
    vs.delete("doc-a")
    assert sorted(n.node_id for n in vs.get_nodes()) == ["n3", "n4", "n5"]
    vs.delete("no-such-doc")
    assert len(vs.get_nodes()) == 3


def test_delete_nodes(vs: BrunoVectorStore) -> None:
    vs.add(_nodes())
    vs.delete_nodes(node_ids=["n0", "missing"])
    assert sorted(n.node_id for n in vs.get_nodes()) == ["n1", "n2", "n3", "n4", "n5"]
    pears = MetadataFilters(filters=[_f("fruit", "pear", FilterOperator.EQ)])
    vs.delete_nodes(node_ids=["n1", "n2"], filters=pears)  # only n1 is a pear
    assert sorted(n.node_id for n in vs.get_nodes()) == ["n2", "n3", "n4", "n5"]
    vs.delete_nodes(filters=pears)
    assert sorted(n.node_id for n in vs.get_nodes()) == ["n2", "n4"]
    with pytest.raises(InvalidInputError):
        vs.delete_nodes()
    assert len(vs.get_nodes()) == 2


def test_get_nodes_by_filter_and_ids(vs: BrunoVectorStore) -> None:
    vs.add(_nodes())
    apples = MetadataFilters(filters=[_f("fruit", "apple", FilterOperator.EQ)])
    assert sorted(n.node_id for n in vs.get_nodes(filters=apples)) == ["n0", "n2", "n4"]
    assert [n.node_id for n in vs.get_nodes(node_ids=["n4", "n1", "n0"], filters=apples)] == [
        "n4",
        "n0",
    ]
    assert vs.get_nodes(node_ids=[]) == []


def test_clear(vs: BrunoVectorStore, store: Store) -> None:
    vs.add(_nodes())
    vs.clear()
    assert vs.get_nodes() == []
    assert store.collection_info(vs.collection) is None


@pytest.mark.parametrize("case_id,filters,meaning", FILTER_CASES, ids=[c[0] for c in FILTER_CASES])
def test_filters_on_the_backend_match_the_reference(
    vs: BrunoVectorStore,
    store_kind: str,
    case_id: str,
    filters: MetadataFilters,
    meaning: Callable[[dict[str, Any]], bool],
) -> None:
    nodes = [
        TextNode(id_=f"f{m['i']}", text=f"row {m['i']}", metadata=m, embedding=_vec(m["i"]))
        for m in FILTER_DATA
    ]
    vs.add(nodes)
    if case_id.startswith("text-match") and "substring" in vs.store.capabilities.refused_filters:
        with pytest.raises(FilterError, match="substring"):
            vs.get_nodes(filters=filters)
        return
    want = sorted(f"f{m['i']}" for m in FILTER_DATA if meaning(m))
    assert sorted(n.node_id for n in vs.get_nodes(filters=filters)) == want
    result = vs.query(
        VectorStoreQuery(
            query_embedding=_vec(99), similarity_top_k=len(FILTER_DATA), filters=filters
        )
    )
    assert sorted(result.ids or []) == want


def test_query_default(vs: BrunoVectorStore) -> None:
    vs.add(_nodes())
    res = vs.query(VectorStoreQuery(query_embedding=_axis(2, tilt=0.3), similarity_top_k=2))
    assert res.ids == ["n2", "n3"]
    assert [n.node_id for n in res.nodes or []] == res.ids
    sims = res.similarities or []
    assert 1.0 >= sims[0] > sims[1] >= 0.0
    assert res.nodes and res.nodes[0].get_content() == "node 2 about apples"
    assert res.nodes[0].ref_doc_id == "doc-a"


def test_query_filters_doc_ids_and_node_ids(vs: BrunoVectorStore) -> None:
    vs.add(_nodes())
    q = _axis(3, tilt=0.3)
    apples = MetadataFilters(filters=[_f("fruit", "apple", FilterOperator.EQ)])
    res = vs.query(VectorStoreQuery(query_embedding=q, similarity_top_k=2, filters=apples))
    assert res.ids == ["n4", "n0"] or res.ids == ["n4", "n2"]
    assert res.ids[0] == "n4"
    res = vs.query(VectorStoreQuery(query_embedding=q, similarity_top_k=6, doc_ids=["doc-a"]))
    assert sorted(res.ids or []) == ["n0", "n1", "n2"]
    res = vs.query(
        VectorStoreQuery(query_embedding=q, similarity_top_k=2, node_ids=["n0", "n3", "n5"])
    )
    assert res.ids == ["n3", "n0"] or res.ids == ["n3", "n5"]
    assert res.ids[0] == "n3"
    full = vs.query(VectorStoreQuery(query_embedding=q, similarity_top_k=6))
    by_id = dict(zip(full.ids or [], full.similarities or [], strict=True))
    for i, s in zip(res.ids, res.similarities or [], strict=True):
        assert s == pytest.approx(by_id[i], abs=1e-6), "node_ids scores follow the score rule"
    res = vs.query(
        VectorStoreQuery(
            query_embedding=q, similarity_top_k=6, node_ids=["n0", "n3", "n4"], filters=apples
        )
    )
    assert res.ids == ["n4", "n0"]
    # An empty list means "no restriction", as LlamaIndex's retriever relies on.
    assert (
        len(
            vs.query(VectorStoreQuery(query_embedding=q, similarity_top_k=6, node_ids=[])).ids or []
        )
        == 6
    )
    assert (
        len(vs.query(VectorStoreQuery(query_embedding=q, similarity_top_k=6, doc_ids=[])).ids or [])
        == 6
    )


def test_query_on_missing_collection_is_empty(store: Store) -> None:
    vs = BrunoVectorStore(store, collection=f"none_{uuid.uuid4().hex[:8]}")
    res = vs.query(VectorStoreQuery(query_embedding=_vec(1), similarity_top_k=3))
    assert (res.ids, res.nodes, res.similarities) == ([], [], [])
    res = vs.query(VectorStoreQuery(query_embedding=_vec(1), node_ids=["a"]))
    assert res.ids == []


def test_query_needs_what_its_mode_needs(vs: BrunoVectorStore) -> None:
    vs.add(_nodes())
    with pytest.raises(InvalidInputError):
        vs.query(VectorStoreQuery(query_str="apples"))
    with pytest.raises(InvalidInputError):
        vs.query(VectorStoreQuery(query_embedding=_vec(1), mode=VectorStoreQueryMode.SVM))
    with pytest.raises(InvalidInputError):
        vs.query(VectorStoreQuery(query_embedding=_vec(1), mode=VectorStoreQueryMode.TEXT_SEARCH))


@pytest.mark.parametrize(
    "op, value, want",
    [
        (FilterOperator.TEXT_MATCH, "app", ["n0", "n2", "n4"]),
        (FilterOperator.TEXT_MATCH, "APP", []),
        (FilterOperator.TEXT_MATCH_INSENSITIVE, "PeA", ["n1", "n3", "n5"]),
        (FilterOperator.TEXT_MATCH, "%", []),
        (FilterOperator.TEXT_MATCH, "_", []),
    ],
)
def test_text_match_filters(
    vs: BrunoVectorStore, store_kind: str, op: FilterOperator, value: str, want: list[str]
) -> None:
    vs.add(_nodes())
    query = VectorStoreQuery(
        query_embedding=_vec(1),
        similarity_top_k=10,
        filters=MetadataFilters(filters=[_f("fruit", value, op)]),
    )
    if "substring" in vs.store.capabilities.refused_filters:
        with pytest.raises(FilterError, match="substring"):
            vs.query(query)
        return
    assert sorted(vs.query(query).ids or []) == want


def test_text_search(vs: BrunoVectorStore, store: Store) -> None:
    vs.add(_nodes())
    q = VectorStoreQuery(
        query_str="pears", similarity_top_k=5, mode=VectorStoreQueryMode.TEXT_SEARCH
    )
    if not store.capabilities.keyword_search:
        with pytest.raises(NotSupportedError):
            vs.query(q)
        return
    res = vs.query(q)
    assert sorted(res.ids or []) == ["n1", "n3", "n5"]
    assert all(0.0 <= s <= 1.0 for s in res.similarities or [])
    sparse = vs.query(
        VectorStoreQuery(
            query_str="pears",
            similarity_top_k=5,
            mode=VectorStoreQueryMode.SPARSE,
            doc_ids=["doc-b"],
        )
    )
    assert sorted(sparse.ids or []) == ["n3", "n5"]


def test_hybrid_search(vs: BrunoVectorStore, store: Store) -> None:
    vs.add(_nodes())
    q = VectorStoreQuery(
        query_str="pears",
        query_embedding=_axis(0),
        similarity_top_k=2,
        mode=VectorStoreQueryMode.HYBRID,
    )
    if not store.capabilities.hybrid_search:
        with pytest.raises(NotSupportedError):
            vs.query(q)
        return
    res = vs.query(q)
    assert len(res.ids or []) == 2
    assert all(0.0 <= s <= 1.0 for s in res.similarities or [])
    # n1 is a pear and next to the query vector's axis: first in the fused ranking
    assert (res.ids or [])[0] in ("n0", "n1")
    assert "n1" in (res.ids or [])
    with pytest.raises(InvalidInputError):
        vs.query(
            VectorStoreQuery(
                query_str="pears",
                query_embedding=_axis(0),
                alpha=0.5,
                mode=VectorStoreQueryMode.HYBRID,
            )
        )


def test_text_and_hybrid_modes_raise_without_the_capability() -> None:
    from bruno_memory_integrations.backends.memory import MemoryBackend

    class VectorOnly(MemoryBackend):
        capabilities = MemoryBackend.capabilities.with_(keyword_search=False, hybrid_search=False)

    vs = BrunoVectorStore(Store(VectorOnly()), collection="c")
    vs.add(_nodes())
    for mode in (VectorStoreQueryMode.TEXT_SEARCH, VectorStoreQueryMode.SPARSE):
        with pytest.raises(NotSupportedError, match="keyword search"):
            vs.query(VectorStoreQuery(query_str="pears", mode=mode))
    with pytest.raises(NotSupportedError, match="hybrid search"):
        vs.query(
            VectorStoreQuery(
                query_str="pears", query_embedding=_axis(0), mode=VectorStoreQueryMode.HYBRID
            )
        )
    assert vs.query(VectorStoreQuery(query_embedding=_axis(0))).ids == ["n0"]


def test_mmr_prefers_diverse_results(vs: BrunoVectorStore) -> None:
    base = _axis(0)
    near = [_unit([1.0, 0.02 * i, 0, 0, 0, 0, 0, 0]) for i in range(1, 4)]
    other = _unit([0.6, 0.0, 0.8, 0, 0, 0, 0, 0])
    nodes = [TextNode(id_=f"dup{i}", text="same", embedding=v) for i, v in enumerate(near)]
    nodes.append(TextNode(id_="other", text="different", embedding=other))
    vs.add(nodes)
    plain = vs.query(VectorStoreQuery(query_embedding=base, similarity_top_k=2))
    assert plain.ids == ["dup0", "dup1"]
    mmr = vs.query(
        VectorStoreQuery(
            query_embedding=base,
            similarity_top_k=2,
            mode=VectorStoreQueryMode.MMR,
            mmr_threshold=0.3,
        )
    )
    assert mmr.ids == ["dup0", "other"]
    assert all(0.0 <= s <= 1.0 for s in mmr.similarities or [])
    via_kwargs = vs.query(
        VectorStoreQuery(query_embedding=base, similarity_top_k=2, mode=VectorStoreQueryMode.MMR),
        mmr_threshold=0.3,
    )
    assert via_kwargs.ids == mmr.ids
    greedy = vs.query(
        VectorStoreQuery(
            query_embedding=base,
            similarity_top_k=2,
            mode=VectorStoreQueryMode.MMR,
            mmr_threshold=1.0,
        )
    )
    assert greedy.ids == plain.ids
    with pytest.raises(InvalidInputError):
        vs.query(
            VectorStoreQuery(query_embedding=base, mode=VectorStoreQueryMode.MMR, mmr_threshold=2)
        )


def test_embedding_model_is_recorded_and_checked(store: Store, coll: str) -> None:
    a = BrunoVectorStore(store, collection=coll, embedding_model="model-a")
    a.add(_nodes())
    b = BrunoVectorStore(store, collection=coll, embedding_model="model-b")
    with pytest.raises(CollectionMismatchError):
        b.add([TextNode(id_="x", text="x", embedding=_vec(1))])
    with pytest.raises(CollectionMismatchError):
        b.query(VectorStoreQuery(query_embedding=_vec(1)))
    with pytest.raises(CollectionMismatchError):
        b.query(VectorStoreQuery(query_embedding=_vec(1), node_ids=["n1"]))
    assert store.count(coll) == 6
    store.drop_collection(coll)


def test_url_store_is_opened_and_closed() -> None:
    vs = BrunoVectorStore("memory://", collection="c")
    vs.add([TextNode(id_="a", text="a", embedding=_vec(1))])
    assert vs.get_nodes()[0].node_id == "a"
    vs.close()
    assert vs.store.closed


def test_index_over_the_store(vs: BrunoVectorStore) -> None:
    embed = MockEmbedding(embed_dim=DIM)
    ctx = StorageContext.from_defaults(vector_store=vs)
    docs = [Document(id_=f"d{i}", text=f"document number {i}", metadata={"i": i}) for i in range(3)]
    index = VectorStoreIndex.from_documents(docs, storage_context=ctx, embed_model=embed)
    hits = index.as_retriever(similarity_top_k=3).retrieve("anything")
    assert sorted(h.node.ref_doc_id or "" for h in hits) == ["d0", "d1", "d2"]
    index.delete_ref_doc("d1")
    hits = index.as_retriever(similarity_top_k=3).retrieve("anything")
    assert sorted(h.node.ref_doc_id or "" for h in hits) == ["d0", "d2"]
    index.insert(Document(id_="d9", text="late", metadata={"i": 9}))
    only = index.as_retriever(
        similarity_top_k=3,
        filters=MetadataFilters(filters=[_f("i", 9, FilterOperator.EQ)]),
    ).retrieve("anything")
    assert [h.node.get_content() for h in only] == ["late"]


# ================================================================== async
async def test_async_methods_are_native_and_agree(
    vs: BrunoVectorStore, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    forbid_sync(store, monkeypatch)
    nodes = _nodes()
    assert await vs.async_add(nodes) == [n.node_id for n in nodes]
    got = await vs.aget_nodes(node_ids=["n2", "n0"])
    assert [g.node_id for g in got] == ["n2", "n0"]
    assert got[0] == nodes[2].model_copy(update={"embedding": got[0].embedding})
    q = VectorStoreQuery(query_embedding=_axis(2, tilt=0.3), similarity_top_k=2)
    res = await vs.aquery(q)
    assert res.ids == ["n2", "n3"]
    res = await vs.aquery(
        VectorStoreQuery(query_embedding=_axis(3), similarity_top_k=1, node_ids=["n0", "n3"])
    )
    assert res.ids == ["n3"]
    mmr = await vs.aquery(
        VectorStoreQuery(
            query_embedding=_axis(2),
            similarity_top_k=2,
            mode=VectorStoreQueryMode.MMR,
            mmr_threshold=0.5,
        )
    )
    assert (mmr.ids or [])[0] == "n2"
    if store.capabilities.keyword_search:
        kw = await vs.aquery(
            VectorStoreQuery(
                query_str="apples", similarity_top_k=5, mode=VectorStoreQueryMode.TEXT_SEARCH
            )
        )
        assert sorted(kw.ids or []) == ["n0", "n2", "n4"]
    if store.capabilities.hybrid_search:
        hy = await vs.aquery(
            VectorStoreQuery(
                query_str="apples",
                query_embedding=_axis(0),
                similarity_top_k=1,
                mode=VectorStoreQueryMode.HYBRID,
            )
        )
        assert hy.ids == ["n0"]
    await vs.adelete("doc-a")
    assert sorted(n.node_id for n in await vs.aget_nodes()) == ["n3", "n4", "n5"]
    pears = MetadataFilters(filters=[_f("fruit", "pear", FilterOperator.EQ)])
    await vs.adelete_nodes(node_ids=["n3", "n4"], filters=pears)
    assert sorted(n.node_id for n in await vs.aget_nodes()) == ["n4", "n5"]
    await vs.adelete_nodes(filters=pears)
    await vs.adelete_nodes(node_ids=["nope"])
    assert [n.node_id for n in await vs.aget_nodes()] == ["n4"]
    await vs.aclear()
    assert await vs.aget_nodes() == []


async def test_async_index_retrieval(
    vs: BrunoVectorStore, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    embed = MockEmbedding(embed_dim=DIM)
    index = VectorStoreIndex(
        nodes=[], storage_context=StorageContext.from_defaults(vector_store=vs), embed_model=embed
    )
    forbid_sync(store, monkeypatch)
    await index.ainsert_nodes([TextNode(id_=f"t{i}", text=f"text {i}") for i in range(3)])
    hits = await index.as_retriever(similarity_top_k=5).aretrieve("query")
    assert sorted(h.node.node_id for h in hits) == ["t0", "t1", "t2"]
