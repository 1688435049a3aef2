"""Options of the SQLite backend and the choice of k-NN engine."""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ...errors import ConfigurationError, MissingDependencyError
from .connection import load_driver

__all__ = ["SQLiteOptions", "load_sqlite_vec", "parse_options", "sqlite_vec_available"]

KNN_CHOICES = ("auto", "numpy", "sqlite-vec")
SYNC_CHOICES = ("OFF", "NORMAL", "FULL", "EXTRA")
KNOWN = ("timeout", "knn", "cache_vectors", "synchronous", "name")


@dataclass(frozen=True)
class SQLiteOptions:
    """Checked backend options (see docs/backends/sqlite.md).

    Attributes:
        timeout: Seconds to wait for a locked database before failing.
        knn: The engine after resolving ``"auto"``: ``"numpy"`` or ``"sqlite-vec"``.
        cache_vectors: Keep searched collections' vectors in memory (numpy engine).
        synchronous: ``PRAGMA synchronous`` for file databases.
        name: In-memory only: stores opened with the same name share one database.
    """

    timeout: float = 30.0
    knn: str = "numpy"
    cache_vectors: bool = True
    synchronous: str = "NORMAL"
    name: str | None = None


def _bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ConfigurationError(f"option {name} takes true or false, got {value!r}")


def sqlite_vec_available() -> bool:
    """Whether the sqlite-vec engine can run here (package + a driver that loads extensions)."""
    if importlib.util.find_spec("sqlite_vec") is None:
        return False
    try:
        load_driver(need_extensions=True)
    except ImportError:
        return False
    return True


def _engine(knn: str) -> str:
    if knn == "sqlite-vec":
        if not sqlite_vec_available():
            raise MissingDependencyError(
                "sqlite-vec", "sqlite-vec",
                "knn='sqlite-vec' (it also needs a sqlite3 that can load extensions, "
                "e.g. pysqlite3-binary)",
            )
        return "sqlite-vec"
    # "auto": numpy with the vector cache was as fast or faster than sqlite-vec in
    # every measured case (benchmarks/bench_sqlite_knn.py, docs/backends/sqlite.md).
    return "numpy"


def parse_options(options: Mapping[str, Any]) -> SQLiteOptions:
    """Check options given as keywords or URL query parameters (strings)."""
    opts = dict(options)
    unknown = sorted(set(opts) - set(KNOWN))
    if unknown:
        raise ConfigurationError(
            f"unknown options for the sqlite backend: {unknown}; known: {', '.join(KNOWN)}"
        )
    try:
        timeout = float(opts.get("timeout", 30.0))
    except (TypeError, ValueError):
        raise ConfigurationError("option timeout takes a number of seconds") from None
    if not timeout >= 0:
        raise ConfigurationError(f"option timeout must be >= 0, got {timeout!r}")
    knn = str(opts.get("knn", "auto")).lower().replace("_", "-")
    if knn not in KNN_CHOICES:
        raise ConfigurationError(f"option knn takes one of {KNN_CHOICES}, got {knn!r}")
    sync = str(opts.get("synchronous", "NORMAL")).upper()
    if sync not in SYNC_CHOICES:
        raise ConfigurationError(f"option synchronous takes one of {SYNC_CHOICES}, got {sync!r}")
    name = opts.get("name")
    return SQLiteOptions(
        timeout=timeout,
        knn=_engine(knn),
        cache_vectors=_bool(opts.get("cache_vectors", True), "cache_vectors"),
        synchronous=sync,
        name=str(name) if name is not None else None,
    )


def load_sqlite_vec(conn: Any) -> None:
    """Load the sqlite-vec extension into a connection.

    Raises:
        MissingDependencyError: the connection's sqlite3 cannot load extensions.
    """
    import sqlite_vec

    if not hasattr(conn, "enable_load_extension"):
        raise MissingDependencyError(
            "pysqlite3-binary", "sqlite-vec",
            "knn='sqlite-vec' (this sqlite3 connection cannot load extensions)",
        )
    conn.enable_load_extension(True)
    try:
        sqlite_vec.load(conn)
    finally:
        conn.enable_load_extension(False)
