"""docs/langgraph.md's Python example runs as written (offline, in a scratch directory)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest.importorskip("langchain.agents", reason="needs the test extra (langchain)")

DOC = Path(__file__).resolve().parents[1] / "docs" / "langgraph.md"


def test_langgraph_doc_example_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text("utf-8"), flags=re.DOTALL)
    assert blocks, "docs/langgraph.md has no Python example"
    for i, block in enumerate(blocks):
        exec(compile(block, f"docs/langgraph.md[{i}]", "exec"), {"__name__": "__doc__"})
    printed = capsys.readouterr().out.split("\n")
    assert printed[:2] == ["Hello!", "m1"]
    assert int(printed[2]) >= 2
    assert (tmp_path / "agent.db").exists()
