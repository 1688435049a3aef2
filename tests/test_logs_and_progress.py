"""Standard logging (logs.py) and the opt-in progress bars of the adapters' bulk adds."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding
from llama_index.core import Document, StorageContext, VectorStoreIndex
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.schema import TextNode

from bruno_memory_integrations import Store, open_store
from bruno_memory_integrations.langchain import BrunoVectorStore as LangChainStore
from bruno_memory_integrations.llama_index import BrunoVectorStore as LlamaStore
from bruno_memory_integrations.logs import (
    SLOW_SECONDS_ENV,
    backend_logger,
    get_logger,
    log_slow,
    redact_url,
    slow_threshold,
)

TEXTS = [f"text number {i}" for i in range(5)]
IDS = [f"t{i}" for i in range(5)]


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Store:
    store = open_store(f"sqlite:///{tmp_path}/p.db")
    yield store
    store.close()


# ----------------------------------------------------------------------------- logs.py
def test_logger_names() -> None:
    assert backend_logger("postgres").name == "bruno_memory_integrations.backends.postgres"
    assert get_logger("cli").name == "bruno_memory_integrations.cli"
    assert get_logger().name == "bruno_memory_integrations"


def test_log_slow_warns_above_the_threshold_and_debugs_below(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = backend_logger("sqlite")
    caplog.set_level(logging.DEBUG, logger=log.name)
    with log_slow(log, "upsert", threshold=0.0, collection="docs", records=3):
        pass
    with log_slow(log, "count", threshold=60.0, collection="docs"):
        pass
    (slow, fast) = caplog.records
    assert slow.levelno == logging.WARNING and slow.name == log.name
    assert slow.getMessage().startswith("slow upsert: ")
    assert slow.getMessage().endswith("(threshold 0.000 s) collection=docs records=3")
    assert fast.levelno == logging.DEBUG and fast.getMessage().startswith("count: ")


def test_log_slow_reports_a_failure_and_lets_it_through(caplog: pytest.LogCaptureFixture) -> None:
    log = backend_logger("redis")
    with pytest.raises(ZeroDivisionError), log_slow(log, "search", threshold=0.0):
        1 / 0  # noqa: B018
    assert "slow search failed" in caplog.records[-1].getMessage()


def test_slow_threshold_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SLOW_SECONDS_ENV, raising=False)
    assert slow_threshold() == 1.0
    monkeypatch.setenv(SLOW_SECONDS_ENV, "0.25")
    assert slow_threshold() == 0.25
    for bad in ("soon", "-1"):
        monkeypatch.setenv(SLOW_SECONDS_ENV, bad)
        assert slow_threshold() == 1.0


@pytest.mark.parametrize(
    "url, shown",
    [
        ("postgresql://app:s3cret@db:5432/app", "postgresql://app:***@db:5432/app"),
        ("rediss://:s3cret@cache:6380/0", "rediss://:***@cache:6380/0"),
        ("redis://cache:6379/0?password=s3cret&ssl=1", "redis://cache:6379/0?password=***&ssl=1"),
        ("postgresql://app@db/app", "postgresql://app@db/app"),
        ("sqlite:///memory.db", "sqlite:///memory.db"),
        ("memory://", "memory://"),
    ],
)
def test_redact_url_hides_passwords(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    assert "s3cret" not in redact_url(url)


# ----------------------------------------------------------------------------- LangChain
def test_langchain_bulk_add_progress_is_opt_in(
    sqlite_store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    vs = LangChainStore(DeterministicFakeEmbedding(size=8), store=sqlite_store, collection="docs")
    vs.add_texts(TEXTS, ids=IDS, batch_size=2)
    assert capsys.readouterr().err == ""
    vs.add_texts(TEXTS, ids=IDS, batch_size=2, show_progress=True)
    err = capsys.readouterr().err
    assert "adding to docs: 100%" in err and "5/5" in err
    on = LangChainStore(
        DeterministicFakeEmbedding(size=8), store=sqlite_store, collection="docs",
        show_progress=True,
    )
    on.add_documents([])  # an empty add draws an empty bar and writes nothing
    on.add_texts(TEXTS[:3], ids=IDS[:3], show_progress=False)
    assert "3/3" not in capsys.readouterr().err
    assert sqlite_store.count("docs") == 5


async def test_langchain_async_add_progress(
    sqlite_store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    vs = LangChainStore(
        DeterministicFakeEmbedding(size=8), store=sqlite_store, collection="adocs",
        show_progress=True,
    )
    await vs.aadd_texts(TEXTS, batch_size=3)
    assert "adding to adocs: 100%" in capsys.readouterr().err
    assert await sqlite_store.acount("adocs") == 5


def test_langchain_slow_write_is_logged(
    sqlite_store: Store, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SLOW_SECONDS_ENV, "0")
    vs = LangChainStore(DeterministicFakeEmbedding(size=8), store=sqlite_store, collection="docs")
    with caplog.at_level(logging.WARNING, logger="bruno_memory_integrations.langchain"):
        vs.add_texts(TEXTS, batch_size=5)
    (rec,) = [r for r in caplog.records if r.name == "bruno_memory_integrations.langchain"]
    assert "slow upsert" in rec.getMessage() and "collection=docs records=5" in rec.getMessage()


# ----------------------------------------------------------------------------- LlamaIndex
def _nodes(n: int) -> list[TextNode]:
    return [TextNode(id_=f"n{i}", text=f"node {i}", embedding=[1.0, float(i)]) for i in range(n)]


def test_llama_index_add_batches_and_progress(
    sqlite_store: Store, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    writes: list[int] = []
    upsert = sqlite_store.upsert

    def counting_upsert(collection: str, records: list, **kw: object) -> list[str]:
        writes.append(len(records))
        return upsert(collection, records, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(sqlite_store, "upsert", counting_upsert)
    vs = LlamaStore(sqlite_store, collection="nodes", batch_size=4)
    assert vs.add(_nodes(10)) == [f"n{i}" for i in range(10)]
    assert writes == [4, 4, 2] and capsys.readouterr().err == ""
    vs.add(_nodes(10), show_progress=True)
    err = capsys.readouterr().err
    assert "adding to nodes: 100%" in err and "10/10" in err
    assert sqlite_store.count("nodes") == 10


def test_llama_index_progress_during_an_index_build(
    sqlite_store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    vs = LlamaStore(sqlite_store, collection="idx", show_progress=True)
    ctx = StorageContext.from_defaults(vector_store=vs)
    VectorStoreIndex.from_documents(
        [Document(text=t) for t in TEXTS], storage_context=ctx, embed_model=MockEmbedding(8)
    )
    assert "adding to idx: 100%" in capsys.readouterr().err
    assert sqlite_store.count("idx") == 5


async def test_llama_index_async_add_progress(
    sqlite_store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    vs = LlamaStore(sqlite_store, collection="anodes", batch_size=3, show_progress=True)
    await vs.async_add(_nodes(7))
    assert "7/7" in capsys.readouterr().err
    assert await sqlite_store.acount("anodes") == 7


def test_llama_index_rejects_a_bad_batch_size(sqlite_store: Store) -> None:
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        LlamaStore(sqlite_store, batch_size=0)


# ---------------------------------------------------------------- every backend's operations
def test_every_backend_operation_is_timed_under_its_backend_logger(
    store: Store, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bruno_memory_integrations import Record

    caplog.set_level(logging.DEBUG, logger="bruno_memory_integrations")
    # Timed at DEBUG, whatever the machine's load (above the threshold it is a warning).
    monkeypatch.setenv("BRUNO_MEMORY_SLOW_SECONDS", "3600")
    store.upsert("logged", [Record("a", "t", [1.0, 0.0], {})])
    store.get("logged", ["a"])
    folder = type(store.backend).__module__.split(".")[2]
    name = f"bruno_memory_integrations.backends.{folder}"
    timed = [r for r in caplog.records if r.name == name and r.levelno == logging.DEBUG]
    assert {r.getMessage().split(":")[0] for r in timed} >= {"upsert", "get"}
    caplog.clear()
    monkeypatch.setenv("BRUNO_MEMORY_SLOW_SECONDS", "0")  # everything is slow now
    store.count("logged")
    slow = [r for r in caplog.records if r.name == name and r.levelno == logging.WARNING]
    assert slow and slow[0].getMessage().startswith("slow count")
    store.drop_collection("logged")


async def test_async_backend_operations_are_timed_too(
    store: Store, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.DEBUG, logger="bruno_memory_integrations")
    # A loaded machine may take a second here: keep it below the slow threshold.
    monkeypatch.setenv("BRUNO_MEMORY_SLOW_SECONDS", "3600")
    await store.alist_collections()
    assert any(r.getMessage().startswith("list_collections") for r in caplog.records)


async def test_a_failing_backend_call_is_logged_as_failed_and_raised(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A backend call that raises is timed and logged with ``failed`` (sync and async),
    and the error reaches the caller unchanged."""
    from bruno_memory_integrations import BackendError

    store = open_store("memory://")

    def broken(*args: object, **kwargs: object) -> int:
        raise BackendError("the server went away")

    monkeypatch.setattr(store.backend, "kv_get", broken)
    caplog.set_level(logging.DEBUG, logger="bruno_memory_integrations")
    monkeypatch.setenv(SLOW_SECONDS_ENV, "3600")
    with pytest.raises(BackendError, match="went away"):
        store.kv_mget("c", ["k"])
    with pytest.raises(BackendError, match="went away"):
        await store.akv_mget("c", ["k"])
    failed = [r.getMessage() for r in caplog.records if "failed" in r.getMessage()]
    assert len(failed) == 2 and all(m.startswith("broken failed: ") for m in failed)
    caplog.clear()
    monkeypatch.setenv(SLOW_SECONDS_ENV, "0")
    with pytest.raises(BackendError):
        store.kv_mget("c", ["k"])
    (rec,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert rec.getMessage().startswith("slow broken failed: ")
