"""PostgreSQL + pgvector backend against a real server (see tests/conftest.py).

The conformance suite runs twice: with the defaults (HNSW, small batches by INSERT)
and with every write going through binary COPY into IVFFlat-indexed tables. The
other tests cover what is PostgreSQL's own: schema and indexes, exact filtered
ANN search, pooling without leaks, restarts, clients passed in, injection, bulk load.
"""

from __future__ import annotations

import asyncio
import gc
import json
import random
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

psycopg = pytest.importorskip("psycopg", reason="the postgres extra (psycopg) is not installed")
psycopg_pool = pytest.importorskip(
    "psycopg_pool", reason="the postgres extra (psycopg_pool) is not installed"
)

from bruno_memory_integrations import Store, open_store
from bruno_memory_integrations.backends.postgres import PostgresBackend
from bruno_memory_integrations.backends.postgres.schema import table_name
from bruno_memory_integrations.errors import (
    BackendUnavailableError,
    ConfigurationError,
    InvalidVectorError,
    NotSupportedError,
)
from bruno_memory_integrations.testing import ConformanceTests
from bruno_memory_integrations.testing.data import random_vector, unit
from bruno_memory_integrations.types import Record

SHARED_TABLES = ("bruno_meta", "bruno_collections", "bruno_messages", "bruno_kv")


def new_schema() -> str:
    return f"bruno_test_{uuid.uuid4().hex[:10]}"


def records(n: int, dim: int = 8, seed: int = 1, prefix: str = "r") -> list[Record]:
    rng = random.Random(seed)
    return [
        Record(f"{prefix}{i:05d}", f"text {i}", random_vector(rng, dim), {"i": i}) for i in range(n)
    ]


@pytest.fixture(scope="module")
def admin(postgres_url: str) -> Iterator[Any]:
    """A plain autocommit connection for looking at the server from outside."""
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="module")
def schemas(postgres_url: str) -> Iterator[Callable[[], str]]:
    """Makes fresh schema names; drops the schemas when the module is done.

    So a server passed in with BRUNO_TEST_POSTGRES_URL is left as it was found.
    """
    made: list[str] = []

    def make() -> str:
        made.append(new_schema())
        return made[-1]

    yield make
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        for name in made:
            drop = psycopg.sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE")
            conn.execute(drop.format(psycopg.sql.Identifier(name)))


@pytest.fixture
def schema(schemas: Callable[[], str]) -> str:
    return schemas()


@pytest.fixture(scope="class")
def class_schema(schemas: Callable[[], str]) -> str:
    """One schema per test class: the conformance suite's collections live there."""
    return schemas()


@pytest.fixture
def store(postgres_url: str, schema: str) -> Iterator[Store]:
    with open_store(postgres_url, schema=schema) as s:
        yield s


def tables_in(admin: Any, schema: str) -> set[str]:
    rows = admin.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", [schema])
    return {r[0] for r in rows.fetchall()}


def with_app(url: str, app: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}application_name={app}"


def connections(admin: Any, app: str) -> int:
    row = admin.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [app])
    return int(row.fetchone()[0])


def settle(admin: Any, app: str, want: int = 0, timeout: float = 5.0) -> int:
    """Connections of ``app`` once they drop to ``want`` (or the count at the timeout)."""
    deadline = time.monotonic() + timeout
    while (n := connections(admin, app)) > want and time.monotonic() < deadline:
        time.sleep(0.05)
    return n


# ============================================================ the conformance suite
class TestPostgresConformance(ConformanceTests):
    @pytest.fixture
    def make_store(self, postgres_url: str, class_schema: str) -> Callable[[], Store]:
        return lambda: open_store(postgres_url, schema=class_schema)


class TestPostgresConformanceCopyPath(TestPostgresConformance):
    """Every write by binary COPY + staging table, into IVFFlat-indexed collections.

    4 lists and 10 probes: every list is probed, so IVFFlat answers exactly, as the
    suite expects of small collections.
    """

    @pytest.fixture
    def make_store(self, postgres_url: str, class_schema: str) -> Callable[[], Store]:
        return lambda: open_store(
            postgres_url, schema=class_schema, copy_threshold=1, index="ivfflat", ivfflat_lists=4
        )


# ============================================================ schema, layout, indexes
def test_schema_layout_and_version(store: Store, schema: str, admin: Any) -> None:
    store.upsert("My Docs", records(3))
    assert tables_in(admin, schema) >= {*SHARED_TABLES, table_name("My Docs")}
    version = admin.execute(
        f'SELECT value FROM "{schema}".bruno_meta WHERE key = %s', ["schema_version"]
    ).fetchone()
    assert version == ("2",)
    row = admin.execute(
        f'SELECT name, table_name, dimension, metric, index_kind FROM "{schema}".bruno_collections'
    ).fetchone()
    assert row == ("My Docs", table_name("My Docs"), 8, "cosine", "hnsw")
    store.drop_collection("My Docs")
    assert table_name("My Docs") not in tables_in(admin, schema)


def test_newer_schema_version_is_refused(postgres_url: str, schema: str, admin: Any) -> None:
    with open_store(postgres_url, schema=schema) as s:
        s.count("x")  # creates the schema
    admin.execute(
        f'UPDATE "{schema}".bruno_meta SET value = %s WHERE key = %s', ["99", "schema_version"]
    )
    with (
        open_store(postgres_url, schema=schema) as s,
        pytest.raises(ConfigurationError, match="newer"),
    ):
        s.count("x")


@pytest.mark.parametrize(
    "metric, opclass",
    [("cosine", "vector_cosine_ops"), ("euclidean", "vector_l2_ops"), ("dot", "vector_ip_ops")],
)
def test_hnsw_index_per_metric(
    postgres_url: str, schema: str, admin: Any, metric: str, opclass: str
) -> None:
    with open_store(postgres_url, schema=schema, hnsw_m=8, hnsw_ef_construction=32) as s:
        s.ensure_collection("c", 4, metric)
    defs = [
        r[0]
        for r in admin.execute(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = %s AND tablename = %s",
            [schema, table_name("c")],
        ).fetchall()
    ]
    (vec,) = [d for d in defs if "embedding" in d]
    assert (
        f"USING hnsw (embedding {opclass})" in vec
        and "m='8'" in vec
        and "ef_construction='32'" in vec
    )
    assert sum("USING gin" in d for d in defs) == 2  # metadata and tsv


@pytest.mark.parametrize("index, dim", [("ivfflat", 4), ("none", 4), ("hnsw", 2001)])
def test_other_index_kinds_search_exactly(
    postgres_url: str, schema: str, admin: Any, index: str, dim: int
) -> None:
    with open_store(postgres_url, schema=schema, index=index) as s:
        recs = records(50, dim=dim)
        s.upsert("c", recs)
        hits = s.search("c", recs[7].vector or [], k=3)
        assert hits[0].record.id == "r00007" and len(hits) == 3
    defs = " ".join(
        r[0]
        for r in admin.execute(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = %s", [schema]
        ).fetchall()
    )
    assert ("USING ivfflat" in defs) == (index == "ivfflat")
    assert "USING hnsw" not in defs  # "none", and HNSW cannot index 2001 dimensions


def test_url_query_options(postgres_url: str, schema: str, admin: Any) -> None:
    url = f"{postgres_url}{'&' if '?' in postgres_url else '?'}schema={schema}&index=none"
    with open_store(url) as s:
        s.upsert("c", records(2))
        assert isinstance(s.backend, PostgresBackend) and s.backend.options.index == "none"
    assert table_name("c") in tables_in(admin, schema)
    with pytest.raises(ConfigurationError, match="unknown options"):
        open_store(postgres_url, shema="typo")


@pytest.mark.parametrize("scheme", ["postgres", "postgresql+psycopg"])
def test_other_url_schemes(postgres_url: str, schema: str, scheme: str) -> None:
    if not postgres_url.startswith("postgresql://"):
        pytest.skip("the server URL is not a postgresql:// URL")
    url = scheme + postgres_url[len("postgresql") :]
    with open_store(url, schema=schema) as s:
        s.kv_mset("kv", {"k": b"v"})
        assert s.kv_mget("kv", ["k"]) == [b"v"]


def test_schemas_isolate_deployments(postgres_url: str, schemas: Callable[[], str]) -> None:
    a, b = schemas(), schemas()
    with open_store(postgres_url, schema=a) as sa, open_store(postgres_url, schema=b) as sb:
        sa.upsert("same", records(3))
        sb.upsert("same", records(1))
        sa.kv_mset("kv", {"k": b"a"})
        sa.append_messages("s", [{"m": 1}])
        assert (sa.count("same"), sb.count("same")) == (3, 1)
        assert sb.kv_mget("kv", ["k"]) == [None] and sb.get_messages("s") == []


def test_concurrent_first_starts_do_not_race(postgres_url: str, schema: str) -> None:
    failures: list[BaseException] = []
    barrier = threading.Barrier(6)

    def start() -> None:
        try:
            with open_store(postgres_url, schema=schema) as s:
                barrier.wait()
                s.upsert("shared", records(5))
        except Exception as exc:  # noqa: BLE001 - collected, asserted below
            failures.append(exc)

    threads = [threading.Thread(target=start) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    with open_store(postgres_url, schema=schema) as s:
        assert s.list_collections() == ["shared"] and s.count("shared") == 5


# ============================================================ search specifics
def test_filtered_ann_search_finds_every_match(postgres_url: str, schema: str, admin: Any) -> None:
    """HNSW with a tiny ef_search: a plain index scan would stop at 10 candidates."""
    rng = random.Random(4)
    recs = [
        Record(f"r{i:05d}", "", random_vector(rng, 16), {"rare": i % 300 == 0, "i": i})
        for i in range(3000)
    ]
    with open_store(postgres_url, schema=schema, ef_search=10, exact_filtered_search=False) as s:
        s.upsert("big", recs)
        q = recs[1].vector or []
        s.search("big", q, k=1)  # builds the index the load left pending
        admin.execute(f'ANALYZE "{schema}"."{table_name("big")}"')
        plan = " ".join(
            r[0]
            for r in admin.execute(
                f'EXPLAIN SELECT id FROM "{schema}"."{table_name("big")}" '
                f"ORDER BY embedding <=> %s::vector LIMIT 10",
                [str(q)],
            ).fetchall()
        )
        assert "Index Scan using" in plan  # the ANN path is really exercised
        rare = s.search("big", q, k=50, filter={"rare": True})
        assert sorted(h.record.id for h in rare) == [r.id for r in recs if r.metadata["rare"]]
        many = s.search("big", q, k=300)
        assert len(many) == 300 and many[0].record.id == "r00001"
        assert [h.score for h in many] == sorted((h.score for h in many), reverse=True)
        odd = s.search("big", q, k=40, filter={"$and": [{"i": {"$lt": 600}}, {"rare": False}]})
        assert len(odd) == 40 and all(h.record.metadata["i"] < 600 for h in odd)


@pytest.mark.parametrize("exact", [True, False])
def test_filtered_search_after_paged_ingest_is_exact(
    postgres_url: str, schema: str, admin: Any, exact: bool
) -> None:
    """Pages of 500 (as the migration tool and the adapters write), then filtered
    top-10 queries against brute force over the matching rows, before and after the
    table has statistics (autovacuum's ANALYZE comes at a time of its own), and
    with generic plans (psycopg prepares a statement run five times on a connection).

    Left to the planner, such a query used an exact bitmap scan while the table had
    no statistics, and the HNSW index with a relaxed iterative scan once it had:
    other neighbours (recall 0.48 was seen). Only ``exact_filtered_search=False``
    may do that.
    """
    import numpy as np

    n, dim = 4000, 128
    rng = np.random.default_rng(11)
    vecs = rng.standard_normal((n, dim)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    meta = [{"topic": f"t{i % 8}", "year": 1990 + (i * 7919) % 35} for i in range(n)]
    recs = [Record(f"d{i:05d}", "", vecs[i].tolist(), meta[i]) for i in range(n)]
    filters = [
        (
            {"topic": "t3", "year": {"$gte": 2010}},
            [m["topic"] == "t3" and m["year"] >= 2010 for m in meta],
        ),
        ({"topic": "t5"}, [m["topic"] == "t5" for m in meta]),
    ]
    queries = rng.standard_normal((15, dim)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    recalls = []
    # The last pass plans every statement generically (PostgreSQL's plan cache: a plan
    # made once and reused, whatever settings or statistics came later).
    generic = (
        with_app(postgres_url, "generic") + "&options=-c%20plan_cache_mode%3Dforce_generic_plan"
    )
    with (
        open_store(postgres_url, schema=schema, exact_filtered_search=exact) as s,
        open_store(generic, schema=schema, exact_filtered_search=exact) as g,
    ):
        for i in range(0, n, 500):
            s.upsert("paged", recs[i : i + 500])
        for store, analysed in ((s, False), (s, True), (g, True)):
            if analysed:
                admin.execute(f'ANALYZE "{schema}"."{table_name("paged")}"')
            for flt, wanted in filters:
                match = np.array(wanted)
                for q in queries:
                    dist = np.where(match, 1.0 - vecs @ q, np.inf)
                    truth = {f"d{i:05d}" for i in np.argsort(dist, kind="stable")[:10]}
                    hits = store.search("paged", q.tolist(), k=10, filter=flt)
                    assert len(hits) == 10
                    recalls.append(len(truth & {h.record.id for h in hits}) / 10)
    if exact:
        assert recalls == [1.0] * len(recalls)
    print(f"\n[filtered recall@10, exact={exact}] {sum(recalls) / len(recalls):.3f}")


def test_paged_load_builds_the_index_once_at_the_first_search(
    postgres_url: str, schema: str, admin: Any
) -> None:
    """Pages after the first go into a table without its vector index; the first
    search, by any store, builds it once (merges the GIN pending lists and analyses
    the table)."""
    recs = records(1200, dim=16, seed=3)
    table = table_name("pages")

    def indexes() -> list[str]:
        rows = admin.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = %s AND tablename = %s",
            [schema, table],
        ).fetchall()
        return sorted(r[0] for r in rows if r[0].endswith("_vec"))

    def comment() -> str | None:
        row = admin.execute(
            "SELECT obj_description(to_regclass(%s), 'pg_class')", [f'"{schema}"."{table}"']
        ).fetchone()
        return row[0] if row else None

    with open_store(postgres_url, schema=schema) as s:
        for i in range(0, 1200, 200):
            s.upsert("pages", recs[i : i + 200])
        assert indexes() == [] and (comment() or "").startswith("bruno: vector index pending")
        assert s.count("pages") == 1200
    with open_store(postgres_url, schema=schema) as other:  # a new process, say
        assert other.search("pages", recs[7].vector or [], k=1)[0].record.id == "r00007"
        assert indexes() == [f"{table}_vec"] and comment() is None
        analysed = admin.execute(
            "SELECT last_analyze FROM pg_stat_user_tables WHERE schemaname = %s AND relname = %s",
            [schema, table],
        ).fetchone()
        assert analysed is not None and analysed[0] is not None
        # The GIN indexes' pending lists were merged too: a filtered search scans no
        # backlog of the load (nothing is left for a merge to move).
        merged = admin.execute(
            "SELECT gin_clean_pending_list(to_regclass(%s)), "
            "gin_clean_pending_list(to_regclass(%s))",
            [f'"{schema}"."{table}_meta"', f'"{schema}"."{table}_tsv"'],
        ).fetchone()
        assert merged == (0, 0)
        # A small batch into a big table keeps the index.
        other.upsert("pages", records(100, dim=16, seed=4, prefix="x"))
        assert indexes() == [f"{table}_vec"]


def test_keyword_search_matches_the_reference_tokenizer(store: Store) -> None:
    texts = [
        "version 3.5 of a-b",
        "mail foo@bar.com now",
        "ÜMLAUT Straße",
        "snake_case words",
        "see http://h.io/path",
        "the and of",
    ]
    recs = [Record(f"t{i}", t, unit([1.0, float(i)]), {}) for i, t in enumerate(texts)]
    with open_store("memory://") as oracle:
        for s in (store, oracle):
            s.upsert("kw", recs)
        for query in [
            "3",
            "5",
            "b",
            "bar",
            "com",
            "ümlaut",
            "STRASSE",
            "straße",
            "snake",
            "case",
            "io path",
            "the",
            "of",
            "a b",
            "3.5",
            "foo@bar.com",
        ]:
            want = {h.record.id for h in oracle.keyword_search("kw", query, k=10)}
            got = {h.record.id for h in store.keyword_search("kw", query, k=10)}
            assert got == want, query


def test_zero_vectors_and_float4_range(store: Store) -> None:
    store.upsert("z", [Record("zero", "", [0.0, 0.0], {}), Record("one", "", [1.0, 0.0], {})])
    for with_vectors in (False, True):
        found = store.search("z", [1.0, 0.0], k=2, include_vectors=with_vectors)
        hits = {h.record.id: h for h in found}
        assert hits["zero"].distance == 1.0 and hits["zero"].score == 0.5  # not NaN
        assert hits["one"].distance == 0.0 and hits["one"].score == 1.0
        assert hits["zero"].record.vector == ([0.0, 0.0] if with_vectors else None)
    with pytest.raises(InvalidVectorError, match="float32"):  # the core's vector rule
        store.upsert("z", [Record("big", "", [1e39, 0.0], {})])
    with pytest.raises(InvalidVectorError):
        store.search("z", [1e39, 0.0])
    assert store.count("z") == 2


def test_json_numbers_keep_their_type(store: Store) -> None:
    """JSONB prints a float without a fraction as an integer (1e20 as 21 digits): every
    number comes back with the type it was written with, wherever it sits."""
    md = {
        "int": 1, "float": 1.0, "neg": -2.5, "big": 2**62, "small": 1e-7, "list": [1, 2.0],
        "largest": 2**63 - 1, "smallest": -(2**63) + 1, "f63": 2.0**63, "f64": 2.0**64,
        "f20": 1e20, "f300": -1e300, "nested": {"deep": [{"x": 9.3e18}, 12345678901234567890.0]},
        "digits": "12345678901234567890123", "digit_key_12345678901234567890": 3,
    }
    store.upsert("j", [Record("a", "", [1.0, 0.0], md)])
    for got in (store.get("j", ["a"])[0], store.search("j", [1.0, 0.0], k=1)[0].record):
        assert got.metadata == md
        # the same types, all the way down (JSONB keeps its own key order)
        assert json.dumps(got.metadata, sort_keys=True) == json.dumps(md, sort_keys=True)
    session = [{"role": "user", "content": "12345678901234567890", "n": 1e19, "i": 2**63 - 1}]
    store.append_messages("s", session)
    (msg,) = store.get_messages("s")
    assert json.dumps(msg, sort_keys=True) == json.dumps(session[0], sort_keys=True)


def test_jsonb_reading_stays_on_the_stores_cursors(postgres_url: str, schema: str) -> None:
    """The store reads JSONB with its own loader on the cursors it runs ops with; a
    caller's connection keeps the loaders it had."""
    from psycopg.pq import Format

    from bruno_memory_integrations.backends.postgres.schema import JSONB_OID, JsonbLoader

    with psycopg.connect(postgres_url, autocommit=True) as conn:
        before = conn.adapters.get_loader(JSONB_OID, Format.TEXT)
        with open_store(conn, schema=schema) as s:
            s.upsert("c", [Record("a", "", [1.0, 0.0], {"f": 1e20})])
            assert s.get("c", ["a"])[0].metadata == {"f": 1e20}
        assert conn.adapters.get_loader(JSONB_OID, Format.TEXT) is before
        assert before is not JsonbLoader
        # the caller's own reads are psycopg's: JSONB's integer stays an integer
        assert conn.execute("SELECT '{\"f\": 1e20}'::jsonb").fetchone() == ({"f": 10**20},)


# ============================================================ bulk ingest
def test_bulk_ingest_10k(postgres_url: str, schema: str) -> None:
    import numpy as np

    n, dim = 10_000, 384
    vecs = np.random.default_rng(7).standard_normal((n, dim))
    recs = [
        Record(
            f"doc-{i:05d}", f"document number {i}", vecs[i].tolist(), {"i": i, "even": i % 2 == 0}
        )
        for i in range(n)
    ]
    with open_store(postgres_url, schema=schema) as s:
        s.count("warm")  # connect and create the schema outside the timing
        began = time.perf_counter()
        s.upsert("bulk", recs)
        first = time.perf_counter() - began
        began = time.perf_counter()
        s.upsert("bulk", recs)  # idempotent: same ids replace, never duplicate
        again = time.perf_counter() - began
        assert s.count("bulk") == n
        assert s.count("bulk", filter={"even": True}) == n // 2
        assert s.search("bulk", recs[1234].vector or [], k=1)[0].record.id == "doc-01234"
        assert [h.record.id for h in s.keyword_search("bulk", "number 777", k=2)] == ["doc-00777"]
    print(  # shown with pytest -s
        f"\n[postgres bulk ingest] {n} records, dim {dim}, HNSW: first load {first:.2f}s "
        f"({n / first:.0f} rows/s), re-upsert of the same ids {again:.2f}s"
    )


async def test_async_bulk_ingest_by_copy(postgres_url: str, schema: str) -> None:
    recs = records(3000, dim=32, seed=9)
    async with open_store(postgres_url, schema=schema) as s:
        await s.aupsert("bulk", recs)
        assert await s.acount("bulk") == 3000
        hits = await s.asearch("bulk", recs[42].vector or [], k=1)
        assert hits[0].record.id == "r00042"


# ============================================================ pooling and leaks
def test_closed_stores_return_their_connections(postgres_url: str, admin: Any) -> None:
    app = f"leak_{uuid.uuid4().hex[:8]}"
    url = with_app(postgres_url, app)
    for _ in range(20):
        s = open_store(url)
        s.count("x")
        s.kv_mset("kv", {"a": b"1"})
        assert connections(admin, app) >= 1
        s.close()
    assert settle(admin, app) == 0


def test_garbage_collected_stores_return_their_connections(postgres_url: str, admin: Any) -> None:
    app = f"gc_{uuid.uuid4().hex[:8]}"
    for _ in range(10):
        s = open_store(with_app(postgres_url, app))
        s.count("x")
        del s
    gc.collect()
    assert settle(admin, app) == 0


async def test_async_stores_return_their_connections(postgres_url: str, admin: Any) -> None:
    app = f"aleak_{uuid.uuid4().hex[:8]}"
    url = with_app(postgres_url, app)
    for _ in range(10):
        async with open_store(url) as s:
            await s.acount("x")
            s.count("x")  # both pools open
    assert settle(admin, app) == 0
    s = open_store(url)
    await s.acount("x")
    del s
    gc.collect()
    await asyncio.sleep(0.1)  # the finalizer schedules the async pool's close on this loop
    assert settle(admin, app) == 0


def test_store_used_from_two_event_loops(postgres_url: str, admin: Any) -> None:
    app = f"loops_{uuid.uuid4().hex[:8]}"
    s = open_store(with_app(postgres_url, app))
    assert asyncio.run(s.acount("x")) == 0
    assert asyncio.run(s.acount("x")) == 0  # a new pool on the new loop
    s.close()
    assert settle(admin, app) == 0


def test_pool_size_caps_connections(postgres_url: str, admin: Any) -> None:
    app = f"cap_{uuid.uuid4().hex[:8]}"
    with open_store(with_app(postgres_url, app), pool_size=2, pool_min_size=0) as s:
        s.upsert("c", records(20))
        seen: list[int] = []

        def work() -> None:
            for _ in range(10):
                s.search("c", unit([1.0] * 8), k=3)
                seen.append(connections(admin, app))

        threads = [threading.Thread(target=work) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert max(seen) <= 2


async def test_async_first_use_by_many_tasks_opens_one_pool(postgres_url: str, admin: Any) -> None:
    """Tasks racing on a fresh store share one pool: the server never sees more than
    pool_size of its connections (each used to open a pool of its own)."""
    app = f"race_{uuid.uuid4().hex[:8]}"
    s = open_store(with_app(postgres_url, app), pool_size=5, pool_min_size=1)
    peak = 0

    async def watch() -> None:
        nonlocal peak
        while True:
            peak = max(peak, await asyncio.to_thread(connections, admin, app))
            await asyncio.sleep(0.005)

    watcher = asyncio.create_task(watch())
    try:
        results = await asyncio.gather(*(s.acount("x") for _ in range(250)), return_exceptions=True)
    finally:
        watcher.cancel()
    assert [r for r in results if isinstance(r, BaseException)] == []
    peak = max(peak, connections(admin, app))
    assert peak <= 5 + 1  # the pool, plus the one probe connection made before it opens
    await s.aclose()
    assert settle(admin, app) == 0


_EXIT_WITHOUT_ACLOSE = """
import asyncio, sys
from bruno_memory_integrations import open_store

async def main():
    s = open_store(sys.argv[1], schema=sys.argv[2], pool_size=10, pool_min_size=1)
    # Many waiting calls make the pool grow: its workers are opening connections
    # when main() returns, and asyncio.run cancels them (no aclose on purpose).
    calls = [asyncio.ensure_future(s.acount("x")) for _ in range(40)]
    await asyncio.wait(calls, return_when=asyncio.FIRST_COMPLETED)

for _ in range(int(sys.argv[3])):
    asyncio.run(main())
print("exited")
"""


def test_asyncio_run_exits_when_the_store_was_never_closed(postgres_url: str, schema: str) -> None:
    """psycopg_pool's workers swallow a cancellation that lands while they open a
    connection and then wait forever, so asyncio.run() hung on exit about one run in
    forty. The pool now closes itself when its loop shuts down."""
    out = subprocess.run(
        [sys.executable, "-c", _EXIT_WITHOUT_ACLOSE, postgres_url, schema, "25"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["exited"]


# ============================================================ clients passed in
def test_from_client_pool_is_used_and_left_open(postgres_url: str, schema: str) -> None:
    with psycopg_pool.ConnectionPool(postgres_url, min_size=1, max_size=2, open=True) as pool:
        with open_store(pool, schema=schema) as s:
            assert isinstance(s.backend, PostgresBackend)
            s.upsert("c", records(4))
            assert s.count("c") == 4
            assert asyncio.run(s.acount("c")) == 4  # sync client: async through threads
            assert not s.capabilities.native_async
        assert not pool.closed
        with pool.connection() as conn:
            table = f'"{schema}"."{table_name("c")}"'
            assert conn.execute(f"SELECT count(*) FROM {table}").fetchone() == (4,)


def test_from_client_connection_keeps_callers_transaction(postgres_url: str, schema: str) -> None:
    with psycopg.connect(postgres_url) as conn:  # not autocommit
        with open_store(conn, schema=schema) as s:
            s.upsert("c", records(3))
            s.append_messages("sess", [{"m": 1}])
        assert not conn.closed
        assert conn.execute(f'SELECT count(*) FROM "{schema}".bruno_messages').fetchone() == (1,)


async def test_from_async_clients(postgres_url: str, schema: str) -> None:
    async with psycopg_pool.AsyncConnectionPool(
        postgres_url, min_size=1, max_size=2, open=False
    ) as pool:
        async with open_store(pool, schema=schema) as s:
            assert s.capabilities.native_async
            await s.aupsert("c", records(5))
            assert await s.acount("c") == 5
            with pytest.raises(NotSupportedError, match="async client"):
                s.count("c")
        assert not pool.closed
    conn = await psycopg.AsyncConnection.connect(postgres_url)
    async with conn:
        async with open_store(conn, schema=schema) as s:
            await asyncio.gather(*(s.acount("c") for _ in range(5)))
            assert await s.aget_messages("none") == []
        assert not conn.closed


def test_from_client_rejects_other_objects() -> None:
    with pytest.raises(ConfigurationError):
        PostgresBackend.from_client(object())


# ============================================================ round trips
class _Trips:
    """Counts what an op costs on the wire: transactions, pool checks, statements."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.transactions = self.pings = self.statements = 0
        real_tx = psycopg.Connection.transaction
        real_ping = psycopg_pool.ConnectionPool.check_connection
        real_execute = psycopg.Cursor.execute

        def transaction(conn: Any, *args: Any, **kwargs: Any) -> Any:
            self.transactions += 1
            return real_tx(conn, *args, **kwargs)

        def ping(conn: Any) -> None:
            self.pings += 1
            real_ping(conn)

        def execute(cur: Any, *args: Any, **kwargs: Any) -> Any:
            self.statements += 1
            return real_execute(cur, *args, **kwargs)

        monkeypatch.setattr(psycopg.Connection, "transaction", transaction)
        monkeypatch.setattr(psycopg_pool.ConnectionPool, "check_connection", staticmethod(ping))
        monkeypatch.setattr(psycopg.Cursor, "execute", execute)

    def reset(self) -> None:
        self.transactions = self.pings = self.statements = 0


def test_small_reads_and_writes_are_one_round_trip(
    postgres_url: str, schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plain read or a one-statement write runs without BEGIN/COMMIT, and a quiet pooled
    connection is used without a check query (each cost a round trip per call)."""
    with open_store(postgres_url, schema=schema) as s:
        s.upsert("c", records(5))
        s.append_messages("sess", [{"n": 1}])
        s.kv_mset("kv", {"k": b"v"})
        trips = _Trips(monkeypatch)
        for call in (
            lambda: s.kv_mset("kv", {"k": b"w", "j": b"x"}),
            lambda: s.kv_mget("kv", ["k", "j"]),
            lambda: s.kv_keys("kv", prefix="k"),
            lambda: s.kv_mdelete("kv", ["j"]),
            lambda: s.get("c", ["r00001"]),
            lambda: s.count("c", filter={"i": {"$gte": 2}}),
            lambda: s.scan("c", limit=2),
            lambda: s.upsert("c", records(3, prefix="n")),
            lambda: s.append_messages("sess", [{"n": 2}]),
            lambda: s.get_messages("sess", last_n=1),
            s.list_sessions,
        ):
            call()
        assert (trips.transactions, trips.pings) == (0, 0)
        assert s.kv_mget("kv", ["k", "j"]) == [b"w", None]
        assert s.count("c") == 8 and len(s.get_messages("sess")) == 2
        # Several statements still share one transaction (a write with a TTL moves
        # the session's expiry).
        trips.reset()
        s.append_messages("sess", [{"n": 3}], ttl=60)
        assert trips.transactions == 1


def test_searches_are_one_statement(
    postgres_url: str, schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A search is its query alone: an exact (filtered) one needs no settings, and an
    approximate one's index settings stay on the pooled connection, set again only
    when they change (``ef_search`` follows ``k``)."""
    with open_store(postgres_url, schema=schema, pool_size=1) as s:
        s.upsert("c", records(300))
        q = unit([1.0] * 8)
        s.search("c", q, k=5)  # builds the index a load left pending (in a transaction)
        s.search("c", q, k=5)  # sets the index settings for the session
        trips = _Trips(monkeypatch)
        for _ in range(3):
            assert len(s.search("c", q, k=5)) == 5
            assert len(s.search("c", q, k=5, filter={"i": {"$lt": 100}})) == 5
        assert (trips.transactions, trips.statements) == (0, 6)
        trips.reset()
        assert len(s.search("c", q, k=60)) == 60  # ef_search 60, then back to 40
        assert len(s.search("c", q, k=5)) == 5
        assert (trips.transactions, trips.statements) == (0, 4)
        pool = s.backend._source.pools.sync_pool  # type: ignore[attr-defined]
        with pool.connection() as conn:
            settings = conn.execute(
                "SELECT current_setting('hnsw.ef_search'), current_setting('hnsw.iterative_scan')"
            ).fetchone()
        assert settings == ("40", "relaxed_order")


def test_settings_never_outlive_a_search_on_a_callers_connection(
    postgres_url: str, schema: str
) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        before = conn.execute("SHOW enable_indexscan").fetchone()
        with open_store(conn, schema=schema, ef_search=77) as s:
            s.upsert("c", records(300))
            q = unit([1.0] * 8)
            assert len(s.search("c", q, k=5)) == 5
            assert len(s.search("c", q, k=5, filter={"i": {"$lt": 100}})) == 5
        assert conn.execute("SHOW enable_indexscan").fetchone() == before
        row = conn.execute("SELECT current_setting('hnsw.ef_search', true)").fetchone()
        assert row is not None and row[0] != "77"


def test_an_op_cannot_step_past_its_final_statement() -> None:
    from bruno_memory_integrations.backends.postgres.connection import _Lazy
    from bruno_memory_integrations.backends.postgres.schema import Statement, final

    class Conn:
        autocommit = True

    lazy = _Lazy(Conn())  # type: ignore[arg-type]
    read = Statement(psycopg.sql.SQL("SELECT 1"), alone=True)
    assert lazy.needs_transaction(read, False) is False
    assert lazy.needs_transaction(final(Statement(psycopg.sql.SQL("DELETE"))), False) is False
    with pytest.raises(RuntimeError, match="after its final statement"):
        lazy.needs_transaction(Statement(psycopg.sql.SQL("SELECT 1")), False)
    caller = _Lazy(type("Conn", (), {"autocommit": False})())  # type: ignore[arg-type]
    assert caller.needs_transaction(read, False)


# ============================================================ failures
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_server_fails_clearly_and_masks_the_password() -> None:
    url = f"postgresql://bob:s3cret-pw@127.0.0.1:{_free_port()}/app"
    s = open_store(url)  # lazy: nothing connects yet
    began = time.monotonic()
    with pytest.raises(BackendUnavailableError) as info:
        s.count("x")
    message = str(info.value)
    assert time.monotonic() - began < 5
    assert "s3cret" not in message and "bob:***@127.0.0.1" in message
    assert "refused" in message.lower()
    with pytest.raises(BackendUnavailableError):
        asyncio.run(s.acount("x"))
    s.close()


def _seed(s: Store) -> None:
    s.upsert("c", records(20))
    s.append_messages("sess", [{"n": 1}, {"n": 2}])
    s.kv_mset("kv", {"k": b"v"})


def _intact(s: Store, extra_messages: int = 0) -> None:
    assert s.count("c") == 20
    assert len(s.get_messages("sess")) == 2 + extra_messages
    assert s.kv_mget("kv", ["k"]) == [b"v"]


def test_restart_is_invisible_to_callers(postgres_server: Any) -> None:
    with open_store(postgres_server.url, pool_timeout=5) as s:
        _seed(s)
        postgres_server.restart()
        _intact(s)  # stale pooled connections are replaced: no error
        s.append_messages("sess", [{"n": 3}])
        postgres_server.restart()
        _intact(s, extra_messages=1)


def test_server_down_then_back(postgres_server: Any) -> None:
    with open_store(postgres_server.url, pool_timeout=1) as s:
        _seed(s)
        postgres_server.stop()
        with pytest.raises(BackendUnavailableError, match="cannot reach PostgreSQL"):
            s.count("c")
        with pytest.raises(BackendUnavailableError):
            s.append_messages("sess", [{"n": 9}])
        time.sleep(1.5)  # long enough for the pool to back off between reconnect attempts
        postgres_server.start()
        _intact(s)  # every write acknowledged before the stop is there


async def test_async_restart_and_outage(postgres_server: Any) -> None:
    async with open_store(postgres_server.url, pool_timeout=1) as s:
        await s.aupsert("c", records(20))
        await s.aappend_messages("sess", [{"n": 1}])
        postgres_server.restart()
        assert await s.acount("c") == 20
        postgres_server.stop()
        with pytest.raises(BackendUnavailableError):
            await s.acount("c")
        postgres_server.start()
        assert await s.acount("c") == 20
        assert await s.aget_messages("sess") == [{"n": 1}]


# ============================================================ injection
PAYLOADS = [
    "x'; DROP TABLE bruno_kv; --",
    'y"; DROP TABLE bruno_collections; --',
    "z); DROP SCHEMA public CASCADE; --",
    "$$; DROP TABLE bruno_meta; $$",
    "\\'; DELETE FROM bruno_messages; --",
    "%s %(x)s {} ? @> ::jsonb",
]


def test_payloads_are_stored_never_executed(postgres_url: str, admin: Any, schema: str) -> None:
    evil_schema = 'evil"; DROP TABLE public.x; --'
    for where in (schema, evil_schema):
        with open_store(postgres_url, schema=where) as s:
            for p in PAYLOADS:
                s.upsert(p, [Record(p, p, unit([1.0, 0.5]), {p: p, "k": p})])
                s.append_messages(p, [{"content": p}], namespace=p)
                s.kv_mset(p, {p: p.encode()})
            for p in PAYLOADS:
                (got,) = s.get(p, [p])
                assert (got.text, got.metadata) == (p, {p: p, "k": p})
                assert s.count(p, filter={"k": p}) == 1
                if not p.startswith("$"):  # a leading $ names an operator in filters
                    assert s.count(p, filter={p: {"$exists": True}}) == 1
                assert [h.record.id for h in s.keyword_search(p, p, k=3)] == [p]
                assert s.get_messages(p, namespace=p) == [{"content": p}]
                assert s.list_sessions(namespace=p) == [p]
                assert s.kv_mget(p, [p]) == [p.encode()] and s.kv_keys(p, prefix=p[:3]) == [p]
            assert set(PAYLOADS) <= set(s.list_collections())
        assert set(SHARED_TABLES) <= tables_in(admin, where)
    assert admin.execute("SELECT 1 FROM pg_namespace WHERE nspname = 'public'").fetchone() == (1,)
    drop = psycopg.sql.SQL("DROP SCHEMA {} CASCADE")
    admin.execute(drop.format(psycopg.sql.Identifier(evil_schema)))


def test_version_1_schema_is_upgraded_for_ttl(
    store: Store, postgres_url: str, schema: str, admin: Any
) -> None:
    """A schema written by version 1 (no expiry columns) gains them on first use, and TTL
    then works on the collections it already had."""
    store.upsert("old", records(2))
    store.kv_mset("kv", {"k": b"v"})
    store.append_messages("s", [{"m": 1}])
    old_table = table_name("old")
    for table in ("bruno_messages", "bruno_kv", old_table):
        admin.execute(f'ALTER TABLE "{schema}"."{table}" DROP COLUMN expires_at')
    admin.execute(f"UPDATE \"{schema}\".bruno_meta SET value = '1' WHERE key = 'schema_version'")
    with open_store(postgres_url, schema=schema) as again:
        assert again.count("old") == 2 and again.kv_mget("kv", ["k"]) == [b"v"]
        assert again.get_messages("s") == [{"m": 1}]
        again.upsert("old", records(3)[2:], ttl=0.3)
        again.kv_mset("kv", {"t": b"x"}, ttl=0.3)
        assert again.count("old") == 3
        time.sleep(0.6)
        assert again.count("old") == 2 and again.kv_keys("kv") == ["k"]
        assert again.purge_expired() == 2
    version = admin.execute(
        f'SELECT value FROM "{schema}".bruno_meta WHERE key = %s', ["schema_version"]
    ).fetchone()
    assert version == ("2",)


def test_last_messages_of_a_long_session_walk_the_index(
    postgres_url: str, schema: str, admin: Any
) -> None:
    """A bulk append refreshes the statistics, so reading the last N messages of a long
    session walks the session index backwards instead of sorting the whole session."""
    with open_store(postgres_url, schema=schema) as s:
        s.append_messages("long", [{"i": i} for i in range(5000)])
        assert [m["i"] for m in s.get_messages("long", last_n=3)] == [4997, 4998, 4999]
        plan = admin.execute(
            f"EXPLAIN SELECT message FROM (SELECT seq, message FROM "
            f'"{schema}".bruno_messages WHERE namespace = %s AND session_id = %s '
            f"AND (expires_at IS NULL OR expires_at > now()) ORDER BY seq DESC LIMIT 10) "
            f"AS last ORDER BY seq",
            ("default", "long"),
        ).fetchall()
        text = "\n".join(r[0] for r in plan)
        assert "Index Scan Backward" in text, text
        stats = admin.execute(
            "SELECT last_analyze FROM pg_stat_user_tables "
            "WHERE schemaname = %s AND relname = 'bruno_messages'",
            (schema,),
        ).fetchone()
        assert stats is not None and stats[0] is not None


def test_deferred_index_builds_with_more_memory_for_its_transaction_only(
    postgres_url: str, schema: str, admin: Any
) -> None:
    """The statement run before building a deferred vector index raises
    ``maintenance_work_mem`` for its transaction, never lowers it, and leaves the
    session's setting alone; the option is checked."""
    from bruno_memory_integrations.backends.postgres import query as pq

    statement = pq.raise_build_memory(700)
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        before = conn.execute("SHOW maintenance_work_mem").fetchone()[0]
        with conn.transaction():
            conn.execute(statement.query, statement.params)
            assert conn.execute("SHOW maintenance_work_mem").fetchone()[0] == "700MB"
        assert conn.execute("SHOW maintenance_work_mem").fetchone()[0] == before
        conn.execute("SET maintenance_work_mem = '2GB'")
        with conn.transaction():
            conn.execute(statement.query, statement.params)
            assert conn.execute("SHOW maintenance_work_mem").fetchone()[0] == "2GB"
    for bad in (-1, 3_000_000):
        with pytest.raises(ConfigurationError, match="index_build_memory_mb"):
            open_store(postgres_url, schema=schema, index_build_memory_mb=bad)
    # A deferred build with the option off and on leaves the same index.
    for mb in (0, 128):
        with open_store(postgres_url, schema=schema, index_build_memory_mb=mb) as s:
            name = f"mem{mb}"
            s.ensure_collection(name, dimension=4)
            recs = [
                Record(f"r{i}", "", [float(i % 7), 1.0, float(i % 3), 0.5], {"i": i})
                for i in range(200)
            ]

            def vector_indexes(name: str = name) -> list[str]:
                return [
                    d
                    for (d,) in admin.execute(
                        "SELECT indexdef FROM pg_indexes WHERE schemaname = %s AND tablename = %s",
                        [schema, table_name(name)],
                    ).fetchall()
                    if "embedding" in d
                ]

            s.upsert(name, recs)
            assert vector_indexes() == []  # a first COPY batch leaves the index pending
            assert s.search(name, [1.0, 1.0, 1.0, 0.5], k=3)  # ... and the search builds it
            (vec,) = vector_indexes()
            assert "USING hnsw" in vec
