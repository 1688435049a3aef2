"""The server fixtures give real, working PostgreSQL + pgvector and Redis Stack."""

from __future__ import annotations

import struct
import uuid

import pytest

try:
    from servers import PostgresServer, RedisServer, ServerUnavailable
except ImportError:  # tests/ imported as a package
    from tests.servers import (  # type: ignore[no-redef]
        PostgresServer,
        RedisServer,
        ServerUnavailable,
    )

psycopg = pytest.importorskip("psycopg")
redis = pytest.importorskip("redis")


def _unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def _f32(vector: list[float]) -> bytes:
    return struct.pack(f"<{len(vector)}f", *vector)


# -- PostgreSQL ----------------------------------------------------------------


def test_postgres_pgvector_distance_query(postgres_url: str) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        version = conn.execute(
            "SELECT extversion FROM pg_extension WHERE extname = 'vector'"
        ).fetchone()
        assert version is not None
        conn.execute("CREATE TEMP TABLE items (id int PRIMARY KEY, embedding vector(3))")
        conn.execute("INSERT INTO items VALUES (1, '[1,0,0]'), (2, '[0,1,0]'), (3, '[0.9,0.1,0]')")
        conn.execute("CREATE INDEX ON items USING hnsw (embedding vector_cosine_ops)")
        rows = conn.execute(
            "SELECT id, embedding <-> %s::vector AS d FROM items ORDER BY d LIMIT 2",
            ("[1,0,0]",),
        ).fetchall()
        assert [row[0] for row in rows] == [1, 3]
        assert rows[0][1] == pytest.approx(0.0)
        cosine = conn.execute("SELECT embedding <=> '[0,2,0]' FROM items WHERE id = 2").fetchone()
        assert cosine is not None and cosine[0] == pytest.approx(0.0)


def test_postgres_restart_keeps_data(postgres_server: PostgresServer) -> None:
    url = postgres_server.url
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        conn.execute("CREATE TABLE kept (id int, embedding vector(2))")
        conn.execute("INSERT INTO kept VALUES (1, '[1,2]')")

    postgres_server.stop()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=2).close()

    postgres_server.start()
    assert postgres_server.url == url
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT id, embedding::text FROM kept").fetchall() == [(1, "[1,2]")]

    postgres_server.restart()
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM kept").fetchone() == (1,)


# -- Redis -----------------------------------------------------------------------


def test_redis_vector_search_knn(redis_url: str) -> None:
    from redis.commands.search.query import Query

    client = redis.Redis.from_url(redis_url)
    index = _unique("test_servers_idx")
    prefix = f"{index}:"
    client.execute_command(
        "FT.CREATE", index, "ON", "HASH", "PREFIX", "1", prefix,
        "SCHEMA",
        "tag", "TAG",
        "embedding", "VECTOR", "FLAT", "6", "TYPE", "FLOAT32", "DIM", "3",
        "DISTANCE_METRIC", "L2",
    )  # fmt: skip
    try:
        assert index.encode() in client.execute_command("FT._LIST")
        vectors = {"a": [1.0, 0.0, 0.0], "b": [0.0, 1.0, 0.0], "c": [0.9, 0.1, 0.0]}
        for key, vector in vectors.items():
            client.hset(f"{prefix}{key}", mapping={"tag": "x", "embedding": _f32(vector)})
        query = (
            Query("(@tag:{x})=>[KNN 2 @embedding $vec AS score]")
            .sort_by("score")
            .return_fields("score")
            .dialect(2)
        )
        result = client.ft(index).search(query, query_params={"vec": _f32([1.0, 0.0, 0.0])})
        assert [doc.id for doc in result.docs] == [f"{prefix}a", f"{prefix}c"]
        assert float(result.docs[0].score) == pytest.approx(0.0)
    finally:
        client.execute_command("FT.DROPINDEX", index, "DD")
        client.close()


def test_redis_restart_keeps_data_with_appendonly(redis_server: RedisServer) -> None:
    assert redis_server.appendonly
    url = redis_server.url
    client = redis.Redis.from_url(url)
    client.execute_command(
        "FT.CREATE", "kept_idx", "ON", "HASH", "PREFIX", "1", "kept:",
        "SCHEMA", "embedding", "VECTOR", "FLAT", "6", "TYPE", "FLOAT32", "DIM", "2",
        "DISTANCE_METRIC", "COSINE",
    )  # fmt: skip
    client.set("plain", "value")
    client.hset("kept:1", mapping={"embedding": _f32([1.0, 0.0])})
    client.close()

    redis_server.stop()
    with pytest.raises(redis.ConnectionError):
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()

    redis_server.start()
    assert redis_server.url == url
    client = redis.Redis.from_url(url)
    try:
        assert client.get("plain") == b"value"
        assert b"kept_idx" in client.execute_command("FT._LIST")
        info = client.ft("kept_idx").info()
        assert int(info["num_docs"]) == 1
    finally:
        client.close()


# -- helpers ---------------------------------------------------------------------


def test_missing_programs_raise_server_unavailable(tmp_path) -> None:
    with pytest.raises(ServerUnavailable, match=r"\./dev setup"):
        PostgresServer(bin_dir=tmp_path).start()
    with pytest.raises(ServerUnavailable, match=r"\./dev setup"):
        RedisServer(stack_dir=tmp_path).start()
