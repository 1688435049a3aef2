"""This package against the official LangChain integrations and the raw drivers, per store.

Run on demand (needs the ``bench`` extra: langchain-postgres, langchain-redis,
langchain-community, sqlite-vec):

    .venv/bin/python benchmarks/compare.py [--records 20000] [--queries 50]
        [--stores postgres,redis,sqlite]

PostgreSQL and Redis come from BRUNO_TEST_POSTGRES_URL / BRUNO_TEST_REDIS_URL, or are
started here the way the test suite starts them. Every contender gets the same
random unit vectors (384-d, the worst case for HNSW), the same metadata and the same
queries: filtered top-10 (``topic == t3 and year >= 2010``, about 5 % of the records)
and unfiltered top-10. Ingest is timed at the batch sizes the frameworks use (LangChain's
``add_texts`` writes 256 at a time, LlamaIndex 2048, the migration tool 500) and includes
the first search, which builds an index a load left pending. Recall@10 is measured
against exact search (numpy). One table per store, ratios against the official
integration measured in the same run. The machine is shared and noisy: read ratios.
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

from bruno_memory_integrations import Record, open_store  # noqa: E402

DIM = 384
FILTER = {"topic": "t3", "year": {"$gte": 2010}}


class Data:
    def __init__(self, n: int, queries: int) -> None:
        rng = np.random.default_rng(42)
        v = rng.standard_normal((n, DIM)).astype(np.float32)
        self.vecs = v / np.linalg.norm(v, axis=1, keepdims=True)
        q = rng.standard_normal((queries, DIM)).astype(np.float32)
        self.queries = q / np.linalg.norm(q, axis=1, keepdims=True)
        self.ids = [f"d{i:07d}" for i in range(n)]
        self.texts = [f"document {i} about topic {i % 16}" for i in range(n)]
        self.meta = [{"topic": f"t{i % 16}", "year": 1990 + (i * 7919) % 35} for i in range(n)]
        self.match = np.array([m["topic"] == "t3" and m["year"] >= 2010 for m in self.meta])

    def truth(self, q: np.ndarray, filtered: bool) -> list[set[str]]:
        dist = 1.0 - self.vecs @ q
        if filtered:
            dist = np.where(self.match, dist, np.inf)
        return [{self.ids[i] for i in np.argsort(dist, kind="stable")[:10]}]


Search = Callable[[np.ndarray, bool], list[str]]


def measure(data: Data, search: Search, filtered: bool) -> tuple[float, float, float]:
    """(p50 ms, p95 ms, recall@10) over the queries."""
    search(data.queries[0], filtered)  # warm
    lat, rec = [], []
    for q in data.queries:
        t = time.perf_counter()
        got = search(q, filtered)
        lat.append((time.perf_counter() - t) * 1000)
        rec.append(len(data.truth(q, filtered)[0] & set(got)) / 10)
    lat.sort()
    return statistics.median(lat), lat[int(0.95 * (len(lat) - 1))], float(np.mean(rec))


Row = dict[str, Any]


def row(name: str, ingest: float | None, data: Data, search: Search | None) -> Row:
    out: Row = {"name": name, "ingest": ingest}
    for filtered in (True, False):
        key = "f" if filtered else "u"
        try:
            out[key] = measure(data, search, filtered) if search else None
        except NotImplementedError:
            out[key] = None
    return out


# ---------------------------------------------------------------- ours
def ours(url: str, data: Data, batches: list[int], label: str) -> list[Row]:
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
def redis_rows(url: str, data: Data) -> list[Row]:
    rows = ours(url, data, [256, 2048], "bruno")
    rows.insert(0, redis_official(url, data))
    rows.append(redis_raw(url, data))
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
def table(title: str, rows: list[Row]) -> str:
    base = rows[0]

    def ratio(x: float | None, b: float | None) -> str:
        return f"{x / b:.2f}" if x is not None and b else "-"

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
            f"{r['ingest']:.1f}" if r["ingest"] is not None else "-",
            ratio(r["ingest"], base["ingest"]),
            f"{f[0]:.1f}" if f else "n/a",
            f"{f[1]:.1f}" if f else "n/a",
            ratio(f[0] if f else None, fb[0] if fb else None),
            f"{f[2]:.2f}" if f else "n/a",
            f"{u[0]:.1f}" if u else "n/a",
            ratio(u[0] if u else None, ub[0] if ub else None),
            f"{u[2]:.2f}" if u else "n/a",
        ]
        out.append("| " + " | ".join(cells) + " |")
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
    args = parser.parse_args()
    kinds = args.stores.split(",")
    data = Data(args.records, args.queries)
    print(
        f"{args.records} records x {DIM} random unit vectors, {args.queries} queries; filter "
        f"matches {data.match.mean():.1%}. Ratios against the first row (the official "
        "integration, default settings) in this run.\n"
    )
    with servers(kinds) as urls, tempfile.TemporaryDirectory() as workdir:
        if "postgres" in kinds:
            pg = postgres(urls["postgres"], data)
            print(table("PostgreSQL (pgvector)", pg), "\n", flush=True)
        if "redis" in kinds:
            print(table("Redis (Search)", redis_rows(urls["redis"], data)), "\n", flush=True)
        if "sqlite" in kinds:
            print(table("SQLite", sqlite_rows(data, workdir)), "\n", flush=True)


if __name__ == "__main__":
    main()
