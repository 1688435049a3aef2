"""Every Python example in README.md and docs/*.md runs as written, and the site builds.

How the examples run (also in docs/testing.md):

* Each page runs top to bottom in one namespace, like a notebook, in a scratch
  working directory, offline (``OPENAI_API_KEY`` unset, so ``default_embeddings()``
  is the offline model). Top-level ``await`` works, as in a notebook.
* Server URLs are written in the docs as :data:`SERVER_URLS` keys; the test puts in
  the URL of the real server the test session started (tests/conftest.py).
* A block preceded by ``<!-- docs-test: skip REASON -->`` is only compiled, not run.
  Keep those rare (:data:`MAX_SKIPPED`): a block that cannot run here is a block no
  one checks.
* Pages this project does not run yet (:data:`COMPILE_ONLY`) are compiled, so a
  syntax error still fails.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import inspect
import io
import logging
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Imported before any test: on import, langchain_core puts its own "show deprecations"
# filter first, which would override a test's filterwarnings mark.
import langchain_core  # noqa: F401
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
#: Pages whose examples are run.
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md")), *sorted(DOCS.glob("cookbook/*.md"))]
#: Pages whose examples are connection strings for hosts that do not exist here
#: (db.example.com, cache.example.com): compiled only.
COMPILE_ONLY = sorted((DOCS / "backends").glob("*.md"))
#: URL written in the docs -> fixture giving a real server's URL.
SERVER_URLS = {
    "postgresql://postgres@localhost:5432/postgres": "postgres_url",
    "redis://localhost:6379/0": "redis_url",
}
MAX_SKIPPED = 3
# LangChain 1.x deprecates RunnableWithMessageHistory (docs/langchain.md says so); the
# page shows it because it is what most chat code uses today.
pytestmark = pytest.mark.filterwarnings("ignore:RunnableWithMessageHistory is deprecated")
SKIP = re.compile(r"<!--\s*docs-test:\s*skip\s+(?P<reason>\S.*?)\s*-->")
#: What a page may use without defining it: docs/filters.md shows filter
#: expressions on objects the other pages create.
PRELUDES = {
    "filters.md": """
from langchain_core.embeddings import DeterministicFakeEmbedding
from bruno_memory_integrations import Record, open_store
from bruno_memory_integrations.langchain import BrunoVectorStore

store = open_store("sqlite:///filters.db")
store.upsert("docs", [
    Record("1", "a", [1.0, 0.0], {"lang": "en", "year": 2021, "source": "web"}),
    Record("2", "b", [0.0, 1.0], {"lang": "pt", "year": 2019, "draft": True}),
])
vector = [1.0, 0.0]
vectorstore = BrunoVectorStore(DeterministicFakeEmbedding(size=8), store=store, collection="news")
vectorstore.add_texts(["x"], [{"tags": ["news", "sport"]}])
""",
}


@dataclass
class Block:
    page: Path
    line: int
    code: str
    skip: str | None

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks(page: Path) -> list[Block]:
    """The ```python blocks of a page, with the line each starts on."""
    out: list[Block] = []
    lines = page.read_text("utf-8").splitlines()
    i = 0
    while i < len(lines):
        if lines[i].strip().startswith("```python"):
            start = i
            body: list[str] = []
            i += 1
            while i < len(lines) and lines[i].strip() != "```":
                body.append(lines[i])
                i += 1
            previous = next((ln for ln in reversed(lines[:start]) if ln.strip()), "")
            marker = SKIP.search(previous)
            out.append(Block(page, start + 2, "\n".join(body) + "\n", marker and marker["reason"]))
        i += 1
    return out


def compiled(block: Block, code: str | None = None) -> Any:
    # Blank lines in front keep the line numbers of tracebacks pointing into the page.
    padded = "\n" * (block.line - 1) + (code or block.code)
    return compile(
        padded, str(block.page), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True
    )


def _close_everything(namespace: dict[str, Any]) -> None:
    from bruno_memory_integrations import Store

    for value in list(namespace.values()):
        if isinstance(value, Store) and not value.closed:
            value.close()


def run_page(page: Path, request: pytest.FixtureRequest) -> tuple[dict[str, Any], str, int]:
    """Run a page's blocks in order; returns its namespace, what it printed, blocks run."""
    namespace: dict[str, Any] = {"__name__": "__docs__"}
    printed = io.StringIO()
    ran = 0
    prelude = PRELUDES.get(page.name)
    if prelude:
        exec(compile(prelude, f"<prelude of {page.name}>", "exec"), namespace)
    try:
        for block in blocks(page):
            code = block.code
            if block.skip:
                compiled(block)
                continue
            for written, fixture in SERVER_URLS.items():
                if written in code:
                    code = code.replace(written, request.getfixturevalue(fixture))
            program = compiled(block, code)
            with contextlib.redirect_stdout(printed):
                try:
                    if program.co_flags & inspect.CO_COROUTINE:
                        asyncio.run(eval(program, namespace))
                    else:
                        exec(program, namespace)
                except Exception as exc:
                    raise AssertionError(f"{block.where}: {type(exc).__name__}: {exc}") from exc
            ran += 1
    finally:
        _close_everything(namespace)
    return namespace, printed.getvalue(), ran


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A scratch working directory, offline; logging set back as it was afterwards."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    root, package = logging.getLogger(), logging.getLogger("bruno_memory_integrations")
    saved = (root.level, list(root.handlers), package.level)
    yield tmp_path
    root.setLevel(saved[0])
    root.handlers[:] = saved[1]
    package.setLevel(saved[2])


#: Pages with Python examples (the others are checked by the site build).
RUN = [p for p in PAGES if blocks(p)]


def check_readme(namespace: dict[str, Any], printed: str, scratch: Path) -> None:
    lines = printed.splitlines()
    assert lines[0] == "Jupiter is a gas giant"  # the filtered LangChain search
    assert lines[1] == "Jupiter."  # the chat history
    assert "Apollo 11" in lines[2]  # LlamaIndex's answer, from the offline model
    assert lines[3] == "Jupiter is a gas giant"  # LangChain's records read by LlamaIndex
    assert (scratch / "memory.db").exists()


def check_index(namespace: dict[str, Any], printed: str, scratch: Path) -> None:
    # The same code on three real stores: the same answer and score on each.
    assert namespace["counts"] == {"sqlite": 2, "postgres": 2, "redis": 2}
    for name in ("sqlite", "postgres", "redis"):
        assert f"{name} a 0.995" in printed.splitlines()


#: What a page's examples print or leave behind, beyond running without an error.
CHECKS = {"README.md": check_readme, "index.md": check_index}


@pytest.mark.parametrize("page", RUN, ids=[p.name for p in RUN])
def test_examples_run(page: Path, scratch: Path, request: pytest.FixtureRequest) -> None:
    namespace, printed, ran = run_page(page, request)
    assert ran, f"every example of {page.name} is skipped"
    check = CHECKS.get(page.name)
    if check:
        check(namespace, printed, scratch)


def test_readme_examples_run_twice_in_the_same_directory(
    scratch: Path, request: pytest.FixtureRequest
) -> None:
    """A newcomer runs the examples again: ids replace, nothing piles up or fails."""
    run_page(ROOT / "README.md", request)
    namespace, printed, _ = run_page(ROOT / "README.md", request)
    check_readme(namespace, printed, scratch)


@pytest.mark.parametrize(
    "page", PAGES + COMPILE_ONLY, ids=[str(p.relative_to(ROOT)) for p in PAGES + COMPILE_ONLY]
)
def test_examples_compile(page: Path) -> None:
    for block in blocks(page):
        compiled(block)


def test_skipped_examples_are_rare_and_say_why() -> None:
    skipped = [b for p in PAGES for b in blocks(p) if b.skip]
    assert len(skipped) <= MAX_SKIPPED, [b.where for b in skipped]
    for page in PAGES:
        text = page.read_text("utf-8")
        # A marker line that does not match SKIP, or is not right before a block (a typo,
        # a moved block), would let its block run unnoticed.
        markers = re.findall(r"^\s*<!--\s*docs-test:", text, flags=re.MULTILINE)
        assert len(markers) == sum(1 for b in blocks(page) if b.skip), page.name


def test_every_docs_page_is_run_or_compiled() -> None:
    every = set(DOCS.rglob("*.md"))
    assert every == set(PAGES[1:]) | set(COMPILE_ONLY)


def test_site_builds_in_strict_mode(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("mkdocs")
    found = str(exe) if exe.exists() else shutil.which("mkdocs")
    if not found:
        pytest.skip("mkdocs is not installed (it comes with the 'docs' and 'test' extras)")
    out = subprocess.run(
        [found, "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},  # the theme's banner, not a warning
    )
    assert out.returncode == 0, out.stdout + out.stderr
    site = tmp_path / "site"
    for page in ("index.html", "langchain/index.html", "cli/index.html", "changelog/index.html"):
        assert (site / page).exists(), page
    assert "RunnableWithMessageHistory" in (site / "langchain/index.html").read_text("utf-8")
