"""The `bruno-memory` command: the demo is the main job and must work offline."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bruno_memory_integrations import open_store
from bruno_memory_integrations.cli import COLLECTION, load_corpus, main


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


def test_info_lists_collections(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path}/demo.db"
    main(["demo", "--url", url])
    capsys.readouterr()
    assert main(["info", url]) == 0
    out = capsys.readouterr().out
    assert "backend      : sqlite" in out
    assert f"'{COLLECTION}' {len(load_corpus())} records" in out


def test_console_script_entry_point(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("bruno-memory")
    if not exe.exists():
        pytest.skip(f"console script not installed next to {sys.executable}")
    out = subprocess.run(
        [str(exe), "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 0 and "demo" in out.stdout
