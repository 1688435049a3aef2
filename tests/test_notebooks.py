"""Every notebook runs top to bottom (code cells in order, one namespace), offline.

Each notebook also has to show what it is there to show (:data:`EXPECTED`): running
without an error is not enough for a notebook whose point is an answer or a picture.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from collections.abc import Callable
from pathlib import Path

# Imported before any test: on import, langchain_core puts its own "show deprecations"
# filter first, which would override a test's filterwarnings mark.
import langchain_core  # noqa: F401
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _quickstart(printed: str, folder: Path) -> None:
    assert "Jupiter" in printed and "Photosynthesis" in printed
    assert "[b'dark', None]" in printed


def _agent_memory(printed: str, folder: Path) -> None:
    lines = [line.strip() for line in printed.splitlines()]
    assert "-> Nice to meet you, Ana!" in lines
    assert lines.count("-> Your name is Ana.") == 2  # in the session, and after the restart
    assert "-> You have not told me your name." in lines  # Bob's session is separate
    assert "-> From my notes: Photosynthesis" in printed  # the knowledge base answered
    assert "8 messages stored for ana" in lines
    assert "['Do you still know my name?', 'Your name is Ana.']" in lines  # max_messages=2
    assert "sessions: ['ana', 'bob']" in lines


def _rag(printed: str, folder: Path) -> None:
    assert "built: 36 nodes, 36 texts embedded" in printed
    assert "reloaded: 0 texts embedded while reloading" in printed
    after_reload = printed.split("reloaded:")[1].splitlines()
    assert "Apollo 11" in after_reload[1]  # the best hit after the reload
    filtered = printed.split("Answer from the context")[0].splitlines()[-3:]
    for line in filtered:  # the filtered retrieval: cooking or biology, 2020 on
        topic, year = line.split("[")[1].split("]")[0].split(", ")
        assert topic in ("cooking", "biology") and int(year) >= 2020, line
    assert "refreshed 1 of 36 documents, 1 text(s) embedded" in printed
    assert printed.rstrip().splitlines()[-1].startswith("The Sun holds 99.86 percent")


def _both_frameworks(printed: str, folder: Path) -> None:
    assert "same ids: True" in printed and "same scores: True" in printed
    assert "{'topic': 'software', 'year': 2026}" in printed  # no _bruno_ keys shown
    assert "after delete: [] 36" in printed
    assert "('human', 'And the smallest?')" in printed


def _scores_picture(printed: str, folder: Path) -> None:
    picture = folder / "scores.png"
    assert picture.read_bytes()[:8] == PNG_MAGIC
    assert picture.stat().st_size > 20_000  # a drawn chart, not an empty canvas
    assert printed.startswith("0.9") and "[biology, 2020] Photosynthesis" in printed


def _langgraph_agent(printed: str, folder: Path) -> None:
    assert "Done. sent a box of dark chocolate" in printed  # resumed by a new agent
    assert "what sweets does Ada like? -> Done. Ada loves dark chocolate" in printed
    assert "when should I celebrate Ada? -> Done. Ada's birthday is on 10 December" in printed
    assert "gift sent in the fork? False" in printed


def _sqlite_to_postgres(printed: str, folder: Path) -> None:
    assert "would copy 4 of 4 records (dimension 384, cosine" in printed
    assert "collection 'handbook': copied 4 of 4 records" in printed
    assert "namespace 'support_bot': copied 2 of 2 messages in 1 session, verified" in printed
    assert "kv collection 'preferences': copied 2 of 2 keys, verified" in printed
    assert "verified: True" in printed and "second run verified: True" in printed
    assert "backend: postgres" in printed  # the real server, not the SQLite fallback
    sqlite_line, prod_line = (ln for ln in printed.splitlines() if "Refunds are paid" in ln)
    assert sqlite_line.split(": ", 1)[1] == prod_line.split(": ", 1)[1]  # same score and text
    assert "[b'pt', b'no']" in printed and "records in production: 4" in printed


EXPECTED: dict[str, Callable[[str, Path], None]] = {
    "quickstart.ipynb": _quickstart,
    "agent_memory_langchain.ipynb": _agent_memory,
    "rag_llama_index.ipynb": _rag,
    "same_data_both_frameworks.ipynb": _both_frameworks,
    "scores_picture.ipynb": _scores_picture,
    "langgraph_agent_memory.ipynb": _langgraph_agent,
    "sqlite_to_postgres.ipynb": _sqlite_to_postgres,
}
#: Environment variables a notebook reads its server URLs from -> the fixture giving one.
SERVER_ENV = {
    "sqlite_to_postgres.ipynb": {"BRUNO_MEMORY_POSTGRES_URL": "postgres_url"},
}


def test_every_notebook_has_expectations() -> None:
    assert {p.name for p in NOTEBOOKS} == set(EXPECTED)


# LangChain 1.x deprecates RunnableWithMessageHistory; the agent notebook says so.
@pytest.mark.filterwarnings("ignore:RunnableWithMessageHistory is deprecated")
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    for env, fixture in SERVER_ENV.get(path.name, {}).items():
        monkeypatch.setenv(env, str(request.getfixturevalue(fixture)))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("MPLBACKEND", "Agg")  # draw into files; no window
    nb = json.loads(path.read_text("utf-8"))
    assert all(not c.get("outputs") for c in nb["cells"]), "commit notebooks without outputs"
    namespace: dict[str, object] = {"__name__": "__notebook__"}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for i, cell in enumerate(c for c in nb["cells"] if c["cell_type"] == "code"):
            exec(compile("".join(cell["source"]), f"{path.name}[{i}]", "exec"), namespace)
    printed = out.getvalue()
    assert printed.strip(), "the notebook printed nothing"
    EXPECTED[path.name](printed, tmp_path)
    assert os.listdir(tmp_path)  # it used the working directory, not the repo
