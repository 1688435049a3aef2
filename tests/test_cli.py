"""The `bruno-memory` command: the demo (offline), and the commands an operator uses."""

from __future__ import annotations

import argparse
import importlib.metadata
import io
import json
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from bruno_memory_integrations import Record, __version__, open_store
from bruno_memory_integrations.cli import COLLECTION, build_parser, load_corpus, main
from bruno_memory_integrations.cli.common import sqlite_path

EXE = Path(sys.executable).with_name("bruno-memory")


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def seed(url: str, name: str = "notes") -> None:
    """A collection of three records (dot metric, model m1), a chat session, kv items."""
    with open_store(url) as store:
        store.upsert(
            name,
            [
                Record("a", "alpha", [1.0, 0.0, 0.0], {"topic": "x", "year": 2020}),
                Record("b", "beta", [0.0, 1.0, 0.0], {"topic": "y", "year": 2021}),
                Record("c", "gamma", [0.0, 0.0, 1.0], {"topic": "x", "year": 2022}),
            ],
            metric="dot",
            embedding_model="m1",
        )
        store.append_messages(f"{name}-s1", [{"role": "user", "text": "hi"}], namespace="langchain")
        store.kv_mset(f"{name}-kv", {"k1": b"1", "k2": b"2"})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ----------------------------------------------------------------------------- demo
def test_demo_runs_offline_and_is_idempotent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path}/demo.db"
    assert main(["demo", "--url", url]) == 0
    out = capsys.readouterr().out
    # A semantic answer (the offline model, not keyword overlap) under the filter.
    langchain_part = out.split("== LangChain: similarity search")[1].split("== LangChain: chat")[0]
    first_hit = next(line for line in langchain_part.splitlines() if line.startswith("  0."))
    assert "Photosynthesis" in first_hit
    assert "[astronomy" not in langchain_part.split("retriever")[0]
    assert "identical: True" in out
    llama_part = out.split("== LlamaIndex")[1]
    assert "Apollo 11" in next(line for line in llama_part.splitlines() if line.startswith("  0."))
    # Running again replaces by id: still one record per corpus document.
    assert main(["demo", "--url", url]) == 0
    with open_store(url) as store:
        assert store.count(COLLECTION) == len(load_corpus())
        info = store.collection_info(COLLECTION)
        assert info is not None and info.dimension == 384


@pytest.mark.parametrize(
    "blocked, package",
    [("langchain_core", "langchain-core"), ("llama_index", "llama-index-core")],
)
def test_demo_without_its_extra_names_it_in_one_line(
    tmp_path: Path, blocked: str, package: str
) -> None:
    code = (
        "import sys\n"
        f"sys.modules[{blocked!r}] = None  # as if not installed\n"
        "from bruno_memory_integrations.cli import main\n"
        f"sys.exit(main(['demo', '--url', 'sqlite:///{tmp_path}/d.db']))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert package in lines[0]
    assert "pip install 'bruno-memory-integrations[demo]'" in lines[0]
    assert not (tmp_path / "d.db").exists()  # it stopped before opening the store


# ----------------------------------------------------------------------------- help
def test_version_matches_the_installed_metadata(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"bruno-memory {__version__}"
    assert importlib.metadata.version("bruno-memory-integrations") == __version__


def _parsers() -> list[argparse.ArgumentParser]:
    parser = build_parser()
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return [parser, *subs[0].choices.values()]


def test_help_is_plain_text_and_every_argument_is_explained() -> None:
    for parser in _parsers():
        text = parser.format_help()
        assert "``" not in text and ":class:" not in text and ":meth:" not in text, text
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                assert all(c.help for c in action._choices_actions)
                continue
            assert action.help, f"{parser.prog}: {action.dest} has no help"


def test_console_script_entry_point() -> None:
    if not EXE.exists():
        pytest.skip(f"console script not installed next to {sys.executable}")
    out = subprocess.run(
        [str(EXE), "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 0
    for command in ("demo", "ls", "info", "inspect", "drop", "export", "import"):
        assert command in out.stdout


# ----------------------------------------------------------------------------- errors
def test_info_on_a_missing_sqlite_file_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for command in ("info", "ls"):
        code, out, err = run([command, f"sqlite:///{tmp_path}/nope.db"], capsys)
        assert code == 1 and out == ""
        assert err.count("\n") == 1 and "no SQLite database" in err
    assert list(tmp_path.iterdir()) == []


def test_sqlite_path_reads_urls_like_the_backend(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for url in ("sqlite:///rel.db", f"sqlite:///{tmp_path}/abs.db", "sqlite:///sub.db?timeout=5"):
        open_store(url).close()  # the backend creates the file it reads from the URL
        path = sqlite_path(url)
        assert path is not None and Path(path).exists(), url
    for url in ("sqlite://", "sqlite://:memory:", "sqlite:///:memory:", "memory://"):
        assert sqlite_path(url) is None


def test_unreachable_server_is_one_line_and_a_traceback_only_with_debug() -> None:
    if not EXE.exists():
        pytest.skip(f"console script not installed next to {sys.executable}")
    url = f"redis://127.0.0.1:{free_port()}/0"
    out = subprocess.run(
        [str(EXE), "info", url], capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr.count("\n") == 1, out.stderr
    assert out.stderr.startswith("bruno-memory: error: cannot reach Redis")
    debug = subprocess.run(
        [str(EXE), "--debug", "info", url], capture_output=True, text=True, timeout=120,
        check=False,
    )
    assert debug.returncode == 1 and "Traceback" in debug.stderr


def test_bad_command_line_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["inspect"])
    assert stop.value.code == 2
    assert "URL" in capsys.readouterr().err


# ----------------------------------------------------------------------------- ls / info
def test_ls_and_info_show_collections_sessions_and_named_kv(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    seed(url)
    code, out, _ = run(["ls", url, "--json", "--kv", "notes-kv"], capsys)
    assert code == 0
    data = json.loads(out)
    assert data["collections"] == [
        {"name": "notes", "count": 3, "dimension": 3, "metric": "dot", "embedding_model": "m1"}
    ]
    assert data["chat_sessions"] == {"default": [], "langchain": ["notes-s1"], "llama_index": []}
    assert data["kv_collections"] == [{"name": "notes-kv", "keys": 2}]
    assert "capabilities" not in data

    code, out, _ = run(["--json", "info", url], capsys)  # --json before the command
    data = json.loads(out)
    assert data["backend"] == "sqlite" and data["capabilities"]["keyword_search"] is True
    assert data["kv_collections"] == [] and "cannot be listed" in data["notes"][0]

    code, out, _ = run(["info", url], capsys)
    assert code == 0
    assert "backend      : sqlite" in out
    row = next(line.split() for line in out.splitlines() if line.strip().startswith("notes "))
    assert row == ["notes", "3", "3", "dot", "m1"]
    assert "langchain: notes-s1" in out


@pytest.mark.parametrize("kind", ["postgres", "redis"])
def test_ls_on_server_backends(
    kind: str, request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]
) -> None:
    url = request.getfixturevalue(f"{kind}_url")
    name = f"cli_{uuid.uuid4().hex[:8]}"
    seed(url, name)
    try:
        code, out, _ = run(["ls", url, "--json", "--kv", f"{name}-kv"], capsys)
        assert code == 0
        data = json.loads(out)
        mine = [c for c in data["collections"] if c["name"] == name]
        assert mine == [
            {"name": name, "count": 3, "dimension": 3, "metric": "dot", "embedding_model": "m1"}
        ]
        assert f"{name}-s1" in data["chat_sessions"]["langchain"]
        assert data["kv_collections"] == [{"name": f"{name}-kv", "keys": 2}]
    finally:
        with open_store(url) as store:
            store.drop_collection(name)
            store.clear_messages(f"{name}-s1", namespace="langchain")
            store.kv_mdelete(f"{name}-kv", ["k1", "k2"])


# ----------------------------------------------------------------------------- inspect
def test_inspect_by_id_filter_and_limit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    seed(url)
    code, out, err = run(["inspect", url, "notes", "--id", "c", "--id", "zz", "--json"], capsys)
    data = json.loads(out)
    assert [r["id"] for r in data["records"]] == ["c"] and data["missing_ids"] == ["zz"]
    assert "vector" not in data["records"][0]

    flt = '{"topic": "x", "year": {"$gte": 2021}}'
    code, out, err = run(["inspect", url, "notes", "--filter", flt, "--vectors", "--json"], capsys)
    data = json.loads(out)
    assert [r["id"] for r in data["records"]] == ["c"]
    assert data["records"][0]["vector"] == pytest.approx([0.0, 0.0, 1.0])

    code, out, err = run(["inspect", url, "notes", "--limit", "2"], capsys)
    assert code == 0 and out.count("metadata :") == 2 and "2 of 3" in err

    argv = ["inspect", url, "--session", "notes-s1", "--namespace", "langchain"]
    code, out, err = run(argv, capsys)
    assert json.loads(out.splitlines()[0]) == {"role": "user", "text": "hi"}
    code, out, err = run(["inspect", url, "--kv", "notes-kv", "--prefix", "k2"], capsys)
    assert out.split() == ["k2"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["inspect", "URL", "missing"], "no vector collection 'missing'"),
        (["inspect", "URL", "notes", "--filter", "{nope"], "--filter is not JSON"),
        (["inspect", "URL", "notes", "--filter", '{"a": {"$like": 1}}'], "unknown filter operator"),
        (["inspect", "URL"], "inspect takes one of"),
        (["drop", "URL", "missing", "--yes"], "no vector collection 'missing'"),
    ],
)
def test_inspect_and_drop_errors_are_one_line(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    seed(url)
    code, out, err = run([url if a == "URL" else a for a in argv], capsys)
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and message in err, err


# ----------------------------------------------------------------------------- drop
class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_drop_asks_and_needs_yes_without_a_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    seed(url)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    code, _, err = run(["drop", url, "notes"], capsys)
    assert code == 1 and "pass --yes" in err
    monkeypatch.setattr(sys, "stdin", FakeTerminal("n\n"))
    code, _, err = run(["drop", url, "notes"], capsys)
    assert code == 1 and "Drop collection 'notes' with 3 records" in err and "not dropped" in err
    with open_store(url) as store:
        assert store.count("notes") == 3
    monkeypatch.setattr(sys, "stdin", FakeTerminal("y\n"))
    code, out, _ = run(["drop", url, "notes"], capsys)
    assert code == 0 and "dropped collection 'notes' (3 records)" in out
    with open_store(url) as store:
        assert store.list_collections() == []
    seed(url)
    code, out, _ = run(["drop", url, "notes", "--yes", "--json"], capsys)
    assert json.loads(out) == {"dropped": "notes", "records": 3}


# ----------------------------------------------------------------------------- export / import
def test_export_import_round_trip_to_postgres(
    tmp_path: Path, postgres_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    src = f"sqlite:///{tmp_path}/s.db"
    seed(src)
    with open_store(src) as store:  # unicode and nested metadata survive the file
        store.upsert("notes", [Record("d", "café ☕", [0.5, 0.5, 0.0], {"n": {"k": [1, "é"]}})])
    out_file = tmp_path / "notes.jsonl"
    code, _, err = run(["export", src, "notes", "-o", str(out_file)], capsys)
    assert code == 0 and "exported 4 records" in err
    header = json.loads(out_file.read_text("utf-8").splitlines()[0])
    assert header["dimension"] == 3 and header["metric"] == "dot" and header["count"] == 4

    name = f"imp_{uuid.uuid4().hex[:8]}"
    argv = ["import", postgres_url, str(out_file), "--collection", name, "--json"]
    code, out, _ = run(argv, capsys)
    assert code == 0 and json.loads(out) == {"collection": name, "records": 4, "count_after": 4}
    try:
        with open_store(src) as a, open_store(postgres_url) as b:
            info = b.collection_info(name)
            assert info is not None and (info.dimension, info.metric, info.embedding_model) == (
                3, "dot", "m1",
            )
            want = {r.id: r for r in a.iter_records("notes")}
            got = {r.id: r for r in b.iter_records(name)}
            assert set(got) == set(want)
            for rid, rec in want.items():
                assert got[rid].text == rec.text and got[rid].metadata == rec.metadata
                assert got[rid].vector == pytest.approx(rec.vector)
    finally:
        with open_store(postgres_url) as b:
            b.drop_collection(name)


def test_export_filter_to_stdout_and_import_from_stdin(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    src, dst = f"sqlite:///{tmp_path}/s.db", f"sqlite:///{tmp_path}/d.db"
    seed(src)
    code, out, _ = run(["export", src, "notes", "--filter", '{"topic": "x"}'], capsys)
    assert code == 0 and len(out.splitlines()) == 3  # header + a + c
    monkeypatch.setattr(sys, "stdin", io.StringIO(out))
    code, out, _ = run(["import", dst, "-"], capsys)
    assert code == 0 and "imported 2 records into 'notes'" in out
    with open_store(dst) as store:
        assert sorted(r.id for r in store.iter_records("notes")) == ["a", "c"]


@pytest.mark.parametrize(
    "lines, message",
    [
        (['{"id": "n1", "vector": [1, 0, 0]}', "{oops"], "line 3: not JSON"),
        (['{"id": "n1", "vector": [1, 0, 0]}', '{"id": "n2", "vector": [1, 0]}'], "line 3:"),
        (['{"id": "n1", "vector": [1, 0, 0], "colour": 1}'], "unknown field(s) ['colour']"),
        (['{"id": "n1"}'], "needs an id and a vector"),
        (['{"id": "n1", "vector": [1, 0, "x"]}'], "line 2:"),
    ],
)
def test_import_checks_every_line_before_writing(
    lines: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    seed(url)
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(['{"bruno_memory_export": 1, "collection": "notes"}', *lines]) + "\n")
    code, out, err = run(["import", url, str(bad)], capsys)
    assert code == 1 and out == "" and message in err, err
    with open_store(url) as store:
        assert store.count("notes") == 3 and store.get("notes", ["n1"]) == []


def test_import_refuses_another_metric_before_writing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    seed(url)
    f = tmp_path / "cos.jsonl"
    f.write_text(
        '{"bruno_memory_export": 1, "collection": "notes", "dimension": 3, "metric": "cosine"}\n'
        '{"id": "n1", "vector": [1, 0, 0]}\n'
    )
    code, _, err = run(["import", url, str(f)], capsys)
    assert code == 1 and "dot metric" in err
    with open_store(url) as store:
        assert store.count("notes") == 3


def test_progress_bars_on_request_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    seed(url)
    out_file = str(tmp_path / "n.jsonl")
    _, _, err = run(["export", url, "notes", "-o", out_file], capsys)
    assert "%|" not in err  # stderr is not a terminal here: no bar by default
    _, _, err = run(["export", url, "notes", "-o", out_file, "--progress"], capsys)
    assert "export notes: 100%|" in err and "3/3" in err
    _, _, err = run(["import", f"sqlite:///{tmp_path}/d.db", out_file, "--progress"], capsys)
    assert "import notes: 100%|" in err and "3/3" in err
