"""The SQLite backend: the embedded default store (``sqlite:///path.db``).

See docs/backends/sqlite.md for URLs, options, concurrency and k-NN engines.
"""

from .backend import SQLiteBackend, sqlite_vec_available
from .filters import to_sqlite_where

__all__ = ["SQLiteBackend", "sqlite_vec_available", "to_sqlite_where"]
