"""Connections for the PostgreSQL backend: pools it owns or clients it was given,
and the drivers that run an operation (``backend.py``) in one transaction on a sync
or an async connection, retrying it once on a fresh connection when the old one
died and the operation is idempotent.

Pools are opened on first use and closed by ``close()``/``aclose()``; a
``weakref.finalize`` on the backend closes them when a store is garbage-collected
without being closed. The finalizer holds a :class:`PoolSet`, never the backend, so
the backend can be collected. Clients passed in by the caller are never closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import select
import threading
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

import psycopg
from psycopg import errors as pg_errors
from psycopg.rows import tuple_row
from psycopg_pool import AsyncConnectionPool, ConnectionPool, PoolClosed, PoolTimeout

from ...errors import BackendError, BackendUnavailableError, InvalidInputError, StoreClosedError
from ...sansio import Op, adrive, drive
from . import query as q
from .options import PostgresOptions, mask_url
from .schema import (
    JSONB_OID,
    CopyIn,
    JsonbLoader,
    Settings,
    Statement,
    VectorParam,
    VectorParamDumper,
)

T = TypeVar("T")

log = logging.getLogger("bruno_memory_integrations.backends.postgres")

__all__ = ["ClientSource", "OwnedPools", "PoolSet", "Source", "arun", "arun_op", "run", "run_op"]

# Tasks closing async pools from sync code; kept so they are not garbage-collected.
_CLOSING: set[asyncio.Task[Any]] = set()


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


async def _close_when_loop_ends(pool: AsyncConnectionPool[Any]) -> None:
    """Close an async pool when its event loop shuts down, if nothing closed it before.

    ``asyncio.run`` cancels every task on exit. psycopg_pool's workers survive a
    cancellation that arrives while they open a connection and then wait forever,
    so a program that never called ``aclose()`` could hang on exit. This task is
    cancelled with them and closes the pool, which stops its workers. A connection
    that no pool holds any more keeps its socket until the store's ``close()`` (or
    the next loop's first call) closes it: closing a socket a task still waits on
    would hang that task.
    """
    try:
        await asyncio.Event().wait()  # until cancelled: by aclose()/close() or the loop's end
    except asyncio.CancelledError:
        await pool.close(timeout=1.0)
        raise


def _heard_from_server(conn: psycopg.Connection[Any] | psycopg.AsyncConnection[Any]) -> bool:
    """Whether an idle pooled connection's socket has something to read.

    An idle connection receives nothing unless the server ended it (a shutdown
    notice, or end-of-file after a crash or restart), so a quiet socket needs no
    round trip before it is used.
    """
    try:
        readable, _, _ = select.select([conn.pgconn.socket], [], [], 0)
    except (OSError, ValueError, psycopg.OperationalError):
        return True
    return bool(readable)


def _check(conn: psycopg.Connection[Any]) -> None:
    """Pool check: a round trip only for a connection the server may have ended."""
    if _heard_from_server(conn):
        ConnectionPool.check_connection(conn)


async def _acheck(conn: psycopg.AsyncConnection[Any]) -> None:
    if _heard_from_server(conn):
        await AsyncConnectionPool.check_connection(conn)


# ============================================================ running ops
Step = Statement | CopyIn | Settings

#: Per connection: the session settings this package gave it (``name -> value``).
#: A connection is known here once its adapters can send :class:`VectorParam`.
_SESSIONS: weakref.WeakKeyDictionary[Any, dict[str, str]] = weakref.WeakKeyDictionary()


def _session(conn: psycopg.Connection[Any] | psycopg.AsyncConnection[Any]) -> dict[str, str]:
    state = _SESSIONS.get(conn)
    if state is None:
        conn.adapters.register_dumper(VectorParam, VectorParamDumper)  # a private class
        state = _SESSIONS[conn] = {}
    return state


def _settings_plan(
    step: Settings, session: dict[str, str], own: bool, in_transaction: bool
) -> tuple[Statement | None, bool]:
    """How to apply ``step``: (the statement to run or None, whether it is session-level).

    On a connection of the store's own pool, outside a transaction (where a rollback
    could undo them), settings are made for the session and remembered, so the same
    settings cost nothing the next time. Otherwise they last for the transaction.
    """
    if own and not in_transaction:
        changed = [(k, v) for k, v in step.pairs if session.get(k) != v]
        return (q.set_config(changed, local=False) if changed else None), True
    return q.set_config(step.pairs, local=True), False


def _prepare_copy(cur: psycopg.Cursor[Any] | psycopg.AsyncCursor[Any], step: CopyIn) -> None:
    for dumper in step.dumpers:
        cur.adapters.register_dumper(None, dumper)  # by oid only, for set_types()


def _execute(cur: psycopg.Cursor[Any], step: Statement | CopyIn) -> Any:
    if isinstance(step, CopyIn):
        _prepare_copy(cur, step)
        with cur.copy(step.query) as copy:
            if step.types:
                copy.set_types(step.types)
            for row in step.rows:
                copy.write_row(row)
        return None
    cur.execute(step.query, step.params)
    if step.fetch == "one":
        return cur.fetchone()
    if step.fetch == "all":
        return cur.fetchall()
    return cur.rowcount if step.fetch == "rowcount" else None


async def _aexecute(cur: psycopg.AsyncCursor[Any], step: Statement | CopyIn) -> Any:
    if isinstance(step, CopyIn):
        _prepare_copy(cur, step)
        async with cur.copy(step.query) as copy:
            if step.types:
                copy.set_types(step.types)
            for i, row in enumerate(step.rows, 1):
                await copy.write_row(row)
                if i % 500 == 0:
                    await asyncio.sleep(0)  # let other tasks run between chunks
        return None
    await cur.execute(step.query, step.params)
    if step.fetch == "one":
        return await cur.fetchone()
    if step.fetch == "all":
        return await cur.fetchall()
    return cur.rowcount if step.fetch == "rowcount" else None


class _Recover:
    """Hands a database error back to the op (it may handle it); remembers that it did.

    A broken connection is not the op's business: it propagates.
    """

    def __init__(self, conn: psycopg.Connection[Any] | psycopg.AsyncConnection[Any]) -> None:
        self.conn = conn
        self.failed = False  # an error went to the op: the transaction is aborted

    def __call__(self, exc: BaseException) -> bool:
        if not isinstance(exc, psycopg.Error) or self.conn.broken:
            return False
        self.failed = True
        return True


class _Lazy:
    """When an op's transaction opens: at its first step that is not a lone read
    (``Statement.alone``) or a final statement run outside one (``Statement.final``).

    A caller's connection that is not in autocommit mode runs every op in a
    transaction (a savepoint inside the caller's own).
    """

    def __init__(self, conn: psycopg.Connection[Any] | psycopg.AsyncConnection[Any]) -> None:
        self.lazy = bool(conn.autocommit)
        self.ended = False

    def needs_transaction(self, step: Statement | CopyIn, opened: bool) -> bool:
        if self.ended:
            raise RuntimeError("a PostgreSQL op yielded a step after its final statement")
        if isinstance(step, Statement) and step.final:
            self.ended = True
        if opened or not self.lazy:
            return not opened
        return not (isinstance(step, Statement) and (step.alone or step.final))


def run(conn: psycopg.Connection[Any], op: Op[T], own: bool = False) -> T:
    """Run ``op`` in one transaction on a sync connection (opened lazily, see
    :class:`Statement`). A database error goes back into the op; a broken connection
    ends the run. ``own``: the connection belongs to the store's pool, so
    :class:`Settings` may stay on it.
    """
    recover = _Recover(conn)
    lazy = _Lazy(conn)
    session = _session(conn)
    with contextlib.ExitStack() as stack, conn.cursor(row_factory=tuple_row) as cur:
        cur.adapters.register_loader(JSONB_OID, JsonbLoader)
        tx: psycopg.Transaction | None = None

        def execute(step: Step) -> Any:
            nonlocal tx
            if isinstance(step, Settings):
                statement, lasting = _settings_plan(
                    step, session, own and lazy.lazy, tx is not None
                )
                if statement is None:
                    return None
                if not lasting and tx is None:
                    tx = stack.enter_context(conn.transaction())
                _execute(cur, statement)
                if lasting:
                    session.update(step.pairs)
                return None
            if lazy.needs_transaction(step, tx is not None):
                tx = stack.enter_context(conn.transaction())
            return _execute(cur, step)

        result = drive(op, execute, recover)
        if recover.failed and tx is not None:  # the op handled an error: end the aborted tx
            raise psycopg.Rollback(tx)
    return result


async def arun(conn: psycopg.AsyncConnection[Any], op: Op[T], own: bool = False) -> T:
    """Run ``op`` in one transaction on an async connection (the same steps as :func:`run`)."""
    recover = _Recover(conn)
    lazy = _Lazy(conn)
    session = _session(conn)
    async with contextlib.AsyncExitStack() as stack, conn.cursor(row_factory=tuple_row) as cur:
        cur.adapters.register_loader(JSONB_OID, JsonbLoader)
        tx: psycopg.AsyncTransaction | None = None

        async def execute(step: Step) -> Any:
            nonlocal tx
            if isinstance(step, Settings):
                statement, lasting = _settings_plan(
                    step, session, own and lazy.lazy, tx is not None
                )
                if statement is None:
                    return None
                if not lasting and tx is None:
                    tx = await stack.enter_async_context(conn.transaction())
                await _aexecute(cur, statement)
                if lasting:
                    session.update(step.pairs)
                return None
            if lazy.needs_transaction(step, tx is not None):
                tx = await stack.enter_async_context(conn.transaction())
            return await _aexecute(cur, step)

        result = await adrive(op, execute, recover)
        if recover.failed and tx is not None:
            raise psycopg.Rollback(tx)
    return result


def _error(exc: psycopg.Error, display: str, lost: bool, idempotent: bool) -> BackendError:
    text = _one_line(exc)
    if lost:
        tail = "" if idempotent else "; the write may or may not have been applied"
        return BackendUnavailableError(
            f"lost the connection to PostgreSQL at {display}: {text}{tail}"
        )
    return BackendError(f"PostgreSQL failed ({exc.sqlstate or type(exc).__name__}): {text}")


def _retryable(exc: psycopg.Error, lost: bool) -> bool:
    # Deadlocks and serialization failures leave nothing behind: run it again.
    return lost or isinstance(
        exc,
        (pg_errors.TransactionRollback, pg_errors.DeadlockDetected, pg_errors.SerializationFailure),
    )


def run_op(source: Source, make: Callable[[], Op[T]], idempotent: bool) -> T:
    """Run an operation in one transaction on a pooled sync connection.

    An idempotent operation is run once more on a fresh connection when the
    connection died or the transaction was rolled back by a deadlock.
    """
    attempts = 2 if idempotent else 1
    for attempt in range(attempts):
        conn = None
        try:
            with source.connection() as conn:
                return run(conn, make(), source.owns)
        except psycopg.Error as exc:
            lost = conn is None or conn.broken
            if attempt + 1 < attempts and _retryable(exc, lost):
                _log_retry(exc, lost, source)
                continue
            raise _error(exc, source.display, lost, idempotent) from exc
        except UnicodeEncodeError as exc:
            raise InvalidInputError(f"text that cannot be encoded as UTF-8: {exc}") from None
    raise AssertionError("unreachable")  # pragma: no cover


def _log_retry(exc: psycopg.Error, lost: bool, source: Source) -> None:
    why = "the connection was lost" if lost else "the transaction was rolled back"
    log.warning("retrying once at %s: %s (%s)", source.display, why, _one_line(exc))


async def arun_op(source: Source, make: Callable[[], Op[T]], idempotent: bool) -> T:
    """:func:`run_op` on a pooled async connection."""
    attempts = 2 if idempotent else 1
    for attempt in range(attempts):
        conn = None
        try:
            async with source.aconnection() as conn:
                return await arun(conn, make(), source.owns)
        except psycopg.Error as exc:
            lost = conn is None or conn.broken
            if attempt + 1 < attempts and _retryable(exc, lost):
                _log_retry(exc, lost, source)
                continue
            raise _error(exc, source.display, lost, idempotent) from exc
        except UnicodeEncodeError as exc:
            raise InvalidInputError(f"text that cannot be encoded as UTF-8: {exc}") from None
    raise AssertionError("unreachable")  # pragma: no cover


# ============================================================ pools we own
class PoolSet:
    """The pools a backend opened; what its finalizer closes (no backend reference)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sync_pool: ConnectionPool[Any] | None = None
        self.async_pool: AsyncConnectionPool[Any] | None = None
        self.async_loop: asyncio.AbstractEventLoop | None = None
        #: Task that closes the async pool if its loop ends first (asyncio.run exit).
        self.async_guard: asyncio.Task[None] | None = None
        #: Connections of the async pool, to close their sockets when no loop can.
        self.async_conns: weakref.WeakSet[psycopg.AsyncConnection[Any]] = weakref.WeakSet()
        #: Per event loop: held while that loop's pool is being opened.
        self.async_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )
        self.closed = False

    def check_open(self) -> None:
        if self.closed:
            raise StoreClosedError("this PostgreSQL backend is closed; open a new store")

    def close(self) -> None:
        """Close both pools from sync code (also the GC finalizer). Idempotent."""
        with self.lock:
            self.closed = True
            sync_pool, self.sync_pool = self.sync_pool, None
        if sync_pool is not None:
            sync_pool.close()
        self.discard_async()

    def discard_async(self) -> None:
        """Close the async pool without awaiting: on its loop if it can, else the sockets."""
        pool, loop, conns = self.async_pool, self.async_loop, list(self.async_conns)
        self.async_pool = self.async_loop = None
        self.drop_guard()
        if pool is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if loop is not None and not loop.is_closed():
            if running is loop:
                task = loop.create_task(pool.close())
                _CLOSING.add(task)
                task.add_done_callback(_CLOSING.discard)
                return
            if loop.is_running():  # in another thread
                future = asyncio.run_coroutine_threadsafe(pool.close(), loop)
                with contextlib.suppress(Exception):
                    future.result(timeout=10)
                    return
            elif running is None:
                with contextlib.suppress(Exception):
                    loop.run_until_complete(asyncio.wait_for(pool.close(), 10))
                    return
        # No loop can run the pool's close(): close the sockets directly.
        for conn in conns:
            with contextlib.suppress(Exception):
                conn.pgconn.finish()

    def drop_guard(self) -> None:
        guard, self.async_guard = self.async_guard, None
        if guard is None or guard.done():
            return
        with contextlib.suppress(RuntimeError):  # its loop is closed: nothing to stop
            guard.get_loop().call_soon_threadsafe(guard.cancel)

    async def aclose(self) -> None:
        self.closed = True
        pool, loop = self.async_pool, self.async_loop
        if pool is not None and loop is asyncio.get_running_loop():
            self.async_pool = self.async_loop = None
            self.drop_guard()
            await pool.close()
        await asyncio.to_thread(self.close)


class OwnedPools:
    """Sync and async pools opened lazily from a URL."""

    owns = True
    has_sync = has_async = True

    def __init__(self, conninfo: str, kwargs: dict[str, Any], options: PostgresOptions, url: str):
        self.conninfo = conninfo
        self.kwargs = kwargs
        self.options = options
        self.display = mask_url(url)
        self.pools = PoolSet()

    def _pool_args(
        self, kind: type[ConnectionPool[Any] | AsyncConnectionPool[Any]]
    ) -> dict[str, Any]:
        o = self.options
        return {
            "conninfo": self.conninfo,
            "kwargs": self.kwargs,
            "min_size": o.pool_min_size,
            "max_size": o.pool_size,
            "timeout": o.pool_timeout,
            "open": False,
            "check": (_acheck if kind is AsyncConnectionPool else _check)
            if o.check_connections
            else None,
            "name": "bruno-memory",
        }

    def _unavailable(self, cause: BaseException) -> BackendUnavailableError:
        return BackendUnavailableError(
            f"cannot reach PostgreSQL at {self.display}: {_one_line(cause)}"
        )

    def _busy(self) -> BackendError:
        return BackendError(
            f"no free connection to {self.display} within {self.options.pool_timeout:g}s: all "
            f"{self.options.pool_size} pooled connections are busy; raise pool_size or pool_timeout"
        )

    def _full(self, pool: ConnectionPool[Any] | AsyncConnectionPool[Any]) -> bool:
        """Whether a timed-out pool had every connection open and in use."""
        stats = pool.get_stats()
        full = stats.get("pool_size", 0) >= self.options.pool_size
        return full and not stats.get("pool_available")

    # ---------------------------------------------------------------- sync
    def _probe(self) -> BaseException | None:
        """Connect once: ``None`` when the server answers, else the error saying why not."""
        try:
            psycopg.connect(self.conninfo, **self.kwargs).close()
        except psycopg.Error as exc:
            return exc
        return None

    def _sync_pool(self) -> ConnectionPool[Any]:
        pools = self.pools
        with pools.lock:
            pools.check_open()
            if pools.sync_pool is None:
                # A first connection by hand fails at once with the real cause
                # (refused, bad password, unknown database), where a pool would retry.
                error = self._probe()
                if error is not None:
                    raise self._unavailable(error) from error
                pool: ConnectionPool[Any] = ConnectionPool(**self._pool_args(ConnectionPool))
                try:
                    # Waiting for min_size connections keeps the first request from
                    # growing the pool by one more.
                    pool.open(wait=True, timeout=self.options.connect_timeout)
                except PoolTimeout as exc:
                    pool.close()
                    raise self._unavailable(exc) from exc
                pools.sync_pool = pool
                log.info(
                    "opened a pool of up to %d connections to %s", self.options.pool_size,
                    self.display,
                )
            return pools.sync_pool

    def _discard_sync(self, pool: ConnectionPool[Any]) -> None:
        with self.pools.lock:
            if self.pools.sync_pool is pool:
                self.pools.sync_pool = None
        pool.close(timeout=1.0)

    @contextlib.contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        for attempt in range(2):
            pool = self._sync_pool()
            try:
                conn = pool.getconn()
            except PoolClosed:  # another thread replaced it
                if attempt:
                    raise
                continue
            except PoolTimeout as exc:
                if self._full(pool):
                    raise self._busy() from exc
                error = self._probe()
                if error is not None:
                    raise self._unavailable(error) from error
                if attempt:
                    raise self._unavailable(exc) from exc
                # The server answers but the pool is still backing off from failed
                # reconnections (the server was down a while): start a fresh pool.
                self._discard_sync(pool)
                continue
            try:
                yield conn
            finally:
                pool.putconn(conn)
            return

    # ---------------------------------------------------------------- async
    async def _aprobe(self) -> BaseException | None:
        try:
            conn = await psycopg.AsyncConnection.connect(self.conninfo, **self.kwargs)
        except psycopg.Error as exc:
            return exc
        await conn.close()
        return None

    async def _async_pool(self) -> AsyncConnectionPool[Any]:
        pools = self.pools
        pools.check_open()
        loop = asyncio.get_running_loop()
        if pools.async_pool is not None and pools.async_loop is loop:
            return pools.async_pool
        # One task opens the pool; the others wait for it instead of each opening
        # connections of their own (which overran the server's connection limit).
        lock = pools.async_locks.get(loop)
        if lock is None:  # no await between the lookup and the insert
            lock = pools.async_locks[loop] = asyncio.Lock()
        async with lock:
            if pools.async_pool is not None and pools.async_loop is loop:
                return pools.async_pool
            pools.check_open()
            return await self._open_async_pool(loop)

    async def _open_async_pool(self, loop: asyncio.AbstractEventLoop) -> AsyncConnectionPool[Any]:
        pools = self.pools
        error = await self._aprobe()
        if error is not None:
            raise self._unavailable(error) from error
        if pools.async_pool is not None:
            # An async pool belongs to the event loop it was opened on; this call
            # comes from another loop (e.g. a second asyncio.run).
            pools.discard_async()
        conns = pools.async_conns = weakref.WeakSet()  # this pool's connections

        async def track(conn: psycopg.AsyncConnection[Any]) -> None:
            conns.add(conn)

        pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            configure=track, **self._pool_args(AsyncConnectionPool)
        )
        try:
            await pool.open(wait=True, timeout=self.options.connect_timeout)
        except PoolTimeout as exc:
            await pool.close()
            raise self._unavailable(exc) from exc
        pools.async_pool, pools.async_loop = pool, loop
        guard = loop.create_task(_close_when_loop_ends(pool), name="bruno-memory-pool-guard")
        _CLOSING.add(guard)
        guard.add_done_callback(_CLOSING.discard)
        pools.async_guard = guard
        await asyncio.sleep(0)  # let the guard enter its try block before anything ends the loop
        log.info(
            "opened an async pool of up to %d connections to %s", self.options.pool_size,
            self.display,
        )
        return pool

    async def _adiscard(self, pool: AsyncConnectionPool[Any]) -> None:
        if self.pools.async_pool is pool:
            self.pools.async_pool = self.pools.async_loop = None
            self.pools.drop_guard()
        await pool.close(timeout=1.0)

    @contextlib.asynccontextmanager
    async def aconnection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        for attempt in range(2):
            pool = await self._async_pool()
            try:
                conn = await pool.getconn()
            except PoolClosed:
                if attempt:
                    raise
                continue
            except PoolTimeout as exc:
                if self._full(pool):
                    raise self._busy() from exc
                error = await self._aprobe()
                if error is not None:
                    raise self._unavailable(error) from error
                if attempt:
                    raise self._unavailable(exc) from exc
                await self._adiscard(pool)
                continue
            try:
                yield conn
            finally:
                await pool.putconn(conn)
            return

    def close(self) -> None:
        self.pools.close()

    async def aclose(self) -> None:
        await self.pools.aclose()


# ============================================================ clients we were given
class ClientSource:
    """A connection or pool the caller owns: used, never closed.

    A single connection is shared by the store's threads (or tasks) one operation
    at a time. A sync client serves the async methods through worker threads; an
    async client serves only the async methods.
    """

    owns = False

    def __init__(self, client: Any) -> None:
        self.client = client
        self.is_pool = isinstance(client, (ConnectionPool, AsyncConnectionPool))
        self.has_sync = isinstance(client, (ConnectionPool, psycopg.Connection))
        self.has_async = not self.has_sync
        self._lock = threading.Lock()
        self._alock: asyncio.Lock | None = None
        self.display = f"the {type(client).__name__} passed to from_client"

    def _broken(self) -> BackendUnavailableError:
        return BackendUnavailableError(
            f"{self.display} is closed or its connection broke; open a new connection "
            "(or pass a pool, which replaces broken connections)"
        )

    @contextlib.contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        client = self.client
        if self.is_pool:
            try:
                if client.closed:  # never opened (open=False); a closed one refuses
                    client.open()
                with client.connection() as conn:
                    yield conn
            except (PoolTimeout, PoolClosed) as exc:
                raise BackendUnavailableError(f"no connection from {self.display}: {exc}") from exc
            return
        with self._lock:
            if client.closed:
                raise self._broken()
            yield client

    @contextlib.asynccontextmanager
    async def aconnection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        client = self.client
        if self.is_pool:
            try:
                if client.closed:
                    await client.open()
                async with client.connection() as conn:
                    yield conn
            except (PoolTimeout, PoolClosed) as exc:
                raise BackendUnavailableError(f"no connection from {self.display}: {exc}") from exc
            return
        if self._alock is None:
            self._alock = asyncio.Lock()
        async with self._alock:
            if client.closed:
                raise self._broken()
            yield client

    def close(self) -> None:
        """Nothing to close: the caller owns the client."""

    async def aclose(self) -> None:
        """Nothing to close: the caller owns the client."""


Source = OwnedPools | ClientSource
