"""The fallback's replay journal: writes a member missed, in order, optionally on disk.

In memory by default. With a path, every entry is also in a SQLite file (synchronous
``FULL``: on disk before the write is acknowledged) and is deleted once replayed, so
writes journaled for a store survive the process: a fallback opened again over the same
stores with the same journal replays them.

Entries are stored as JSON through a closed codec (no pickle: opening a journal runs
no code from it): only JSON values, bytes, tuples and the package's own
:class:`~bruno_memory_integrations.types.Record`, ``CollectionInfo`` and filter nodes.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import sqlite3
import threading
from collections import deque
from collections.abc import Sequence
from typing import Any

from ...errors import ConfigurationError
from ...filters import And, Comparison, Not, Or
from ...types import CollectionInfo, Record

__all__ = ["Journal", "decode", "encode"]

_CLASSES: dict[str, type] = {
    c.__name__: c for c in (Record, CollectionInfo, Comparison, And, Or, Not)
}
Entry = tuple[int, str, tuple[Any, ...]]
"""(sequence number, backend operation name, its arguments)."""


def _enc(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list):
        return [_enc(v) for v in value]
    if isinstance(value, tuple):
        return {"t": [_enc(v) for v in value]}
    if isinstance(value, dict):
        return {"d": [[k, _enc(v)] for k, v in value.items()]}
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"b": base64.b64encode(bytes(value)).decode("ascii")}
    name = type(value).__name__
    if dataclasses.is_dataclass(value) and _CLASSES.get(name) is type(value):
        fields = {f.name: _enc(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {"c": [name, fields]}
    raise TypeError(f"cannot journal a {type(value).__name__}")


def _dec(value: Any) -> Any:
    if isinstance(value, list):
        return [_dec(v) for v in value]
    if not isinstance(value, dict):
        return value
    (kind, body), = value.items()
    if kind == "t":
        return tuple(_dec(v) for v in body)
    if kind == "d":
        return {k: _dec(v) for k, v in body}
    if kind == "b":
        return base64.b64decode(body)
    if kind == "c" and body[0] in _CLASSES:
        return _CLASSES[body[0]](**{k: _dec(v) for k, v in body[1].items()})
    raise ValueError(f"not a journal entry: {value!r}")


def encode(name: str, args: tuple[Any, ...]) -> str:
    return json.dumps([name, _enc(args)], allow_nan=False, separators=(",", ":"))


def decode(text: str) -> tuple[str, tuple[Any, ...]]:
    name, args = json.loads(text)
    return str(name), tuple(_dec(args))


class Journal:
    """Per member, the writes it has not applied yet, oldest first."""

    def __init__(self, members: Sequence[str], path: str | None = None) -> None:
        self._queues: list[deque[Entry]] = [deque() for _ in members]
        self._lock = threading.Lock()
        self._seq = 0
        self._db: sqlite3.Connection | None = None
        self.path = path
        if path is not None:
            self._open(path, list(members))

    def _open(self, path: str, members: list[str]) -> None:
        try:
            db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            db.execute(
                "CREATE TABLE IF NOT EXISTS journal "
                "(seq INTEGER PRIMARY KEY, member INTEGER NOT NULL, entry TEXT NOT NULL)"
            )
            row = db.execute("SELECT value FROM meta WHERE key = 'members'").fetchone()
            if row is None:
                db.execute("INSERT INTO meta VALUES ('members', ?)", (json.dumps(members),))
            elif json.loads(row[0]) != members:
                db.close()
                raise ConfigurationError(
                    f"the fallback journal {path!r} belongs to the stores {json.loads(row[0])}, "
                    f"not {members}; open it with the same stores in the same order"
                )
            rows = db.execute("SELECT seq, member, entry FROM journal ORDER BY seq").fetchall()
        except sqlite3.Error as exc:
            raise ConfigurationError(f"cannot open the fallback journal {path!r}: {exc}") from None
        for seq, member, entry in rows:
            name, args = decode(entry)
            self._queues[member].append((seq, name, args))
            self._seq = max(self._seq, seq)
        self._db = db

    def __len__(self) -> int:
        return sum(len(q) for q in self._queues)

    def behind(self, member: int) -> int:
        return len(self._queues[member])

    def first(self, member: int) -> Entry | None:
        with self._lock:
            q = self._queues[member]
            return q[0] if q else None

    def append(self, members: Sequence[int], name: str, args: tuple[Any, ...]) -> None:
        """Journal one write for these members (on disk first, when there is a file)."""
        if not members:
            return
        with self._lock:
            self._seq += 1
            seq = self._seq
            if self._db is not None:
                text = encode(name, args)
                self._db.execute("BEGIN")
                self._db.executemany(
                    "INSERT INTO journal (seq, member, entry) VALUES (?, ?, ?)",
                    [(seq * len(self._queues) + m, m, text) for m in members],
                )
                self._db.execute("COMMIT")
            for m in members:
                self._queues[m].append((seq * len(self._queues) + m, name, args))

    def pop(self, member: int, seq: int) -> None:
        """Forget an entry once it has been applied."""
        with self._lock:
            q = self._queues[member]
            if q and q[0][0] == seq:
                q.popleft()
                if self._db is not None:
                    self._db.execute("DELETE FROM journal WHERE seq = ?", (seq,))

    def discard(self, member: int) -> None:
        """Forget every entry of a member (it no longer holds the same data)."""
        with self._lock:
            self._queues[member].clear()
            if self._db is not None:
                self._db.execute("DELETE FROM journal WHERE member = ?", (member,))

    def close(self) -> None:
        with self._lock:
            db, self._db = self._db, None
        if db is not None:
            db.close()
