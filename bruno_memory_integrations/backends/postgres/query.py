"""Data statements of the PostgreSQL backend (records, chat, key-value): pure, no I/O.

Schema and collection statements, literals and naming live in ``schema.py``; every
value here is a ``%s`` parameter and every name an :class:`~psycopg.sql.Identifier`.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import Any

from psycopg import sql

from ...backend import key_range
from .schema import (
    METRIC_SQL,
    CollectionSpec,
    CopyIn,
    Names,
    Settings,
    Statement,
    VectorParam,
    vector_dumper,
)

Where = tuple[sql.Composable, list[Any]]

#: First key of the per-table advisory lock taken by bulk loads.
LOAD_LOCK_CLASS = 0x62726E


# ---------------------------------------------------------------- expiry
# ``expires_at`` holds the server's clock (``now()``: the transaction's start), so
# every client agrees on what has expired whatever its own clock says.
#: Rows that have not expired.
LIVE = sql.SQL("(expires_at IS NULL OR expires_at > now())")
#: When a write with a ttl of ``%s`` seconds (NULL: never) expires.
EXPIRES = sql.SQL("now() + %s::float8 * interval '1 second'")


@functools.lru_cache(maxsize=1024)
def fixed(names: Names, template: str) -> sql.SQL:
    """A statement whose only variable parts are the schema's own table names,
    composed once per schema (composing costs more than the round trip of a small
    key-value write).

    ``template`` names the tables ``{kv}`` and ``{messages}``, and may use ``{live}``
    and ``{expires}`` (:data:`LIVE`, :data:`EXPIRES`); values are ``%s``/``%b``.
    """
    composed = sql.SQL(template).format(
        kv=names.kv, messages=names.messages, live=LIVE, expires=EXPIRES
    )
    return sql.SQL(composed.as_string(None))


_LIVE_TEXT = LIVE.as_string(None)


def live(where: Where) -> Where:
    """A filter narrowed to rows that have not expired (plain SQL text stays text)."""
    clause = where[0]
    if type(clause) is sql.SQL:
        return sql.SQL(f"{_LIVE_TEXT} AND ({clause.as_string(None)})"), where[1]
    return sql.SQL("{} AND ({})").format(LIVE, clause), where[1]


def purge(names: Names, table: str) -> Statement:
    """Delete a table's expired rows (through its partial index on ``expires_at``)."""
    return Statement(
        sql.SQL("DELETE FROM {} WHERE expires_at <= now()").format(names.ident(table)),
        None,
        "rowcount",
    )


# ---------------------------------------------------------------- records
_UPSERT_COLUMNS = sql.SQL("id, text, embedding, metadata, tsv")
_INSERT_COLUMNS = sql.SQL("id, text, embedding, metadata, tsv, expires_at")
_ON_CONFLICT = sql.SQL(
    " ON CONFLICT (id) DO UPDATE SET text = EXCLUDED.text, embedding = EXCLUDED.embedding,"
    " metadata = EXCLUDED.metadata, tsv = EXCLUDED.tsv, expires_at = EXCLUDED.expires_at"
)
_STAGE = sql.Identifier("pg_temp", "bruno_stage")


def record_columns(include_vectors: bool) -> sql.Composable:
    """Columns :func:`record_from_row` reads, in its order."""
    return sql.SQL(
        "id, text, metadata, embedding::text" if include_vectors else "id, text, metadata"
    )


def upsert_values(
    names: Names, table: str, columns: Sequence[list[Any]], ttl: float | None = None
) -> Statement:
    """One ``INSERT ... SELECT FROM unnest(arrays) ON CONFLICT`` for a whole (small) batch."""
    return Statement(
        sql.SQL(
            "INSERT INTO {} ({}) SELECT u.*, {} FROM unnest("
            "%s::text[], %s::text[], %s::text[]::vector[], %s::jsonb[], %s::text[]::tsvector[]"
            ") AS u"
        ).format(names.ident(table), _INSERT_COLUMNS, EXPIRES)
        + _ON_CONFLICT,
        [ttl, *columns],
    )


def stage_copy(rows: Iterable[Sequence[Any]], vector_oid: int) -> list[Statement | CopyIn]:
    """Big batches: binary COPY into a staging table that is dropped at commit.

    Binary COPY sends each vector as 4-byte floats: no text to format or parse.
    The tsvector travels as text and is cast when moved to the collection.
    """
    return [
        Statement(
            sql.SQL(
                "CREATE TEMP TABLE bruno_stage (id text, text text, embedding vector, "
                "metadata jsonb, tsv text) ON COMMIT DROP"
            )
        ),
        CopyIn(
            sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(_STAGE, _UPSERT_COLUMNS),
            rows,
            types=("text", "text", vector_oid, "jsonb", "text"),
            dumpers=(vector_dumper(vector_oid),),
        ),
    ]


def upsert_from_stage(names: Names, table: str, ttl: float | None = None) -> Statement:
    return Statement(
        sql.SQL(
            "INSERT INTO {} ({}) SELECT id, text, embedding, metadata, tsv::tsvector, {} FROM {} "
            "ORDER BY id"
        ).format(names.ident(table), _INSERT_COLUMNS, EXPIRES, _STAGE)
        + _ON_CONFLICT,
        [ttl],
    )


def load_lock(names: Names, table: str) -> Statement:
    """Serialise bulk loads into one table (they may drop and rebuild its index)."""
    return Statement(
        sql.SQL("SELECT pg_advisory_xact_lock(%s::int4, hashtext(%s))"),
        [LOAD_LOCK_CLASS, f"{names.schema}.{table}"],
    )


def count_upto(names: Names, table: str, limit: int) -> Statement:
    """Rows in a table, counting no further than ``limit`` (cheap on big tables)."""
    return Statement(
        sql.SQL("SELECT count(*) FROM (SELECT 1 FROM {} LIMIT %s) AS sample").format(
            names.ident(table)
        ),
        [limit],
        "one",
    )


def index_definition(names: Names, index: str) -> Statement:
    return Statement(
        sql.SQL(
            "SELECT pg_get_indexdef(c.oid) FROM pg_class c JOIN pg_namespace n "
            "ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s AND c.relkind = 'i'"
        ),
        [names.schema, index],
        "one",
    )


def drop_index(names: Names, index: str) -> Statement:
    return Statement(sql.SQL("DROP INDEX {}").format(names.ident(index)))


def raise_build_memory(megabytes: int) -> Statement:
    """``maintenance_work_mem`` of at least ``megabytes`` for this transaction only
    (never lowered: the server's own setting wins when it is larger)."""
    return Statement(
        sql.SQL(
            "SELECT set_config('maintenance_work_mem', GREATEST((SELECT setting::bigint "
            "FROM pg_settings WHERE name = 'maintenance_work_mem'), %s::bigint)::text, true)"
        ),
        [megabytes * 1024],
    )


def run_definition(definition: str) -> Statement:
    """Re-create an index from ``pg_get_indexdef`` output (catalog text, not user input)."""
    return Statement(sql.SQL(definition))


#: Start of the table comment that holds the definition of a vector index dropped
#: for a bulk load and not built yet (``pg_get_indexdef`` text).
PENDING_INDEX = "bruno: vector index pending: "


def mark_pending(names: Names, table: str, definition: str) -> Statement:
    """Remember a dropped index's definition with the table (COMMENT takes no parameters:
    the text is a literal composed by psycopg)."""
    return Statement(
        sql.SQL("COMMENT ON TABLE {} IS {}").format(
            names.ident(table), sql.Literal(PENDING_INDEX + definition)
        )
    )


def clear_pending(names: Names, table: str) -> Statement:
    return Statement(sql.SQL("COMMENT ON TABLE {} IS NULL").format(names.ident(table)))


def _regclass_text(names: Names, relation: str) -> str:
    """``"schema"."relation"``, quoted, for ``to_regclass``."""
    schema, rel = sql.Identifier(names.schema), sql.Identifier(relation)
    return f"{schema.as_string(None)}.{rel.as_string(None)}"


def merge_gin_pending(names: Names, table: str) -> Statement:
    """Merge the pending lists of the table's GIN indexes (metadata, words) into them.

    GIN indexes collect new entries in an unsorted pending list (``fastupdate``) that
    every search scans in full until a VACUUM or a 4 MB list merges it: after a load of
    20 000 records, 197 pages that made a filtered search 3-4x slower. Runs where the
    pending vector index is built, after ``COMMENT ON TABLE``, so by the table's owner,
    who may merge its indexes.
    """
    return Statement(
        sql.SQL(
            "SELECT gin_clean_pending_list(i) FROM (VALUES (to_regclass(%s)), (to_regclass(%s))) "
            "AS v(i) WHERE i IS NOT NULL"
        ),
        [_regclass_text(names, table + "_meta"), _regclass_text(names, table + "_tsv")],
    )


def read_pending(names: Names, table: str) -> Statement:
    """The table's comment (NULL when the table is missing)."""
    return Statement(
        sql.SQL("SELECT obj_description(to_regclass(%s), 'pg_class')"),
        [_regclass_text(names, table)],
        "one",
        alone=True,
    )


def analyze(names: Names, table: str) -> Statement:
    return Statement(sql.SQL("ANALYZE {}").format(names.ident(table)))


def get_records(names: Names, table: str, ids: Sequence[str], include_vectors: bool) -> Statement:
    return Statement(
        sql.SQL("SELECT {} FROM {} WHERE id = ANY(%s::text[]) AND {}").format(
            record_columns(include_vectors), names.ident(table), LIVE
        ),
        [list(ids)],
        "all",
        alone=True,
    )


def delete_ids(names: Names, table: str, ids: Sequence[str]) -> Statement:
    return Statement(
        sql.SQL("DELETE FROM {} WHERE id = ANY(%s::text[])").format(names.ident(table)),
        [list(ids)],
        "rowcount",
    )


def delete_where(names: Names, table: str, where: Where) -> Statement:
    return Statement(
        sql.SQL("DELETE FROM {} WHERE {}").format(names.ident(table), where[0]),
        where[1],
        "rowcount",
    )


def count(names: Names, table: str, where: Where) -> Statement:
    return Statement(
        sql.SQL("SELECT count(*) FROM {} WHERE {}").format(names.ident(table), where[0]),
        where[1],
        "one",
        alone=True,
    )


def scan(
    names: Names,
    table: str,
    where: Where,
    limit: int,
    cursor: str | None,
    include_vectors: bool,
) -> Statement:
    """Keyset pagination by id: one more row than ``limit`` tells whether a page follows."""
    after, params = (sql.SQL("id > %s AND "), [cursor]) if cursor is not None else (sql.SQL(""), [])
    return Statement(
        sql.SQL("SELECT {} FROM {} WHERE {}({}) ORDER BY id LIMIT %s").format(
            record_columns(include_vectors), names.ident(table), after, where[0]
        ),
        [*params, *where[1], limit + 1],
        "all",
        alone=True,
    )


def search_settings(
    spec: CollectionSpec, k: int, ef_search: int, probes: int, iterative: bool
) -> Settings | None:
    """Index settings of an approximate search: enough candidates for ``k``, iterative scans.

    Iterative scans (pgvector 0.8+) keep walking the index until ``k`` rows pass
    the filter, where a plain scan would stop after ``ef_search`` candidates.
    """
    pairs: list[tuple[str, str]] = []
    if spec.index == "hnsw":
        pairs.append(("hnsw.ef_search", str(min(max(ef_search, k), 1000))))
        if iterative:
            pairs.append(("hnsw.iterative_scan", "relaxed_order"))
    elif spec.index == "ivfflat":
        pairs.append(("ivfflat.probes", str(probes)))
        if iterative:
            pairs.append(("ivfflat.iterative_scan", "relaxed_order"))
    return Settings(tuple(pairs)) if pairs else None


def set_config(pairs: Sequence[tuple[str, str]], local: bool) -> Statement:
    """One statement setting every pair, for the session or for the transaction."""
    calls = sql.SQL(", ").join(
        sql.SQL("set_config(%s, %s, {})").format(sql.SQL("true" if local else "false"))
        for _ in pairs
    )
    return Statement(sql.SQL("SELECT {}").format(calls), [v for pair in pairs for v in pair])


def search(
    names: Names,
    spec: CollectionSpec,
    vector: VectorParam,
    k: int,
    where: Where,
    include_vectors: bool,
    exact: bool,
) -> Statement:
    """Nearest ``k`` rows by the collection's operator, sorted by (distance, id).

    Approximate: the inner ``ORDER BY distance LIMIT k`` is the shape pgvector's
    indexes serve; the outer sort restores exact order after a relaxed iterative scan.

    Exact: the matching rows come out of a subquery with ``OFFSET 0``, which the
    planner keeps apart from the ``ORDER BY``: no vector index can serve it, whatever
    the planner's statistics or a generic plan say, so the rows are read (through the
    GIN index on ``metadata`` when the filter is selective) and sorted by distance.
    Settings are not needed, so the search is one statement outside any transaction.
    """
    clause = where[0]
    metric = spec.info.metric
    query: sql.Composable | bytes
    if type(clause) is sql.SQL:  # plain text (a compiled filter): the statement is cached
        text = clause.as_string(None)
        query = _search_query(names, spec.table, metric, include_vectors, exact, text)
    else:
        query = _search_shape(names, spec.table, metric, include_vectors, exact, clause)
    return Statement(query, [vector, *where[1], k], "all", alone=True)


def _search_shape(
    names: Names, table: str, metric: str, include_vectors: bool, exact: bool, where: Any
) -> sql.Composed:
    shape = (
        "SELECT * FROM (SELECT {cols}, embedding {op} %b::vector AS distance FROM {table} "
        "WHERE {where} OFFSET 0) AS matching ORDER BY distance, id LIMIT %s"
        if exact
        else "SELECT * FROM (SELECT {cols}, embedding {op} %b::vector AS distance FROM {table} "
        "WHERE {where} ORDER BY distance LIMIT %s) AS nearest ORDER BY distance, id"
    )
    return sql.SQL(shape).format(
        cols=record_columns(include_vectors),
        op=sql.SQL(METRIC_SQL[metric][0]),
        table=names.ident(table),
        where=where,
    )


@functools.lru_cache(maxsize=1024)
def _search_query(
    names: Names, table: str, metric: str, include_vectors: bool, exact: bool, where: str
) -> bytes:
    """A search statement as the bytes psycopg sends, composed once per shape."""
    shape = _search_shape(names, table, metric, include_vectors, exact, sql.SQL(where))
    return shape.as_bytes(None)


def keyword_search(names: Names, table: str, tsquery: str, k: int, where: Where) -> Statement:
    return Statement(
        sql.SQL(
            "SELECT {cols}, ts_rank(tsv, %s::tsquery) AS rank FROM {table} "
            "WHERE tsv @@ %s::tsquery AND ({where}) ORDER BY rank DESC, id LIMIT %s"
        ).format(cols=record_columns(False), table=names.ident(table), where=where[0]),
        [tsquery, tsquery, *where[1], k],
        "all",
        alone=True,
    )


# ---------------------------------------------------------------- chat
def purge_messages(names: Names) -> Statement:
    return Statement(
        sql.SQL("DELETE FROM {} WHERE expires_at <= now()").format(names.messages),
        None,
        "rowcount",
    )


def expire_session(names: Names, namespace: str, session_id: str, ttl: float) -> Statement:
    """Move a whole session's expiry to ``ttl`` seconds from now."""
    return Statement(
        sql.SQL(
            "UPDATE {} SET expires_at = {} WHERE namespace = %s AND session_id = %s "
            "AND (expires_at IS NULL OR expires_at > now())"
        ).format(names.messages, EXPIRES),
        [ttl, namespace, session_id],
    )


def append_messages(
    names: Names, namespace: str, session_id: str, messages: list[Any], ttl: float | None = None
) -> Statement:
    """Insert messages; they expire ``ttl`` seconds from now, or with their session
    (the expiry of its newest message) when ``ttl`` is None."""
    # ORDER BY ordinality: seq values are drawn in the batch's order.
    return Statement(
        sql.SQL(
            "INSERT INTO {t} (namespace, session_id, message, expires_at) "
            "SELECT %s, %s, m, COALESCE({exp}, (SELECT CASE WHEN expires_at > now() "
            "THEN expires_at END FROM {t} "
            "WHERE namespace = %s AND session_id = %s ORDER BY seq DESC LIMIT 1)) "
            "FROM unnest(%s::jsonb[]) WITH ORDINALITY AS u(m, n) ORDER BY n"
        ).format(t=names.messages, exp=EXPIRES),
        [namespace, session_id, ttl, namespace, session_id, messages],
    )


def get_messages(names: Names, namespace: str, session_id: str, last_n: int | None) -> Statement:
    if last_n is None:
        return Statement(
            sql.SQL(
                "SELECT message FROM {} WHERE namespace = %s AND session_id = %s AND {} "
                "ORDER BY seq"
            ).format(names.messages, LIVE),
            [namespace, session_id],
            "all",
            alone=True,
        )
    return Statement(
        sql.SQL(
            "SELECT message FROM (SELECT seq, message FROM {} WHERE namespace = %s "
            "AND session_id = %s AND {} ORDER BY seq DESC LIMIT %s) AS last ORDER BY seq"
        ).format(names.messages, LIVE),
        [namespace, session_id, last_n],
        "all",
        alone=True,
    )


def clear_messages(names: Names, namespace: str, session_id: str) -> Statement:
    return Statement(
        sql.SQL("DELETE FROM {} WHERE namespace = %s AND session_id = %s").format(names.messages),
        [namespace, session_id],
    )


def list_sessions(names: Names, namespace: str) -> Statement:
    return Statement(
        sql.SQL(
            "SELECT DISTINCT session_id FROM {} WHERE namespace = %s AND {} ORDER BY session_id"
        ).format(names.messages, LIVE),
        [namespace],
        "all",
        alone=True,
    )


# ---------------------------------------------------------------- key-value
#: Up to this many items, a write is one multi-row VALUES (cheaper to send and plan
#: than arrays); beyond, two arrays and unnest (one statement text for any size).
KV_VALUES_ROWS = 8
_KV_UPSERT = (
    " ON CONFLICT (collection, key) DO UPDATE SET value = EXCLUDED.value, "
    "expires_at = EXCLUDED.expires_at"
)


def kv_put(
    names: Names, collection: str, items: Sequence[tuple[str, bytes]], ttl: float | None = None
) -> Statement:
    # Like Redis: rewriting an item without a ttl makes it permanent.
    head = "INSERT INTO {kv} (collection, key, value, expires_at) "
    if len(items) <= KV_VALUES_ROWS:  # values go binary: bytea has no text escaping
        rows = ", ".join(["(%s, %s, %b, {expires})"] * len(items))
        params: list[Any] = []
        for key, value in items:
            params += (collection, key, value, ttl)
        return Statement(fixed(names, head + "VALUES " + rows + _KV_UPSERT), params)
    return Statement(
        fixed(
            names,
            head
            + "SELECT %s, k, v, {expires} FROM unnest(%s::text[], %b::bytea[]) AS u(k, v)"
            + _KV_UPSERT,
        ),
        [collection, ttl, [k for k, _ in items], [v for _, v in items]],
    )


def kv_get(names: Names, collection: str, keys: Sequence[str]) -> Statement:
    if len(keys) == 1:
        return Statement(
            fixed(
                names,
                "SELECT key, value FROM {kv} WHERE collection = %s AND key = %s AND {live}",
            ),
            [collection, keys[0]],
            "all",
            alone=True,
        )
    return Statement(
        fixed(
            names,
            "SELECT key, value FROM {kv} WHERE collection = %s AND key = ANY(%s::text[]) "
            "AND {live}",
        ),
        [collection, list(keys)],
        "all",
        alone=True,
    )


def kv_delete(names: Names, collection: str, keys: Sequence[str]) -> Statement:
    return Statement(
        fixed(names, "DELETE FROM {kv} WHERE collection = %s AND key = ANY(%s::text[])"),
        [collection, list(keys)],
    )


def kv_scan(
    names: Names,
    collection: str,
    prefix: str | None,
    after: str | None,
    limit: int | None,
    reverse: bool,
) -> Statement:
    # The key column is COLLATE "C": comparisons and ORDER BY are code-point order.
    where = ["collection = %s", "{live}"]
    args: list[Any] = [collection]
    # The primary key serves the range; starts_with decides membership.
    if prefix is not None:
        where.append("starts_with(key, %s)")
        args.append(prefix)
    for bound in key_range(prefix, after, reverse):
        if bound is not None:
            where.append(f"key {bound[0]} %s")  # an operator from key_range, not input
            args.append(bound[1])
    query = "SELECT key, value FROM {kv} WHERE " + " AND ".join(where)
    query += " ORDER BY key DESC" if reverse else " ORDER BY key ASC"
    if limit is not None:
        query += " LIMIT %s"
        args.append(limit)
    return Statement(fixed(names, query), args, "all", alone=True)


def kv_keys(names: Names, collection: str, prefix: str | None) -> Statement:
    # starts_with compares code points exactly: no LIKE wildcards to escape.
    if prefix is None:
        return Statement(
            fixed(names, "SELECT key FROM {kv} WHERE collection = %s AND {live} ORDER BY key"),
            [collection],
            "all",
            alone=True,
        )
    return Statement(
        fixed(
            names,
            "SELECT key FROM {kv} WHERE collection = %s AND starts_with(key, %s) AND {live} "
            "ORDER BY key",
        ),
        [collection, prefix],
        "all",
        alone=True,
    )
