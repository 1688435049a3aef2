"""Migration between every pair of stores the test session can start, and resuming.

* ``test_pair``: every ordered pair of different backends (memory, SQLite, PostgreSQL,
  Redis, Qdrant local mode on disk, the Weaviate stand-in): two collections with their
  metric and model, chat sessions with every message field, key-value bytes; then
  ``verify`` and a field-by-field comparison with the source.
* Interruptions in-process (a destination that fails after some writes) and a real
  ``kill -9`` of a ``bruno-memory migrate`` process, twice, then a run that resumes and
  verifies: no record, message or key lost or duplicated.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bruno_memory_integrations import (
    CollectionMismatchError,
    DimensionMismatchError,
    InvalidMetadataError,
    Record,
    Store,
    migrate,
    open_store,
    verify_migration,
)
from bruno_memory_integrations.migration import (
    CHECKPOINTS,
    canonical_json,
    messages_checksum,
    record_checksum,
    value_checksum,
)

try:
    from stores import store_url_for
except ImportError:  # tests/ imported as a package
    from tests.stores import store_url_for  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parents[1]
KINDS = ["memory", "sqlite", "postgres", "redis", "qdrant", "weaviate", "chroma", "pinecone"]
PAIRS = [(a, b) for a in KINDS for b in KINDS if a != b]


def _opener(kind: str, request: pytest.FixtureRequest, folder: Path) -> Callable[[], Store]:
    """Opens new Store objects over one database of ``kind`` kept in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    if kind == "memory":
        name = uuid.uuid4().hex
        return lambda: open_store("memory://", name=name)
    if kind == "qdrant":  # local mode on disk: one process at a time, like a file
        pytest.importorskip("qdrant_client", reason="the qdrant extra is not installed")
        return lambda: open_store(f"qdrant:///{folder / 'qdrant'}")
    if kind == "weaviate":
        pytest.importorskip("weaviate", reason="the weaviate extra is not installed")
    if kind == "chroma":
        pytest.importorskip("chromadb", reason="the chroma extra is not installed")
    if kind == "pinecone":
        pytest.importorskip("pinecone", reason="the pinecone extra is not installed")
    url = store_url_for(kind, request, folder)
    assert url is not None
    return lambda: open_store(url)


@pytest.fixture
def names() -> dict[str, str]:
    """Names of this test's own, so tests sharing a server never see each other's data."""
    tag = uuid.uuid4().hex[:8]
    return {
        "docs": f"docs_{tag}",
        "notes": f"notes_{tag}",
        "ns": f"chat_{tag}",
        "ns2": f"agents_{tag}",
        "kv": f"kv_{tag}",
    }


def _fill(store: Store, n: dict[str, str], records: int = 12) -> None:
    store.upsert(
        n["docs"],
        [
            Record(
                f"id-{i:03d} ünïcode",
                f"text {i}: l'été \"quoted\" 🚀",
                [0.5 + i, -1.25, 1e-3 * (i + 1), 3.0],
                {"i": i, "score": i / 3, "flag": i % 2 == 0, "tags": ["a", f"t{i}"], "none": None},
            )
            for i in range(records)
        ],
        embedding_model="test-model-v1",
    )
    store.ensure_collection(n["notes"], 3, "euclidean", "other-model")
    store.upsert(
        n["notes"], [Record("n1", "", [1.0, 2.0, 3.0], {})], embedding_model="other-model",
    )
    store.append_messages(
        "alice",
        [
            {"role": "user", "content": "Hi, I'm Alice", "id": "m1", "extra": {"lang": "en"}},
            {"role": "ai", "content": "Hello!", "tool_calls": [], "n": 2.5},
            {"role": "user", "content": "ünïcode 🚀", "name": None},
        ],
        namespace=n["ns"],
    )
    store.append_messages("bob", [{"role": "user", "content": "one"}], namespace=n["ns"])
    store.append_messages("bob", [{"role": "ai", "content": "two"}], namespace=n["ns"])
    store.append_messages("agent-1", [{"type": "system", "content": "x"}], namespace=n["ns2"])
    store.kv_mset(n["kv"], [("k1", b"\x00\xffbinary"), ("k/2", "é".encode()), ("k3", b"")])


def _snapshot(store: Store, n: dict[str, str]) -> dict[str, Any]:
    """Everything _fill wrote, read back through the public API, in a comparable form."""
    out: dict[str, Any] = {}
    for c in (n["docs"], n["notes"]):
        info = store.collection_info(c)
        assert info is not None, c
        records = sorted(store.iter_records(c, batch_size=5), key=lambda r: r.id)
        out[c] = (
            (info.dimension, info.metric, info.embedding_model),
            [(r.id, r.text, r.vector, json.loads(canonical_json(r.metadata))) for r in records],
        )
    for ns in (n["ns"], n["ns2"]):
        sessions = store.list_sessions(namespace=ns)
        out[ns] = {s: store.get_messages(s, namespace=ns) for s in sessions}
    keys = store.kv_keys(n["kv"])
    out["kv"] = dict(zip(keys, store.kv_mget(n["kv"], keys), strict=True))
    return out


def _opts(n: dict[str, str]) -> dict[str, Any]:
    return {
        "collections": [n["docs"], n["notes"]],
        "namespaces": [n["ns"], n["ns2"]],
        "kv_collections": [n["kv"]],
    }


@pytest.mark.parametrize(("src_kind", "dst_kind"), PAIRS, ids=[f"{a}-to-{b}" for a, b in PAIRS])
def test_pair(
    src_kind: str,
    dst_kind: str,
    names: dict[str, str],
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    open_src = _opener(src_kind, request, tmp_path / "src")
    open_dst = _opener(dst_kind, request, tmp_path / "dst")
    with open_src() as src, open_dst() as dst:
        _fill(src, names)
        expected = _snapshot(src, names)
        report = migrate(src, dst, **_opts(names), batch_size=5, verify=True)
        assert report.ok and report.verified, report.summary()
        by = {(p.kind, p.name): p for p in report.parts}
        assert by["records", names["docs"]].copied == 12
        assert by["chat", names["ns"]].copied == 5
        assert by["kv", names["kv"]].copied == 3
        assert _snapshot(dst, names) == expected
        assert dst.kv_keys(CHECKPOINTS) == [] or all(
            "migrate-" not in k for k in dst.kv_keys(CHECKPOINTS)
        )  # a finished run leaves no checkpoint
        # Running again changes nothing and duplicates nothing (sessions are replaced).
        again = migrate(src, dst, **_opts(names), batch_size=5, verify=True)
        assert again.verified
        assert _snapshot(dst, names) == expected


# ------------------------------------------------------------------ checksums
def test_checksums_do_not_depend_on_number_spelling_or_key_order() -> None:
    a = Record("x", "t", [0.1, -0.0, 1.0], {"b": 1.0, "a": [1, 2.5], "c": {"z": 1, "y": 2}})
    b = Record(
        "x", "t", [0.10000000149011612, 0.0, 1], {"a": [1.0, 2.5], "c": {"y": 2, "z": 1}, "b": 1}
    )
    assert record_checksum(a) == record_checksum(b)
    # Anything that differs changes it: id, text, vector (beyond float32), metadata.
    for other in (
        Record("y", "t", a.vector, a.metadata),
        Record("x", "T", a.vector, a.metadata),
        Record("x", "t", [0.1, 0.0, 1.0001], a.metadata),
        Record("x", "t", a.vector, {**a.metadata, "b": 2}),
        Record("x", "t", a.vector, {**a.metadata, "d": None}),
    ):
        assert record_checksum(other) != record_checksum(a)
    # Lengths are framed: moving text between fields changes the checksum.
    assert record_checksum(Record("ab", "c", [1.0])) != record_checksum(Record("a", "bc", [1.0]))
    assert messages_checksum([{"a": 1}, {"b": 2}]) != messages_checksum([{"b": 2}, {"a": 1}])
    assert value_checksum("k", b"") != value_checksum("k", None)


# ------------------------------------------------------------------ behaviour
@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[Store, Store]]:
    src = open_store(f"sqlite:///{tmp_path / 'src.db'}")
    dst = open_store(f"sqlite:///{tmp_path / 'dst.db'}")
    yield src, dst
    src.close()
    dst.close()


def test_dry_run_writes_nothing_and_counts(
    pair: tuple[Store, Store], names: dict[str, str]
) -> None:
    src, dst = pair
    _fill(src, names)
    report = migrate(src, dst, **_opts(names), dry_run=True)
    assert [(p.kind, p.source, p.copied) for p in report.parts] == [
        ("records", 12, 0), ("records", 1, 0), ("chat", 5, 0), ("chat", 1, 0), ("kv", 3, 0)
    ]
    assert "would copy 12 of 12 records" in report.summary()
    assert dst.list_collections() == [] and dst.kv_keys(CHECKPOINTS) == []
    assert dst.list_sessions(namespace=names["ns"]) == []


def test_dry_run_finds_records_the_destination_refuses(
    names: dict[str, str], request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    with open_store("memory://") as src, _opener("redis", request, tmp_path)() as dst:
        src.upsert(names["docs"], [Record("a", "", [1.0, 0.0], {"nested": {"x": 1}})])
        with pytest.raises(InvalidMetadataError):
            migrate(src, dst, collections=[names["docs"]], namespaces=[], kv_collections=[],
                    dry_run=True)
        assert names["docs"] not in dst.list_collections()


def test_conflicting_collection_is_refused_before_any_write(
    pair: tuple[Store, Store], names: dict[str, str]
) -> None:
    src, dst = pair
    _fill(src, names)
    dst.ensure_collection(names["docs"], 4, "dot", "test-model-v1")
    with pytest.raises(CollectionMismatchError):
        migrate(src, dst, **_opts(names))
    dst.drop_collection(names["docs"])
    dst.ensure_collection(names["docs"], 8)
    with pytest.raises(DimensionMismatchError):
        migrate(src, dst, **_opts(names))
    assert dst.count(names["docs"]) == 0 and names["notes"] not in dst.list_collections()
    assert dst.list_sessions(namespace=names["ns"]) == []


def test_verify_finds_every_kind_of_difference(
    pair: tuple[Store, Store], names: dict[str, str]
) -> None:
    src, dst = pair
    _fill(src, names)
    assert migrate(src, dst, **_opts(names), verify=True).verified
    dst.upsert(names["docs"], [Record("id-003 ünïcode", "changed", [0.5 + 3, -1.25, 0.004, 3.0])])
    dst.delete(names["docs"], ["id-004 ünïcode"])
    dst.upsert(names["notes"], [Record("extra", "", [0.0, 0.0, 1.0])])
    dst.append_messages("bob", [{"role": "user", "content": "three"}], namespace=names["ns"])
    dst.kv_mset(names["kv"], [("k3", b"x")])
    report = verify_migration(src, dst, **_opts(names))
    assert not report.ok
    by = {p.name: p for p in report.parts}
    assert by[names["docs"]].examples == ["id-003 ünïcode", "id-004 ünïcode"]
    assert (by[names["notes"]].verified, by[names["notes"]].destination) == (False, 2)
    assert by[names["ns"]].examples == ["bob"] and by[names["kv"]].examples == ["k3"]
    assert by[names["ns2"]].verified is True
    assert "VERIFY FAILED" in report.summary()


class _Crash(Exception):
    pass


def _fail_after(store: Store, method: str, calls: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``store.method`` raise on its ``calls``-th call (the earlier ones succeed)."""
    real = getattr(store, method)
    seen = [0]

    def flaky(*args: Any, **kwargs: Any) -> Any:
        seen[0] += 1
        if seen[0] >= calls:
            raise _Crash(method)
        return real(*args, **kwargs)

    monkeypatch.setattr(store, method, flaky)


def test_interrupted_runs_resume_without_duplicates(
    pair: tuple[Store, Store], names: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    src, dst = pair
    _fill(src, names, records=40)
    src.append_messages("carol", [{"role": "user", "content": str(i)} for i in range(9)],
                        namespace=names["ns"])
    expected = _snapshot(src, names)
    # 1. Stopped in the middle of the first collection (after 2 pages of 5).
    _fail_after(dst, "upsert", 3, monkeypatch)
    with pytest.raises(_Crash):
        migrate(src, dst, **_opts(names), batch_size=5)
    monkeypatch.undo()
    assert dst.count(names["docs"]) == 10
    # 2. Stopped in the middle of a session's appends (carol: 9 messages in pages of 5).
    _fail_after(dst, "append_messages", 4, monkeypatch)  # alice 1, bob 1, carol 1 + crash
    with pytest.raises(_Crash):
        report = migrate(src, dst, **_opts(names), batch_size=5)
    monkeypatch.undo()
    assert len(dst.get_messages("carol", namespace=names["ns"])) == 5
    # 3. The rerun finishes: resumed parts, nothing twice.
    report = migrate(src, dst, **_opts(names), batch_size=5, verify=True)
    assert report.verified, report.summary()
    by = {p.name: p for p in report.parts}
    assert by[names["docs"]].resumed and by[names["docs"]].copied == 0  # done in run 2
    assert by[names["ns"]].resumed and by[names["ns"]].copied == 9  # carol, replaced whole
    assert _snapshot(dst, names) == expected
    assert dst.kv_keys(CHECKPOINTS) == []


def test_local_state_file_and_restart(
    pair: tuple[Store, Store], names: dict[str, str], monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    src, dst = pair
    _fill(src, names, records=20)
    state = tmp_path / "state.json"
    _fail_after(dst, "upsert", 2, monkeypatch)
    with pytest.raises(_Crash):
        migrate(src, dst, **_opts(names), batch_size=5, state_file=str(state))
    monkeypatch.undo()
    saved = json.loads(state.read_text())
    assert saved["parts"][f"records:{names['docs']}"]["copied"] == 5
    assert dst.kv_keys(CHECKPOINTS) == []  # kept in the file, not in the destination
    report = migrate(src, dst, **_opts(names), batch_size=5, state_file=str(state), restart=True)
    assert report.parts[0].copied == 20 and not report.parts[0].resumed
    assert not state.exists()


# ------------------------------------------------------------------ kill -9, CLI
def _cli(*args: str, cwd: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "bruno_memory_integrations.cli", *args],
        cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _kill_when(proc: subprocess.Popen[str], ready: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 120
    while not ready():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the migration ended before {what}: {proc.returncode} {out} {err}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the migration never reached {what}")
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL


def test_kill_9_then_resume_sqlite_to_postgres(
    postgres_url: str, names: dict[str, str], tmp_path: Path
) -> None:
    """A real ``kill -9`` while copying records, another while copying chat; then resume."""
    source = tmp_path / "dev.db"
    records, sessions = 6000, 400
    with open_store(f"sqlite:///{source}") as src:
        for start in range(0, records, 1000):
            src.upsert(names["docs"], [
                Record(f"r{i:06d}", f"text {i}", [1.0, i / records, 0.5], {"i": i})
                for i in range(start, start + 1000)
            ], embedding_model="m")
        for s in range(sessions):
            src.append_messages(f"s{s:04d}", [{"role": "user", "content": f"{s}-{m}"}
                                              for m in range(3)], namespace=names["ns"])
        src.kv_mset(names["kv"], [(f"k{i}", str(i).encode()) for i in range(500)])
    src_url = f"sqlite:///{source}"
    args = [
        "migrate", src_url, postgres_url, "--collection", names["docs"],
        "--namespace", names["ns"], "--kv", names["kv"], "--batch-size", "100",
    ]
    with open_store(postgres_url) as dst:
        proc = _cli(*args, cwd=tmp_path)
        _kill_when(proc, lambda: dst.count(names["docs"]) >= 300, "records")
        first = dst.count(names["docs"])
        assert first < records, "killed too late to prove anything"
        assert dst.kv_keys(CHECKPOINTS), "no checkpoint left behind by the killed run"

        proc = _cli(*args, cwd=tmp_path)
        _kill_when(
            proc, lambda: len(dst.list_sessions(namespace=names["ns"])) >= 20, "chat sessions"
        )
        assert dst.count(names["docs"]) == records
        copied = len(dst.list_sessions(namespace=names["ns"]))
        assert copied < sessions, "killed too late to prove anything"

        proc = _cli(*args, "--verify", "--json", cwd=tmp_path)
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        report = json.loads(out)
        assert report["ok"] is True
        parts = {p["kind"]: p for p in report["parts"]}
        assert parts["records"]["resumed"] and parts["records"]["copied"] == 0
        assert parts["chat"]["resumed"] and parts["chat"]["verified"]
        assert parts["kv"]["copied"] == 500 and parts["kv"]["verified"]
        # Exactly the source: no record, session or message twice.
        assert dst.count(names["docs"]) == records
        listed = dst.list_sessions(namespace=names["ns"])
        assert len(listed) == sessions
        assert all(
            [m["content"] for m in dst.get_messages(s, namespace=names["ns"])]
            == [f"{int(s[1:])}-{m}" for m in range(3)]
            for s in listed
        )
        assert not any(k.startswith("migrate-") for k in dst.kv_keys(CHECKPOINTS))


def test_cli_dry_run_and_options(tmp_path: Path, names: dict[str, str]) -> None:
    src_url, dst_url = f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}"
    with open_store(src_url) as src:
        _fill(src, names)
    proc = _cli("migrate", src_url, dst_url, "--dry-run", "--collection", names["docs"],
                "--no-chat", "--no-kv", cwd=tmp_path)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert f"collection '{names['docs']}': would copy 12 of 12 records" in out
    assert "notes" not in out and not (tmp_path / "b.db").exists()
    proc = _cli("migrate", src_url, dst_url, "--no-chat", "--namespace", "x", cwd=tmp_path)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1 and "--no-chat" in err
