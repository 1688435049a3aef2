"""What every ``bruno-memory`` command shares: opening stores, output, errors."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from ..logs import redact_url
from ..registry import open_store
from ..store import Store
from ..types import Record

__all__ = [
    "CommandError",
    "confirm",
    "one_line",
    "open_existing",
    "print_json",
    "print_table",
    "record_to_json",
    "sqlite_path",
]


class CommandError(Exception):
    """A command cannot do what was asked (the message says why and what to do)."""


def one_line(exc: BaseException) -> str:
    """The error and its cause on one line, for ``bruno-memory: error: ...``."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    cause = exc.__cause__
    if cause is not None:
        detail = " ".join(str(cause).split())
        if detail and detail not in text:
            text = f"{text} (cause: {type(cause).__name__}: {detail})"
    return text


def sqlite_path(url: str) -> str | None:
    """The file a ``sqlite://`` URL names, or ``None`` (in memory, or not a SQLite URL).

    Reads the URL as the SQLite backend does: ``sqlite:///rel.db`` is relative to the
    working directory, ``sqlite:////abs.db`` absolute; ``sqlite://``,
    ``sqlite://:memory:`` and ``sqlite:///:memory:`` are in memory.
    """
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.split("+", 1)[0].lower() != "sqlite":
        return None
    rest = rest.partition("?")[0]
    if rest in ("", ":memory:", "/:memory:") or not rest.startswith("/") or rest == "/":
        return None  # in memory, or a malformed URL the backend explains
    return rest[1:]


def open_existing(url: str, *, create: bool = False) -> Store:
    """Open the store at ``url``; a SQLite file must exist unless ``create``.

    Opening a SQLite URL creates the file, which a command that only reads
    must not do for a mistyped path.
    """
    path = sqlite_path(url)
    if path is not None and not create and not os.path.exists(path):
        raise CommandError(
            f"no SQLite database at {path!r} (from {url}); check the path "
            f"(sqlite:///relative.db or sqlite:////absolute/path.db)"
        )
    return open_store(url)


def shown_url(url: str) -> str:
    """A URL fit for output: without its password."""
    return redact_url(url)


def print_json(data: Any) -> None:
    """``data`` as indented JSON on stdout (non-ASCII kept as is)."""
    print(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], indent: str = "  ") -> None:
    """Rows in aligned columns; numeric columns are right-aligned."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    numeric = [
        all(isinstance(r[i], (int, float)) and not isinstance(r[i], bool) for r in rows)
        for i in range(len(headers))
    ]
    for row in cells:
        parts = [
            cell.rjust(widths[i]) if numeric[i] and rows else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        print(indent + "  ".join(parts).rstrip())


def record_to_json(record: Record, *, vectors: bool = True) -> dict[str, Any]:
    """A record as the JSON object used by ``inspect --json`` and ``export``."""
    out: dict[str, Any] = {"id": record.id, "text": record.text}
    if vectors:
        out["vector"] = record.vector
    out["metadata"] = record.metadata
    return out


def confirm(question: str) -> bool:
    """Ask a yes/no question on the terminal; ``False`` unless the answer is yes."""
    print(f"{question} [y/N] ", end="", file=sys.stderr, flush=True)
    answer = sys.stdin.readline()
    return answer.strip().lower() in ("y", "yes")
