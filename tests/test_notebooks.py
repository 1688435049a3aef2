"""Every notebook runs top to bottom (code cells in order, one namespace), offline."""

from __future__ import annotations

import contextlib
import io
import json
import os
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    nb = json.loads(path.read_text("utf-8"))
    namespace: dict[str, object] = {"__name__": "__notebook__"}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for i, cell in enumerate(c for c in nb["cells"] if c["cell_type"] == "code"):
            exec(compile("".join(cell["source"]), f"{path.name}[{i}]", "exec"), namespace)
    printed = out.getvalue()
    assert printed.strip(), "the notebook printed nothing"
    if path.name == "quickstart.ipynb":
        assert "Jupiter" in printed and "Photosynthesis" in printed
        assert "[b'dark', None]" in printed
    if path.name == "langgraph_agent_memory.ipynb":
        assert "Done. sent a box of dark chocolate" in printed  # resumed by a new agent
        assert "what sweets does Ada like? -> Done. Ada loves dark chocolate" in printed
        assert "when should I celebrate Ada? -> Done. Ada's birthday is on 10 December" in printed
        assert "gift sent in the fork? False" in printed
    assert os.listdir(tmp_path)  # it used the working directory, not the repo
