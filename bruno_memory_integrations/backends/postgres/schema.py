"""SQL text for the PostgreSQL backend: pure functions, no I/O.

Every statement is a :class:`psycopg.sql.Composable` built from fixed SQL text,
:class:`~psycopg.sql.Identifier` for schema and table names, and ``%s``
placeholders for every value. The same statements run on sync and async
connections (see ``backend.py`` and ``connection.py``).

Layout (in the configured schema; ``public`` by default):

* ``bruno_meta(key, value)``: the schema version, so a later release can migrate;
* ``bruno_collections``: one row per vector collection: its real name, table,
  dimension, metric, embedding model and index kind;
* one table per collection, ``bruno_c_<readable part>_<hash>``: ``id``, ``text``,
  ``embedding vector(dim)``, ``metadata jsonb``, ``tsv tsvector``, with an HNSW or
  IVFFlat index for the collection's metric and GIN indexes on metadata and tsv;
* ``bruno_messages(seq, namespace, session_id, message jsonb)``;
* ``bruno_kv(collection, key, value bytea)``.

Names and keys use ``COLLATE "C"`` so that ordering is by code point, the same
as Python's ``sorted``, whatever the database's default collation.
"""

from __future__ import annotations

import functools
import re
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
from psycopg import sql
from psycopg.adapt import Dumper, Loader
from psycopg.pq import Format

from ...errors import InvalidMetadataError, InvalidVectorError
from ...text import tokenize
from ...types import CollectionInfo
from ...validation import safe_identifier
from ..encoding import json_loads

__all__ = [
    "CollectionSpec",
    "CopyIn",
    "Names",
    "Settings",
    "Statement",
    "VectorParam",
    "parse_vector",
    "table_name",
    "tsquery_literal",
    "tsvector_literal",
    "vector_literal",
    "vector_param",
]

#: 1: the first layout. 2: ``expires_at timestamptz`` (NULL = never) on every
#: collection table, ``bruno_messages`` and ``bruno_kv``, with partial indexes.
SCHEMA_VERSION = 2
#: ``pg_advisory_xact_lock`` key serialising schema changes of every deployment of
#: this package in a database (CREATE EXTENSION is database-wide).
DDL_LOCK_KEY = 7_354_021_118_003_211
MAX_DIMENSION = 16_000  # pgvector's vector type
MAX_INDEXED_DIMENSION = 2_000  # pgvector's HNSW / IVFFlat on vector
FLOAT4_MAX = 3.4028234663852886e38
MAX_LEXEME_BYTES = 2_046
MAX_TSVECTOR_LEXEME_BYTES = (1 << 20) - 1
MAX_POSITION = 16_383

#: metric -> (distance operator, operator class). Each operator already returns the
#: canonical distance of scores.py: ``<=>`` is 1 - cosine, ``<->`` is the L2
#: distance and ``<#>`` is the negative inner product.
METRIC_SQL = {
    "cosine": ("<=>", "vector_cosine_ops"),
    "euclidean": ("<->", "vector_l2_ops"),
    "dot": ("<#>", "vector_ip_ops"),
}

Fetch = Literal["none", "one", "all", "rowcount"]
Query = sql.SQL | sql.Composed


@dataclass(frozen=True)
class Statement:
    """One statement to run; ``fetch`` says what the op wants back.

    An op runs in one transaction, opened lazily: ``alone`` marks a plain read that
    may run before it (outside any transaction: under READ COMMITTED each statement
    reads its own snapshot anyway), and ``final`` an op's last statement, which runs
    without one if none is open (a single statement is atomic). A small read or write
    is then one round trip instead of three (BEGIN, the statement, COMMIT).
    """

    query: Query | bytes
    params: Sequence[Any] | None = None
    fetch: Fetch = "none"
    alone: bool = False
    final: bool = False


def final(statement: Statement) -> Statement:
    """``statement`` as its op's last step (see :class:`Statement`)."""
    return replace(statement, final=True)


@dataclass(frozen=True)
class CopyIn:
    """``COPY ... FROM STDIN`` fed with ``rows`` (tuples in the COPY's column order).

    ``types`` (names or oids) are passed to ``Copy.set_types`` for a binary COPY;
    ``dumpers`` are registered on the cursor first (for types psycopg lacks).
    """

    query: Query
    rows: Iterable[Sequence[Any]] = field(default=())
    types: Sequence[int | str] = ()
    dumpers: Sequence[type[Dumper]] = ()


@dataclass(frozen=True)
class Settings:
    """Server settings the op's following statements need (``name -> value``).

    On a connection of the store's own pool they are set for the session, and only
    when they differ from what that connection already has: no statement at all in
    the common case. Elsewhere (a caller's connection) they are set for the op's
    transaction only, as ``SET LOCAL`` does.
    """

    pairs: tuple[tuple[str, str], ...]


class VectorParam(bytes):
    """A query vector in pgvector's binary form, sent as a binary parameter.

    Its dumper declares no type: the statement's ``::vector`` cast tells the server
    which type it is, so one dumper serves every database (the oid differs).
    """


class VectorParamDumper(Dumper):
    format = Format.BINARY
    oid = 0

    def dump(self, obj: Any) -> bytes:
        return obj  # type: ignore[no-any-return]  # a VectorParam is its own bytes


#: ``jsonb``'s type oid, the same in every PostgreSQL database (a built-in type).
JSONB_OID = 3802
#: A number of 19 digits or more: the only ones :func:`json_numbers` may change.
_LONG_NUMBER = re.compile(rb"[0-9]{19}")


def json_numbers(value: Any) -> Any:
    """Undo JSONB's one lossy step: a float beyond 64 bits comes back as an integer.

    Metadata integers are 64-bit (validation refuses larger ones), so a larger
    integer read from JSONB was stored as a float and is returned as one.
    """
    if type(value) is int:
        return float(value) if not -(2**63) <= value < 2**63 else value
    if isinstance(value, dict):
        return {k: json_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_numbers(v) for v in value]
    return value


def load_jsonb(data: bytes) -> Any:
    """A ``jsonb`` value in text form (metadata, messages) as the value that was written.

    JSONB prints a float without a fraction as an integer (``1e20`` as 21 digits), so
    only a text with a run of 19 or more digits can hold one to turn back into a
    float: the others are read as they are.
    """
    value = json_loads(data)
    return json_numbers(value) if _LONG_NUMBER.search(data) else value


class JsonbLoader(Loader):
    """Reads ``jsonb`` with :func:`load_jsonb`, on the cursors this package runs ops
    with (registered per cursor: a caller's connection keeps its own loaders)."""

    def load(self, data: Any) -> Any:
        return load_jsonb(data if type(data) is bytes else bytes(data))


class VectorBinaryDumper(Dumper):
    """Passes through pgvector's binary form, made by :func:`vector_binaries`."""

    format = Format.BINARY

    def dump(self, obj: Any) -> bytes:
        return bytes(obj)


@functools.lru_cache(maxsize=16)
def vector_dumper(oid: int) -> type[Dumper]:
    """A dumper class for this database's ``vector`` type oid (used by binary COPY)."""
    return type("VectorDumper", (VectorBinaryDumper,), {"oid": oid})


@dataclass(frozen=True)
class CollectionSpec:
    """What a collection's queries need: its info, table and index kind."""

    info: CollectionInfo
    table: str
    index: str

    @property
    def operator(self) -> sql.SQL:
        return sql.SQL(METRIC_SQL[self.info.metric][0])


def table_name(collection: str) -> str:
    """The table of a collection: readable, deterministic, at most 55 characters.

    Short enough that index names (table + ``_vec`` etc.) stay within PostgreSQL's
    63-byte identifier limit.
    """
    return safe_identifier(collection, prefix="bruno_c", max_length=55)


@dataclass(frozen=True)
class Names:
    """Qualified identifiers of the backend's tables in one schema."""

    schema: str

    def ident(self, name: str) -> sql.Identifier:
        return sql.Identifier(self.schema, name)

    @property
    def meta(self) -> sql.Identifier:
        return self.ident("bruno_meta")

    @property
    def collections(self) -> sql.Identifier:
        return self.ident("bruno_collections")

    @property
    def messages(self) -> sql.Identifier:
        return self.ident("bruno_messages")

    @property
    def kv(self) -> sql.Identifier:
        return self.ident("bruno_kv")


# ---------------------------------------------------------------- literals
def vector_literal(vector: Sequence[float]) -> str:
    """pgvector's text form, ``[x,y,...]``, with float4 precision (9 digits round-trip).

    Raises:
        InvalidVectorError: a component does not fit pgvector's float4.
    """
    if vector:
        _check_range(max(*vector, -min(vector)))
    return "[" + ",".join(["%.9g"] * len(vector)) % tuple(vector) + "]"


def _check_range(largest: float) -> None:
    if largest > FLOAT4_MAX:
        raise InvalidVectorError(
            f"pgvector stores 4-byte floats: {largest!r} is out of their range (±3.4e38)"
        )


def vector_binaries(vectors: Any) -> list[bytes]:
    """pgvector's binary form of each vector: dimension, 0, then big-endian float4s.

    ``vectors`` is best a float32 matrix (``encoding.float32_matrix`` gives a checked
    batch's without converting again); a list of lists is converted here.

    Raises:
        InvalidVectorError: a component does not fit pgvector's float4.
    """
    if len(vectors) == 0:
        return []
    with np.errstate(over="ignore"):
        matrix = np.asarray(vectors, dtype=">f4")
    if not np.isfinite(matrix).all():  # a double beyond float4's range (the core allows none)
        _check_range(float(np.abs(np.asarray(vectors, dtype=np.float64)).max()))
    header = struct.pack(">HH", matrix.shape[1], 0)
    return [header + row.tobytes() for row in matrix]


def vector_param(vector: Sequence[float]) -> VectorParam:
    """A query vector as a binary parameter (placeholder ``%b::vector``): no text to
    format here or to parse on the server.

    Raises:
        InvalidVectorError: a component does not fit pgvector's float4.
    """
    n = len(vector)
    try:  # struct refuses a value beyond float4's range (OverflowError)
        return VectorParam(struct.pack(f">HH{n}f", n, 0, *vector))
    except (OverflowError, struct.error, TypeError):
        pass  # the check below says what is wrong
    arr = np.asarray(vector, dtype=np.float64)
    if arr.size:
        _check_range(float(np.abs(arr).max()))
    return VectorParam(struct.pack(">HH", arr.size, 0) + arr.astype(">f4").tobytes())


def parse_vector(text: str) -> list[float]:
    """A vector from pgvector's text form, as the float32 values pgvector holds.

    pgvector prints the shortest decimal that reads back as the same float4
    (``0.1``); read as a double that is not the stored value, so each component is
    rounded to float32 again, the values every backend returns.
    """
    body = text.strip()[1:-1]
    return np.asarray(body.split(","), dtype=np.float32).tolist() if body else []


def tsvector_literal(text: str) -> str:
    """A ``tsvector`` of ``text`` as :func:`bruno_memory_integrations.text.tokenize` sees it.

    Built here, not by PostgreSQL's parser, because the parser keeps ``3.5``,
    ``a-b``, e-mail addresses and URLs as single tokens and lower-cases by the
    database locale; keyword search must find exactly what ``text.py`` finds.
    Words longer than PostgreSQL's lexeme limit (2046 bytes) cannot be indexed and
    are left out; positions past 16383 are kept at 16383 and a word keeps its first
    256 positions (PostgreSQL's limits; they only affect ranking).

    Raises:
        InvalidMetadataError: the distinct words exceed PostgreSQL's 1 MB tsvector limit.
    """
    # Positions arrive in increasing order, so each word's list is sorted as built; only
    # positions clamped to MAX_POSITION can repeat, and those are skipped. Byte lengths
    # are only computed where characters alone cannot rule out a limit (4 bytes each
    # at most). Same literal as sorting and de-duplicating every list, a third the cost.
    positions: dict[str, list[int]] = {}
    for pos, word in enumerate(tokenize(text), start=1):
        p = min(pos, MAX_POSITION)
        seen = positions.get(word)
        if seen is None:
            if len(word) * 4 > MAX_LEXEME_BYTES and len(word.encode("utf-8")) > MAX_LEXEME_BYTES:
                continue
            positions[word] = [p]
        elif len(seen) < 256 and seen[-1] != p:
            seen.append(p)
    if len(text) * 4 > MAX_TSVECTOR_LEXEME_BYTES and (
        sum(len(w.encode("utf-8")) for w in positions) > MAX_TSVECTOR_LEXEME_BYTES
    ):
        raise InvalidMetadataError(
            "a record's text holds more than 1 MB of distinct words, more than PostgreSQL's "
            "full-text index can hold; split it into several records"
        )
    return " ".join(
        f"{_quote_lexeme(w)}:{p[0] if len(p) == 1 else ','.join(map(str, p))}"
        for w, p in positions.items()
    )


def tsquery_literal(query: str) -> str | None:
    """A ``tsquery`` matching records that contain every word of ``query``.

    Returns ``None`` when no record can match: the query has no words, or a word is
    longer than any indexed lexeme.
    """
    words = sorted(set(tokenize(query)))
    if not words or any(len(w.encode("utf-8")) > MAX_LEXEME_BYTES for w in words):
        return None
    return " & ".join(_quote_lexeme(w) for w in words)


def _quote_lexeme(word: str) -> str:
    # Words are letters and digits only, but quote fully anyway: the literal is
    # data, and a quote or backslash must never become tsquery syntax.
    return "'" + word.replace("\\", "\\\\").replace("'", "''") + "'"


# ---------------------------------------------------------------- schema
def schema_exists(names: Names) -> Statement:
    """(pgvector version or NULL, the vector type's oid or NULL, whether bruno_meta exists)."""
    return Statement(
        sql.SQL(
            "SELECT e.extversion, t.oid, EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n "
            "ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = 'bruno_meta') "
            "FROM (SELECT 1) AS one "
            "LEFT JOIN pg_extension e ON e.extname = 'vector' "
            "LEFT JOIN pg_type t ON t.typname = 'vector' AND t.typnamespace = e.extnamespace"
        ),
        [names.schema],
        "one",
    )


def read_version(names: Names) -> Statement:
    return Statement(
        sql.SQL("SELECT value FROM {} WHERE key = 'schema_version'").format(names.meta),
        None,
        "one",
    )


def ddl_lock() -> Statement:
    return Statement(sql.SQL("SELECT pg_advisory_xact_lock(%s)"), [DDL_LOCK_KEY])


def create_extension() -> Statement:
    return Statement(sql.SQL("CREATE EXTENSION IF NOT EXISTS vector"))


def namespace_exists(names: Names) -> Statement:
    return Statement(
        sql.SQL("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = %s)"),
        [names.schema],
        "one",
    )


def create_schema(names: Names) -> Statement:
    return Statement(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(names.schema)))


def schema_ddl(names: Names) -> list[Statement]:
    """The shared tables, created only where missing."""
    s = [
        "CREATE TABLE IF NOT EXISTS {meta} (key text PRIMARY KEY, value text NOT NULL)",
        (
            "CREATE TABLE IF NOT EXISTS {collections} ("
            ' name text COLLATE "C" PRIMARY KEY,'
            " table_name text NOT NULL UNIQUE,"
            " dimension integer NOT NULL,"
            " metric text NOT NULL,"
            " embedding_model text,"
            " index_kind text NOT NULL,"
            " created_at timestamptz NOT NULL DEFAULT now())"
        ),
        (
            "CREATE TABLE IF NOT EXISTS {messages} ("
            " seq bigserial PRIMARY KEY,"
            ' namespace text COLLATE "C" NOT NULL,'
            ' session_id text COLLATE "C" NOT NULL,'
            " message jsonb NOT NULL,"
            " created_at timestamptz NOT NULL DEFAULT now(),"
            " expires_at timestamptz)"
        ),
        (
            "CREATE INDEX IF NOT EXISTS bruno_messages_session"
            " ON {messages} (namespace, session_id, seq)"
        ),
        (
            "CREATE TABLE IF NOT EXISTS {kv} ("
            ' collection text COLLATE "C" NOT NULL,'
            ' key text COLLATE "C" NOT NULL,'
            " value bytea NOT NULL,"
            " expires_at timestamptz,"
            " PRIMARY KEY (collection, key))"
        ),
    ]
    parts = {
        "meta": names.meta,
        "collections": names.collections,
        "messages": names.messages,
        "kv": names.kv,
    }
    out = [Statement(sql.SQL(q).format(**parts)) for q in s]
    out.append(
        Statement(
            sql.SQL(
                "INSERT INTO {} (key, value) VALUES ('schema_version', %s) "
                "ON CONFLICT (key) DO NOTHING"
            ).format(names.meta),
            [str(SCHEMA_VERSION)],
        )
    )
    return out


# ---------------------------------------------------------------- expiry (version 2)
def expiry_index(names: Names, table: str) -> Statement:
    """A partial index over the rows written with a TTL: purges and the opportunistic
    cleanup on writes find them without reading the others."""
    return Statement(
        sql.SQL(
            "CREATE INDEX IF NOT EXISTS {} ON {} (expires_at) WHERE expires_at IS NOT NULL"
        ).format(sql.Identifier(table + "_exp"), names.ident(table))
    )


def upgrade_to_2(names: Names, tables: Sequence[str]) -> list[Statement]:
    """Add ``expires_at`` to the shared tables and to collection ``tables`` (made by
    version 1), with their indexes, and record version 2. Idempotent; adding a
    nullable column without a default rewrites no rows."""
    out = []
    for table in ("bruno_messages", "bruno_kv", *tables):
        out.append(
            Statement(
                sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS expires_at timestamptz").format(
                    names.ident(table)
                )
            )
        )
        out.append(expiry_index(names, table))
    out.append(
        Statement(
            sql.SQL("UPDATE {} SET value = %s WHERE key = 'schema_version'").format(names.meta),
            [str(SCHEMA_VERSION)],
        )
    )
    return out


def collection_tables(names: Names) -> Statement:
    return Statement(
        sql.SQL("SELECT table_name FROM {} ORDER BY name").format(names.collections), None, "all"
    )


# ---------------------------------------------------------------- collections
_COLLECTION_COLUMNS = sql.SQL("name, dimension, metric, embedding_model, table_name, index_kind")


def select_collection(names: Names, name: str) -> Statement:
    return Statement(
        sql.SQL("SELECT {} FROM {} WHERE name = %s").format(_COLLECTION_COLUMNS, names.collections),
        [name],
        "one",
        alone=True,
    )


def list_collections(names: Names) -> Statement:
    return Statement(
        sql.SQL("SELECT name FROM {} ORDER BY name").format(names.collections), None, "all"
    )


def spec_from_row(row: Sequence[Any]) -> CollectionSpec:
    name, dimension, metric, model, table, index = row
    return CollectionSpec(CollectionInfo(name, dimension, metric, model), table, index)


def collection_ddl(
    names: Names, spec: CollectionSpec, index_params: dict[str, int]
) -> list[Statement]:
    """Create a collection's table and indexes, and record it."""
    info = spec.info
    table = names.ident(spec.table)
    out = [
        Statement(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} ("
                ' id text COLLATE "C" PRIMARY KEY,'
                " text text NOT NULL DEFAULT '',"
                " embedding vector({}) NOT NULL,"
                " metadata jsonb NOT NULL DEFAULT '{{}}',"
                " tsv tsvector NOT NULL DEFAULT '',"
                " expires_at timestamptz)"
            ).format(table, sql.Literal(info.dimension))
        ),
        expiry_index(names, spec.table),
        Statement(
            sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} USING gin (metadata)").format(
                sql.Identifier(spec.table + "_meta"), table
            )
        ),
        Statement(
            sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} USING gin (tsv)").format(
                sql.Identifier(spec.table + "_tsv"), table
            )
        ),
    ]
    if spec.index != "none":
        opclass = sql.SQL(METRIC_SQL[info.metric][1])
        if spec.index == "hnsw":
            with_ = sql.SQL("m = {}, ef_construction = {}").format(
                sql.Literal(index_params["m"]), sql.Literal(index_params["ef_construction"])
            )
        else:
            with_ = sql.SQL("lists = {}").format(sql.Literal(index_params["lists"]))
        out.append(
            Statement(
                sql.SQL(
                    "CREATE INDEX IF NOT EXISTS {} ON {} USING {} (embedding {}) WITH ({})"
                ).format(
                    sql.Identifier(spec.table + "_vec"), table, sql.SQL(spec.index), opclass, with_
                )
            )
        )
    out.append(
        Statement(
            sql.SQL(
                "INSERT INTO {} (name, dimension, metric, embedding_model, table_name, index_kind) "
                "VALUES (%s, %s, %s, %s, %s, %s)"
            ).format(names.collections),
            [info.name, info.dimension, info.metric, info.embedding_model, spec.table, spec.index],
        )
    )
    return out


def drop_collection(names: Names, name: str) -> list[Statement]:
    return [
        Statement(sql.SQL("DROP TABLE IF EXISTS {}").format(names.ident(table_name(name)))),
        Statement(sql.SQL("DELETE FROM {} WHERE name = %s").format(names.collections), [name]),
    ]
