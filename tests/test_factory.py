"""create_backend by name with the guides' options, BackendConfig, and open_store()'s default."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import pytest

from bruno_memory_integrations import (
    BackendConfig,
    ConfigurationError,
    Record,
    UnknownBackendError,
    create_backend,
    open_store,
)
from bruno_memory_integrations.factory import FACTORY, build_url, factory_names
from bruno_memory_integrations.registry import DEFAULT_URL, available_backends


def _roundtrip(store: Any) -> None:
    coll = f"f{os.urandom(4).hex()}"
    store.upsert(coll, [Record("a", "hello", [1.0, 0.0], {"k": 1})])
    assert [r.id for r in store.get(coll, ["a"])] == ["a"]
    store.drop_collection(coll)


# ---------------------------------------------------------------- URLs the options make
@pytest.mark.parametrize(
    ("name", "options", "url", "rest"),
    [
        ("sqlite", {"database_path": ":memory:", "enable_fts": True}, "sqlite://:memory:", {}),
        ("sqlite", {"database_path": "./memory.db"}, "sqlite:///./memory.db", {}),
        ("sqlite", {"database_path": "/abs/m.db", "timeout": 5}, "sqlite:////abs/m.db",
         {"timeout": 5}),
        ("sqlite", {}, DEFAULT_URL, {}),
        ("postgresql", {"connection_string": "postgresql://u:p@h/db", "pool_size": 20},
         "postgresql://u:p@h/db", {"pool_size": 20}),
        ("postgres", {"host": "db", "user": "app", "password": "p@ss", "database": "mem"},
         "postgresql://app:p%40ss@db:5432/mem", {}),
        ("redis", {"host": "cache", "port": 6380, "db": 2, "ttl": 3600},
         "redis://cache:6380/2", {"default_ttl": 3600}),
        ("redis", {"host": "cache", "password": "s3cret", "ssl": True},
         "rediss://:s3cret@cache:6379/0", {}),
        ("qdrant", {"host": "q", "port": 6333, "collection_name": "memories"},
         "qdrant://q:6333", {"prefix": "memories"}),
        ("qdrant", {"url": "https://q.cloud:6333", "api_key": "K"}, "qdrants://q.cloud:6333",
         {"api_key": "K"}),
        ("qdrant", {"location": ":memory:"}, "qdrant://:memory:", {}),
        ("weaviate", {"host": "w", "port": 8080, "collection_name": "Mem"}, "weaviate://w:8080",
         {"prefix": "Mem"}),
        ("chromadb", {"persist_directory": "/data/chroma"}, "chroma:////data/chroma", {}),
        ("chromadb", {"host": "c", "port": 8000}, "chroma+http://c:8000", {}),
        ("milvus", {"uri": "file.db"}, "milvus:///file.db", {}),
        ("milvus", {"host": "m"}, "milvus://m:19530", {}),
        ("milvus", {"uri": "http://m:19530"}, "milvus://m:19530", {}),
        ("pinecone", {"host": "idx-abc.svc.pinecone.io", "api_key": "K"},
         "pinecone://idx-abc.svc.pinecone.io", {"api_key": "K"}),
    ],
)
def test_guide_options_make_the_url(
    name: str, options: dict[str, Any], url: str, rest: dict[str, Any]
) -> None:
    assert build_url(name, options) == (url, rest)


def test_every_registered_backend_has_a_factory_entry() -> None:
    assert set(available_backends()) <= set(FACTORY)
    assert {"chroma", "milvus", "pinecone"} <= set(FACTORY)


def test_factory_option_lists_match_the_backends_own() -> None:
    """The table's pass-through options are exactly what the backends accept (no drift)."""
    from bruno_memory_integrations.backends.postgres.options import PostgresOptions
    from bruno_memory_integrations.backends.sqlite.options import KNOWN

    assert set(FACTORY["sqlite"].backend_options or ()) == set(KNOWN)
    assert set(FACTORY["postgresql"].backend_options or ()) == set(PostgresOptions.names())
    pytest.importorskip("redis")
    from bruno_memory_integrations.backends.redis.options import OUR_OPTIONS

    assert set(OUR_OPTIONS) <= set(FACTORY["redis"].backend_options or ())
    pytest.importorskip("qdrant_client")
    from bruno_memory_integrations.backends.qdrant import options as qopts

    assert set(qopts.OUR_OPTIONS) | set(qopts._CLIENT_OPTIONS) - {"https"} <= set(
        FACTORY["qdrant"].backend_options or ()
    )


# ---------------------------------------------------------------- opening real stores
def test_sqlite_in_memory_and_on_disk(tmp_path: Path) -> None:
    with create_backend("sqlite", database_path=":memory:", enable_fts=True) as s:
        assert s.backend_name == "sqlite" and s.capabilities.keyword_search
        _roundtrip(s)
    path = tmp_path / "memory.db"
    with create_backend("sqlite", database_path=str(path)) as s:
        _roundtrip(s)
        s.upsert("kept", [Record("x", "t", [0.0, 1.0])])
    with open_store(f"sqlite:///{path}") as s:  # the same database through its URL
        assert s.count("kept") == 1


def test_memory_by_name() -> None:
    with create_backend("memory") as s:
        _roundtrip(s)


def test_postgresql_by_connection_string(postgres_url: str) -> None:
    pytest.importorskip("psycopg")
    with create_backend("postgresql", connection_string=postgres_url, pool_size=3) as s:
        assert s.backend_name == "postgresql"
        assert s.backend.options.pool_size == 3  # type: ignore[attr-defined]
        _roundtrip(s)


def test_redis_by_host_port_db_and_ttl(redis_url: str) -> None:
    pytest.importorskip("redis")
    from urllib.parse import urlsplit

    parts = urlsplit(redis_url)
    with create_backend("redis", host=parts.hostname, port=parts.port, db=0, ttl=3600) as s:
        assert s.backend_name == "redis" and s.default_ttl == 3600.0
        _roundtrip(s)


def test_qdrant_local_mode_with_collection_name(tmp_path: Path) -> None:
    pytest.importorskip("qdrant_client")
    with create_backend("qdrant", path=str(tmp_path / "q"), collection_name="memories") as s:
        _roundtrip(s)
        assert s.backend.prefix == "memories"  # type: ignore[attr-defined]


# ---------------------------------------------------------------- typed errors
def test_unknown_backend_lists_the_valid_names() -> None:
    with pytest.raises(UnknownBackendError) as info:
        create_backend("mongodb", host="x")
    for name in ("sqlite", "postgresql", "redis", "qdrant", "chromadb", "milvus", "pinecone"):
        assert name in str(info.value)
    assert factory_names() == sorted(factory_names())


def test_unknown_option_lists_the_valid_ones_before_anything_opens(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as info:
        create_backend("sqlite", database_path=str(tmp_path / "x.db"), pool_size=3)
    text = str(info.value)
    assert "pool_size" in text and "database_path" in text and "enable_fts" in text
    assert not (tmp_path / "x.db").exists()
    with pytest.raises(ConfigurationError, match=r"valid options: .*connection_string"):
        create_backend("postgresql", conection_string="postgresql://h/db")


def test_options_that_cannot_be_honoured_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="FTS5"):
        create_backend("sqlite", database_path=":memory:", enable_fts=False)
    with pytest.raises(ConfigurationError, match="not both"):
        create_backend("postgresql", connection_string="postgresql://h/db", host="other")
    with pytest.raises(ConfigurationError, match="port"):
        create_backend("redis", host="h", port="http")
    with pytest.raises(ConfigurationError, match="give one"):
        create_backend("qdrant", location=":memory:", collection_name="a", prefix="b")


@pytest.mark.parametrize(
    ("name", "option", "driver", "scheme"),
    [
        ("chromadb", "persist_directory", "chromadb", "chroma"),
        ("milvus", "uri", "milvus_lite", "milvus"),
    ],
)
def test_embedded_vector_databases_open_from_the_guides_names(
    name: str, option: str, driver: str, scheme: str, tmp_path: Path
) -> None:
    """The factory's entries for the later backends open the same store as their URL."""
    pytest.importorskip(driver, reason=f"the {scheme} extra is not installed")
    target = tmp_path / ("milvus.db" if scheme == "milvus" else "chroma")
    with create_backend(name, **{option: str(target)}) as s:
        assert s.backend_name == scheme
        _roundtrip(s)


# ---------------------------------------------------------------- BackendConfig
def test_config_builders_are_immutable_and_open_the_same_store(tmp_path: Path) -> None:
    base = BackendConfig("sqlite", str(tmp_path / "c.db"))
    tuned = base.with_option("timeout", 5).with_options(knn="numpy")
    assert base.options == {} and tuned.options == {"timeout": 5, "knn": "numpy"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        base.type = "redis"  # type: ignore[misc]
    with tuned.open() as s:
        _roundtrip(s)
        s.upsert("kept", [Record("x", "t", [0.0, 1.0])])
    with open_store(tuned) as s:  # open_store takes a config too
        assert s.count("kept") == 1
    assert tuned.url() == f"sqlite:///{tmp_path / 'c.db'}"


def test_config_from_dict_flat_and_nested() -> None:
    a = BackendConfig.from_dict({"type": "redis", "endpoint": "h:6380", "options": {"ttl": 60}})
    b = BackendConfig.from_dict({"type": "redis", "endpoint": "h:6380", "ttl": 60})
    assert a == b
    assert build_url("redis", a.create_options()) == ("redis://h:6380/0", {"default_ttl": 60})
    with pytest.raises(ConfigurationError, match="type"):
        BackendConfig.from_dict({"endpoint": "x"})
    with pytest.raises(UnknownBackendError, match="valid names"):
        BackendConfig.from_dict({"type": "nosuch"})
    with pytest.raises(ConfigurationError, match="not a redis URL") as info:
        BackendConfig("redis", "postgresql://app:hunter2@db/app")
    assert "hunter2" not in str(info.value)


def test_config_from_toml(tmp_path: Path) -> None:
    path = tmp_path / "bruno.toml"
    path.write_text(
        '[store]\ntype = "postgresql"\nendpoint = "db.internal:5433"\napi_key = "pw"\n'
        "[store.options]\npool_size = 20\ndatabase = \"app\"\nuser = \"app\"\n",
        encoding="utf-8",
    )
    config = BackendConfig.from_toml(path)
    assert config.options == {"pool_size": 20, "database": "app", "user": "app"}
    assert config.url() == "postgresql://app:pw@db.internal:5433/app"
    with pytest.raises(ConfigurationError, match=r"no \[other\] table"):
        BackendConfig.from_toml(path, table="other")
    bad = tmp_path / "bad.toml"
    bad.write_text("[store\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="not valid TOML"):
        BackendConfig.from_toml(bad)


def test_config_from_env() -> None:
    env = {
        "BRUNO_MEMORY_BACKEND": "qdrant",
        "BRUNO_MEMORY_ENDPOINT": "q.internal:6334",
        "BRUNO_MEMORY_API_KEY": "topsecret",
        "BRUNO_MEMORY_OPTION_COLLECTION_NAME": "memories",
        "BRUNO_MEMORY_OPTION_PREFER_GRPC": "true",
    }
    config = BackendConfig.from_env(env)
    assert config.create_options() == {
        "collection_name": "memories", "prefer_grpc": True, "host": "q.internal", "port": 6334,
        "api_key": "topsecret",
    }
    only_url = BackendConfig.from_env({"BRUNO_MEMORY_URL": "rediss://:pw@h:6380/1"})
    assert only_url.type == "redis" and only_url.url() == "rediss://:pw@h:6380/1"
    with pytest.raises(ConfigurationError, match="BRUNO_MEMORY_BACKEND"):
        BackendConfig.from_env({})


def test_repr_never_shows_a_secret() -> None:
    config = BackendConfig(
        "postgresql", "postgresql://app:hunter2@db/app", "k3y-value",
        {"password": "pw-value", "token": "tok-value", "pool_size": 5,
         "dsn": "redis://:url-secret@h/0"},
    )
    for text in (repr(config), str(config), f"{config}", repr([config])):
        for secret in ("hunter2", "k3y-value", "pw-value", "tok-value", "url-secret"):
            assert secret not in text, text
    assert "pool_size': 5" in repr(config) and "db/app" in repr(config)


# ---------------------------------------------------------------- open_store() default
def test_open_store_default_is_env_then_sqlite_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BRUNO_MEMORY_URL", raising=False)
    with open_store() as s:
        assert s.backend_name == "sqlite"
        _roundtrip(s)
    assert (tmp_path / "bruno_memory.db").exists()
    other = tmp_path / "other.db"
    monkeypatch.setenv("BRUNO_MEMORY_URL", f"sqlite:///{other}")
    with open_store() as s:
        _roundtrip(s)
    assert other.exists()
    monkeypatch.setenv("BRUNO_MEMORY_URL", "memory://")
    with open_store() as s:
        assert s.backend_name == "memory"
