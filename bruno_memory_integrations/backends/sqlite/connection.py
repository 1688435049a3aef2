"""SQLite connections: URL parsing, driver choice, one connection per thread, transactions.

Concurrency model:

* A database file gets one connection per thread (``threading.local``), opened
  with a busy timeout, in WAL mode, so readers never wait for writers and
  several threads and processes can share the file.
* Every write runs in ``BEGIN IMMEDIATE``: the write lock is taken up front, so a
  transaction never has to upgrade a read lock (the WAL case where SQLite gives
  up at once with SQLITE_BUSY instead of waiting). Any SQLITE_BUSY that still
  escapes (WAL recovery, a checkpoint) retries the whole transaction with
  back-off until ``timeout`` seconds have passed.
* An in-memory database, or a connection the caller passes in, is one
  connection used under a lock: a private ``:memory:`` database is visible only
  to the connection that made it.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
import weakref
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from ...errors import (
    BackendError,
    ConfigurationError,
    InvalidInputError,
    MissingDependencyError,
    StoreClosedError,
)

__all__ = ["ConnectionSource", "SQLiteURL", "load_driver", "parse_sqlite_url"]

log = logging.getLogger(__name__)
T = TypeVar("T")

_SQLITE_BUSY, _SQLITE_LOCKED = 5, 6


@dataclass(frozen=True)
class SQLiteURL:
    """A parsed ``sqlite://`` URL: a file path, or ``None`` for an in-memory database."""

    path: str | None
    options: dict[str, str] = field(default_factory=dict)


def parse_sqlite_url(url: str) -> SQLiteURL:
    """Split a SQLAlchemy-style SQLite URL into path and query options.

    ``sqlite:///rel.db`` is relative, ``sqlite:////abs/x.db`` absolute;
    ``sqlite://``, ``sqlite://:memory:`` and ``sqlite:///:memory:`` are in-memory.
    """
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.split("+", 1)[0].lower() != "sqlite":
        raise ConfigurationError(f"not a sqlite URL: {url!r}; expected 'sqlite:///path.db'")
    rest, _, query = rest.partition("?")
    options = dict(parse_qsl(query, keep_blank_values=True))
    if rest in ("", ":memory:", "/:memory:"):
        return SQLiteURL(None, options)
    if not rest.startswith("/") or rest == "/":
        raise ConfigurationError(
            f"bad sqlite URL {url!r}: use 'sqlite:///relative.db', 'sqlite:////absolute/path.db' "
            f"or 'sqlite://:memory:' (a sqlite URL has no host)"
        )
    return SQLiteURL(rest[1:], options)


def load_driver(need_extensions: bool) -> ModuleType:
    """The DB-API module to use: stdlib ``sqlite3`` unless extensions are needed and it can't."""
    import sqlite3

    if not need_extensions or hasattr(sqlite3.Connection, "enable_load_extension"):
        return sqlite3
    try:
        return importlib.import_module("pysqlite3.dbapi2")
    except ImportError:
        raise MissingDependencyError(
            "pysqlite3-binary", "sqlite-vec",
            "the sqlite-vec k-NN engine (this Python's sqlite3 cannot load extensions)",
        ) from None


def driver_of(conn: Any) -> ModuleType:
    """The DB-API module a connection object comes from (``sqlite3`` or ``pysqlite3``)."""
    return importlib.import_module(type(conn).__module__)


def _is_busy(exc: BaseException) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED)
    msg = str(exc).lower()
    return "database is locked" in msg or "database table is locked" in msg or "busy" in msg


def _close_quietly(conn: Any) -> None:
    try:
        conn.close()
    except Exception:  # pragma: no cover - closing a broken connection
        log.debug("closing a SQLite connection failed", exc_info=True)


class _Holder:
    """Owns one thread's connection; when the thread ends it is collected and closes it.

    ``lock`` is held while the connection is in use: closing a connection that
    another thread is executing on crashes the interpreter, so :meth:`close`
    takes it first and in-flight work finishes before the connection goes.
    """

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.lock = threading.Lock()
        self.closed = False


class ConnectionSource:
    """Hands out connections and runs transactions on them, with retry on SQLITE_BUSY.

    Args:
        driver: The DB-API module (``sqlite3`` or ``pysqlite3.dbapi2``).
        connect: Opens and sets up a new connection (per-thread mode).
        shared: One existing connection, used under a lock (single mode).
        timeout: Seconds to keep retrying a busy database before failing.
        owned: Whether :meth:`close` closes ``shared``.
        lock: The lock guarding ``shared`` (when other sources share it too).
    """

    def __init__(
        self,
        driver: ModuleType,
        *,
        connect: Callable[[], Any] | None = None,
        shared: Any = None,
        timeout: float = 30.0,
        owned: bool = True,
        lock: threading.RLock | None = None,
    ) -> None:
        if (connect is None) == (shared is None):
            raise ValueError("pass connect= or shared=, not both")
        self.driver = driver
        self.timeout = timeout
        self._connect = connect
        self._shared = shared
        self._owned = owned
        self._lock = lock or threading.RLock()
        self._local = threading.local()
        self._holders: list[tuple[weakref.ref[_Holder], weakref.finalize]] = []
        self._closed = False

    def _holder(self) -> _Holder:
        """The calling thread's connection holder (per-thread mode), made on first use."""
        holder: _Holder | None = getattr(self._local, "holder", None)
        if holder is None:
            assert self._connect is not None
            conn = self._connect()
            holder = _Holder(conn)
            fin = weakref.finalize(holder, _close_quietly, conn)
            with self._lock:
                if self._closed:
                    fin()
                    raise StoreClosedError("this SQLite store is closed")
                self._holders = [(h, f) for h, f in self._holders if f.alive]
                self._holders.append((weakref.ref(holder), fin))
            self._local.holder = holder
        return holder

    def _attempt(self, fn: Callable[[Any], T], write: bool | None) -> T:
        """One try of :meth:`run`: on the shared connection under its lock, else on
        the calling thread's own connection. Plain ``with`` blocks, not a
        generator-based context manager: this runs on every call, where that costs
        more than the statement of a small read."""
        if self._closed:
            raise StoreClosedError("this SQLite store is closed")
        if self._shared is not None:
            with self._lock:
                if self._closed:
                    raise StoreClosedError("this SQLite store is closed")
                return self._transaction(self._shared, fn, write)
        holder = self._holder()
        with holder.lock:
            if holder.closed:
                raise StoreClosedError("this SQLite store is closed")
            return self._transaction(holder.conn, fn, write)

    def run(self, fn: Callable[[Any], T], write: bool | None) -> T:
        """Run ``fn(cursor)`` in a transaction: ``write`` takes the write lock first,
        ``False`` is a read snapshot, ``None`` runs without a transaction.

        The whole transaction is retried while the database is busy, up to ``timeout``.
        """
        deadline = time.monotonic() + self.timeout
        delay = 0.002
        while True:
            try:
                return self._attempt(fn, write)
            except self.driver.OperationalError as exc:
                if not _is_busy(exc):
                    raise BackendError(f"SQLite failed: {exc}") from exc
                if time.monotonic() + delay > deadline:
                    raise BackendError(
                        f"the SQLite database stayed locked for more than {self.timeout:g} s "
                        f"(another thread or process holds a long write transaction); "
                        f"raise timeout= or shorten the other writer ({exc})"
                    ) from exc
                time.sleep(delay)
                delay = min(delay * 2, 0.1)
            except self.driver.ProgrammingError as exc:
                if "thread" in str(exc):
                    raise ConfigurationError(
                        f"{exc}: pass a connection made with check_same_thread=False "
                        f"(the async methods run in worker threads)"
                    ) from exc
                raise BackendError(f"SQLite failed: {exc}") from exc
            except self.driver.Error as exc:
                raise BackendError(f"SQLite failed: {exc}") from exc
            except UnicodeEncodeError as exc:
                raise InvalidInputError(
                    f"a string is not valid Unicode (it holds a lone surrogate): {exc}"
                ) from exc

    def _transaction(self, conn: Any, fn: Callable[[Any], T], write: bool | None) -> T:
        cur = conn.cursor()
        cur.row_factory = None  # independent of a caller's connection.row_factory
        if write is None:
            return fn(cur)
        if conn.in_transaction:
            # A caller's connection with its own open transaction: join it.
            cur.execute("SAVEPOINT bruno_memory")
            try:
                result = fn(cur)
            except BaseException:
                cur.execute("ROLLBACK TO bruno_memory")
                cur.execute("RELEASE bruno_memory")
                raise
            cur.execute("RELEASE bruno_memory")
            return result
        cur.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            result = fn(cur)
            cur.execute("COMMIT")
            return result
        except BaseException:
            if conn.in_transaction:
                with suppress(self.driver.Error):  # already rolled back
                    cur.execute("ROLLBACK")
            raise

    def close(self) -> None:
        """Close every connection this source opened (not a caller's). Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            holders, self._holders = self._holders, []
            if self._shared is not None and self._owned:
                _close_quietly(self._shared)  # under the lock: no call is using it
        for ref, fin in holders:
            holder = ref()
            if holder is None:  # its thread ended; the finalizer closed it
                fin()
                continue
            with holder.lock:  # waits for a call in flight on that thread
                holder.closed = True
                fin()

    @property
    def open_connections(self) -> int:
        """How many per-thread connections are open (for tests and diagnostics)."""
        with self._lock:
            return sum(f.alive for _, f in self._holders)


class SharedMemoryDatabases:
    """Named in-memory databases shared by every backend in the process that opens them.

    The database lives while at least one backend holds it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._dbs: dict[str, tuple[Any, threading.RLock, int]] = {}

    def acquire(self, name: str, driver: ModuleType) -> tuple[Any, threading.RLock]:
        with self._lock:
            conn, lock, refs = self._dbs.get(name, (None, threading.RLock(), 0))
            if conn is None:
                conn = open_memory(driver)
            self._dbs[name] = (conn, lock, refs + 1)
            return conn, lock

    def release(self, name: str) -> None:
        with self._lock:
            conn, lock, refs = self._dbs[name]
            if refs > 1:
                self._dbs[name] = (conn, lock, refs - 1)
                return
            del self._dbs[name]
        _close_quietly(conn)


def open_memory(driver: ModuleType) -> Any:
    """A private in-memory database connection, usable from any thread (under a lock)."""
    return driver.connect(":memory:", isolation_level=None, check_same_thread=False)
