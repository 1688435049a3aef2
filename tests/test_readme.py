"""The README's Python example runs as written (offline, in a scratch directory)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    blocks = re.findall(r"```python\n(.*?)```", README.read_text("utf-8"), flags=re.DOTALL)
    assert blocks, "the README has no Python example"
    namespace: dict[str, object] = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)
    docs = namespace["docs"]
    hits = docs.similarity_search("largest planet", k=1, filter={"year": {"$gte": 2020}})  # type: ignore[attr-defined]
    assert hits and "Jupiter" in hits[0].page_content
    assert (tmp_path / "memory.db").exists()
    namespace["store"].close()  # type: ignore[attr-defined]
