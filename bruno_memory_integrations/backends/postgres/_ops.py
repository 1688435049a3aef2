"""Each backend operation as a small program of SQL statements: pure, no I/O.

An op is a generator: it yields a :class:`~._sql.Statement` (or :class:`~._sql.CopyIn`)
and receives what the statement returned (rows, one row, a row count or ``None``).
``_connections.py`` drives the same op on a sync or an async connection inside one
transaction, so the SQL and the logic around it (fall back to an exact scan, treat
a missing table as an empty collection) are written once.

A driver throws a statement's database error into the op at its ``yield``. The
transaction is then aborted, so an op that catches the error must return (or
raise) without running another statement; the driver rolls back.

Lists of statements are yielded in a ``for`` loop: ``yield from`` a list would pass
the driver's replies to the list iterator, which cannot take them.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import psycopg
from psycopg import errors as pg_errors
from psycopg.types.json import Jsonb

from ...backend import Hit
from ...errors import BackendError, ConfigurationError, NotSupportedError
from ...filters import FilterNode
from ...types import CollectionInfo, Message, Page, Record
from . import _queries as q
from . import _sql
from ._options import PostgresOptions
from ._sql import CollectionSpec, CopyIn, Names, Statement
from .filters import to_postgres_where

T = TypeVar("T")
Op = Generator["Statement | CopyIn", Any, T]
Row = tuple[str, str, Any, Jsonb, str]

__all__ = ["Context", "Op", "prepare_rows"]


@dataclass
class Context:
    """What ops need to know about the backend: names, options, collection cache."""

    names: Names
    options: PostgresOptions
    #: pgvector's version as a tuple and its type's oid, known after :func:`init_schema`.
    vector_version: tuple[int, ...] = (0,)
    vector_oid: int = 0
    #: Collections seen so far (name -> spec); refreshed by get_collection.
    specs: dict[str, CollectionSpec] = field(default_factory=dict)

    @property
    def iterative_scans(self) -> bool:
        return self.vector_version >= (0, 8)


def _version(text: str | None) -> tuple[int, ...]:
    out = []
    for part in (text or "0").split("."):
        digits = "".join(ch for ch in part if ch.isdigit())
        out.append(int(digits or 0))
    return tuple(out)


# ---------------------------------------------------------------- schema
def init_schema(ctx: Context) -> Op[None]:
    """Create what is missing, check the schema version, learn pgvector's version and oid."""
    names = ctx.names
    ext, oid, meta = yield _sql.schema_exists(names)
    if ext and meta:
        row = yield _sql.read_version(names)
        if row is not None and row[0] == str(_sql.SCHEMA_VERSION):
            ctx.vector_version, ctx.vector_oid = _version(ext), oid
            return  # the common case: nothing to create, no lock taken
    yield _sql.ddl_lock()  # concurrent first starters queue here
    ext, oid, _ = yield _sql.schema_exists(names)
    if not ext:
        try:
            yield _sql.create_extension()
        except psycopg.Error as exc:
            raise BackendError(
                "the pgvector extension is not installed in this database and could not be "
                f"created ({exc.diag.message_primary or exc}); install pgvector on the server "
                "and run CREATE EXTENSION vector as a superuser"
            ) from exc
    if names.schema != "public":
        (exists,) = yield _sql.namespace_exists(names)
        if not exists:
            yield _sql.create_schema(names)
    for step in _sql.schema_ddl(names):  # noqa: UP028 (replies unused)
        yield step
    (stored,) = yield _sql.read_version(names)
    if int(stored) > _sql.SCHEMA_VERSION:
        raise ConfigurationError(
            f"schema {names.schema!r} was written by a newer release (schema version {stored}, "
            f"this release knows {_sql.SCHEMA_VERSION}); upgrade bruno-memory-integrations"
        )
    # Migrations from older schema versions go here, keyed on `stored`.
    ext, oid, _ = yield _sql.schema_exists(names)
    ctx.vector_version, ctx.vector_oid = _version(ext), oid


# ---------------------------------------------------------------- collections
def get_collection(ctx: Context, name: str) -> Op[CollectionInfo | None]:
    row = yield _sql.select_collection(ctx.names, name)
    if row is None:
        ctx.specs.pop(name, None)
        return None
    spec = _sql.spec_from_row(row)
    ctx.specs[name] = spec
    return spec.info


def _spec(ctx: Context, name: str) -> Op[CollectionSpec | None]:
    spec = ctx.specs.get(name)
    if spec is None:
        row = yield _sql.select_collection(ctx.names, name)
        if row is None:
            return None
        spec = ctx.specs[name] = _sql.spec_from_row(row)
    return spec


def create_collection(ctx: Context, info: CollectionInfo) -> Op[CollectionSpec]:
    if info.dimension > _sql.MAX_DIMENSION:
        raise NotSupportedError(
            "postgresql",
            f"vectors of {info.dimension} dimensions",
            f"pgvector stores at most {_sql.MAX_DIMENSION}",
        )
    yield _sql.ddl_lock()
    row = yield _sql.select_collection(ctx.names, info.name)
    if row is not None:
        return _sql.spec_from_row(row)
    opts = ctx.options
    # pgvector indexes `vector` columns of up to 2000 dimensions; above, search is exact.
    index = opts.index if info.dimension <= _sql.MAX_INDEXED_DIMENSION else "none"
    spec = CollectionSpec(info, _sql.table_name(info.name), index)
    params = {
        "m": opts.hnsw_m,
        "ef_construction": opts.hnsw_ef_construction,
        "lists": opts.ivfflat_lists,
    }
    for step in _sql.collection_ddl(ctx.names, spec, params):  # noqa: UP028 (replies unused)
        yield step
    return spec


def list_collections(ctx: Context) -> Op[list[str]]:
    rows = yield _sql.list_collections(ctx.names)
    return [r[0] for r in rows]


def drop_collection(ctx: Context, name: str) -> Op[None]:
    yield _sql.ddl_lock()
    for step in _sql.drop_collection(ctx.names, name):  # noqa: UP028 (replies unused)
        yield step


# ---------------------------------------------------------------- records
def prepare_rows(records: Sequence[Record], binary: bool) -> list[Row]:
    """Rows in COPY / unnest column order, sorted by id.

    ``binary`` rows carry pgvector's binary vectors (for binary COPY), the others
    its text form. Sorting gives concurrent upserts of overlapping batches one lock
    order, so they cannot deadlock each other.
    """
    ordered = sorted(records, key=lambda r: r.id.encode("utf-8"))
    if binary:
        vectors: list[Any] = _sql.vector_binaries([r.vector or () for r in ordered])
    else:
        vectors = [_sql.vector_literal(r.vector or ()) for r in ordered]
    return [
        (r.id, r.text, v, Jsonb(r.metadata), _sql.tsvector_literal(r.text))
        for r, v in zip(ordered, vectors, strict=True)
    ]


def upsert(ctx: Context, collection: str, rows: list[Row]) -> Op[None]:
    """Small batches: one INSERT from arrays. Big ones: binary COPY, then one INSERT.

    When a big batch is at least half as large as the collection (a first load, a
    re-import), the vector index is dropped and built again after the insert:
    pgvector builds an index over many rows about five times faster than it
    inserts them one by one.
    """
    names, table = ctx.names, _sql.table_name(collection)
    try:
        if len(rows) < ctx.options.copy_threshold:
            yield q.upsert_values(names, table, [list(col) for col in zip(*rows, strict=True)])
            return
        for step in q.stage_copy(rows, ctx.vector_oid):  # noqa: UP028 (replies unused)
            yield step
        rebuild = None
        spec = yield from _spec(ctx, collection)
        if spec is not None and spec.index != "none":
            # Another load may be rebuilding this index: decide after it commits.
            yield q.load_lock(names, table)
            (existing,) = yield q.count_upto(names, table, 2 * len(rows))
            if existing < 2 * len(rows):
                row = yield q.index_definition(names, spec.table + "_vec")
                if row is not None:
                    rebuild = row[0]
                    yield q.drop_index(names, spec.table + "_vec")
        yield q.upsert_from_stage(names, table)
        if rebuild is not None:
            yield q.run_definition(rebuild)
    except pg_errors.UndefinedTable:
        ctx.specs.pop(collection, None)
        raise BackendError(
            f"collection {collection!r} does not exist any more (dropped by another store?); "
            f"open a new store to create it again"
        ) from None


def _record(row: Sequence[Any], include_vectors: bool) -> Record:
    vector = _sql.parse_vector(row[3]) if include_vectors else None
    return Record(row[0], row[1], vector, row[2])


def get(
    ctx: Context, collection: str, ids: Sequence[str], include_vectors: bool
) -> Op[list[Record]]:
    try:
        rows = yield q.get_records(ctx.names, _sql.table_name(collection), ids, include_vectors)
    except pg_errors.UndefinedTable:
        return []
    return [_record(r, include_vectors) for r in rows]


def delete(ctx: Context, collection: str, ids: Sequence[str]) -> Op[int]:
    try:
        deleted: int = yield q.delete_ids(ctx.names, _sql.table_name(collection), ids)
    except pg_errors.UndefinedTable:
        return 0
    return deleted


def delete_where(ctx: Context, collection: str, where: FilterNode | None) -> Op[int]:
    clause = to_postgres_where(where)
    try:
        deleted: int = yield q.delete_where(ctx.names, _sql.table_name(collection), clause)
    except pg_errors.UndefinedTable:
        return 0
    return deleted


def count(ctx: Context, collection: str, where: FilterNode | None) -> Op[int]:
    clause = to_postgres_where(where)
    try:
        (n,) = yield q.count(ctx.names, _sql.table_name(collection), clause)
    except pg_errors.UndefinedTable:
        return 0
    return int(n)


def scan(
    ctx: Context,
    collection: str,
    where: FilterNode | None,
    limit: int,
    cursor: str | None,
    include_vectors: bool,
) -> Op[Page]:
    clause = to_postgres_where(where)
    table = _sql.table_name(collection)
    try:
        rows = yield q.scan(ctx.names, table, clause, limit, cursor, include_vectors)
    except pg_errors.UndefinedTable:
        return Page([], None)
    page = [_record(r, include_vectors) for r in rows[:limit]]
    return Page(page, page[-1].id if len(rows) > limit else None)


def search(
    ctx: Context,
    collection: str,
    vector: Sequence[float],
    k: int,
    where: FilterNode | None,
    include_vectors: bool,
) -> Op[list[Hit]]:
    """ANN search; when it yields fewer than ``k`` rows, the same query run exactly.

    An index scan with a filter can stop before ``k`` rows pass it (even iterative
    scans stop at ``hnsw.max_scan_tuples``); the exact rerun makes sure every
    matching row is found whenever fewer than ``k`` match.
    """
    clause = to_postgres_where(where)
    literal = _sql.vector_literal(vector)
    spec = yield from _spec(ctx, collection)
    if spec is None:
        return []
    opts = ctx.options
    query = q.search(ctx.names, spec, literal, k, clause, include_vectors)
    try:
        settings = q.search_settings(
            spec, k, opts.ef_search, opts.ivfflat_probes, ctx.iterative_scans
        )
        if settings is not None:
            yield settings
        rows = yield query
        if len(rows) < k and spec.index != "none":
            yield q.exact_scan_setting()
            rows = yield query
    except pg_errors.UndefinedTable:
        ctx.specs.pop(collection, None)
        return []
    # pgvector's cosine distance to a zero vector is NaN; scores.py's is 1.
    return [(_record(r, include_vectors), _sql.finite_or(float(r[-1]), 1.0)) for r in rows]


def keyword_search(
    ctx: Context, collection: str, query: str, k: int, where: FilterNode | None
) -> Op[list[Hit]]:
    clause = to_postgres_where(where)
    tsquery = _sql.tsquery_literal(query)
    if tsquery is None:
        return []
    try:
        rows = yield q.keyword_search(ctx.names, _sql.table_name(collection), tsquery, k, clause)
    except pg_errors.UndefinedTable:
        return []
    return [(_record(r, False), float(r[-1])) for r in rows]


# ---------------------------------------------------------------- chat
def append_messages(
    ctx: Context, namespace: str, session_id: str, messages: Sequence[Message]
) -> Op[None]:
    yield q.append_messages(ctx.names, namespace, session_id, [Jsonb(m) for m in messages])


def get_messages(
    ctx: Context, namespace: str, session_id: str, last_n: int | None
) -> Op[list[Message]]:
    rows = yield q.get_messages(ctx.names, namespace, session_id, last_n)
    return [r[0] for r in rows]


def clear_messages(ctx: Context, namespace: str, session_id: str) -> Op[None]:
    yield q.clear_messages(ctx.names, namespace, session_id)


def list_sessions(ctx: Context, namespace: str) -> Op[list[str]]:
    rows = yield q.list_sessions(ctx.names, namespace)
    return [r[0] for r in rows]


# ---------------------------------------------------------------- key-value
def kv_put(ctx: Context, collection: str, items: Sequence[tuple[str, bytes]]) -> Op[None]:
    ordered = sorted(items, key=lambda kv: kv[0].encode("utf-8"))  # one lock order
    yield q.kv_put(ctx.names, collection, ordered)


def kv_get(ctx: Context, collection: str, keys: Sequence[str]) -> Op[list[bytes | None]]:
    rows = yield q.kv_get(ctx.names, collection, keys)
    found = {k: bytes(v) for k, v in rows}
    return [found.get(k) for k in keys]


def kv_delete(ctx: Context, collection: str, keys: Sequence[str]) -> Op[None]:
    yield q.kv_delete(ctx.names, collection, keys)


def kv_keys(ctx: Context, collection: str, prefix: str | None) -> Op[list[str]]:
    rows = yield q.kv_keys(ctx.names, collection, prefix)
    return [r[0] for r in rows]
