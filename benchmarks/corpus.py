"""A real text corpus available offline, embedded once by the package's offline model.

The passages are the docstrings of the running Python's standard library (modules,
classes, functions and methods, its test packages included) plus the language-reference
topics that ship with it (``pydoc_data.topics``), whitespace-normalized, split into
sentences and regrouped into passages of at most ``MAX_WORDS`` words (at least
``MIN_WORDS``), duplicates removed, then shuffled with a fixed seed. They are real,
varied English prose about programming: short summaries ("Return the number of items"),
longer explanations, lists of parameters. Queries are passages held out of the corpus
and embedded as queries (the e5 ``query:`` prefix).

Embedding is slow on a shared 2-core machine (1.7 passages/s with other work running),
so vectors are computed once and kept in ``.cache/bench/``,
in chunks of 500 written as they are done: an interrupted run resumes where it stopped,
and several processes can fill one cache together. The folder name carries a hash of
the passages and the model name, so another Python version or model never reads stale
vectors.

    .venv/bin/python benchmarks/corpus.py --records 20000 --queries 50   # fill the cache
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import os
import re
import sys
import sysconfig
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache" / "bench"
MIN_WORDS, MAX_WORDS = 6, 24
CHUNK = 500  # passages embedded between two writes of the cache
SKIP_PARTS = {"site-packages"}
_SENTENCE = re.compile(r"(?<=[.!?:])\s+")


def _docstrings() -> list[str]:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    out: list[str] = []
    for path in sorted(stdlib.rglob("*.py"), key=lambda p: p.relative_to(stdlib).as_posix()):
        if SKIP_PARTS & set(path.relative_to(stdlib).parts):
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                doc = ast.get_docstring(node)
                if doc:
                    out.append(doc)
    try:
        from pydoc_data.topics import topics

        out.extend(topics[k] for k in sorted(topics))
    except ImportError:  # a Python built without pydoc_data
        pass
    return out


def _passages(doc: str) -> list[str]:
    """Sentences of one docstring regrouped into passages of MIN..MAX words."""
    words_of = [s.split() for s in _SENTENCE.split(" ".join(doc.split())) if s.strip()]
    out: list[str] = []
    current: list[str] = []
    for sentence in words_of:
        words = sentence
        while len(words) > MAX_WORDS:  # a run-on "sentence" (a table, a list of names)
            if current:
                out.append(" ".join(current))
                current = []
            out.append(" ".join(words[:MAX_WORDS]))
            words = words[MAX_WORDS:]
        if len(current) + len(words) > MAX_WORDS:
            out.append(" ".join(current))
            current = []
        current.extend(words)
    if current:
        out.append(" ".join(current))
    return [p for p in out if len(p.split()) >= MIN_WORDS]


def passages() -> list[str]:
    """Every distinct passage, in a fixed shuffled order."""
    seen: dict[str, None] = {}
    for doc in _docstrings():
        for p in _passages(doc):
            seen.setdefault(p, None)
    texts = list(seen)
    order = np.random.default_rng(7).permutation(len(texts))
    return [texts[i] for i in order]


class Corpus:
    """``records`` passages and ``queries`` held-out query texts with their vectors."""

    def __init__(self, records: int, queries: int, *, quiet: bool = False) -> None:
        from bruno_memory_integrations.embeddings import OfflineEmbeddings

        everything = passages()
        if records + queries > len(everything):
            raise SystemExit(
                f"the corpus has {len(everything)} passages; asked for {records} + {queries}"
            )
        self.texts = everything[:records]
        # Queries come from the end of the shuffled list, so changing --records keeps them.
        self.query_texts = everything[len(everything) - queries :]
        self.model = OfflineEmbeddings()
        key = hashlib.sha256(
            "\x1f".join([self.model.model_name, *everything]).encode()
        ).hexdigest()[:16]
        held_out = everything[len(everything) - queries :]
        self.queries = self._cached(f"queries{queries}-{key}", held_out, queries, True, quiet)
        self.vecs = self._cached(f"passages-{key}", everything, records, False, quiet)

    def _cached(
        self, name: str, source: list[str], n: int, is_query: bool, quiet: bool
    ) -> np.ndarray:
        """Vectors of ``source[:n]``, from chunk files; embeds the chunks nobody has.

        Chunk ``s`` holds ``source[s : s + CHUNK]``. A process claims a chunk with a file
        holding its pid before embedding it, so several processes fill one cache together
        (run this script twice to use two); a claim whose process died is taken over.
        """
        folder = CACHE / name
        folder.mkdir(parents=True, exist_ok=True)
        starts = range(0, n, CHUNK)
        began, done = time.perf_counter(), 0
        while True:
            missing = [s for s in starts if not (folder / f"{s:07d}.npy").exists()]
            if not missing:
                break
            for s in missing:
                if not _claim(folder / f"{s:07d}.claim"):
                    continue
                if (folder / f"{s:07d}.npy").exists():  # finished while we were looking
                    (folder / f"{s:07d}.claim").unlink(missing_ok=True)
                    continue
                part = source[s : s + CHUNK]
                if is_query:
                    vecs = [self.model.embed_query(t) for t in part]
                else:
                    vecs = self.model.embed_documents(part)
                tmp = folder / f"{s:07d}.tmp.npy"
                np.save(tmp, np.asarray(vecs, np.float32))
                tmp.replace(folder / f"{s:07d}.npy")
                (folder / f"{s:07d}.claim").unlink(missing_ok=True)
                done += len(part)
                if not quiet:
                    left = sum(not (folder / f"{x:07d}.npy").exists() for x in starts) * CHUNK
                    rate = done / (time.perf_counter() - began)
                    print(f"  {name}: {rate:.1f}/s here, about {left} left", file=sys.stderr)
            time.sleep(2)  # chunks other processes are embedding
        return np.concatenate([np.load(folder / f"{s:07d}.npy") for s in starts])[:n]


def _claim(path: Path) -> bool:
    """Take the claim file ``path``, or a claim whose process no longer runs."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        try:
            os.kill(int(path.read_text() or "0"), 0)
            return False  # another process is on it
        except (ProcessLookupError, ValueError):
            path.unlink(missing_ok=True)  # left by a process that died: take it over
            return _claim(path)
        except (FileNotFoundError, PermissionError):
            return False
    with os.fdopen(fd, "w") as f:
        f.write(str(os.getpid()))
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--count", action="store_true", help="only count the passages")
    args = parser.parse_args()
    if args.count:
        texts = passages()
        words = np.array([len(t.split()) for t in texts])
        print(f"{len(texts)} passages; words p10/p50/p90: {np.percentile(words, [10, 50, 90])}")
        return
    c = Corpus(args.records, args.queries)
    print(f"{len(c.texts)} passages, {len(c.query_texts)} queries, cached in {CACHE}")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
