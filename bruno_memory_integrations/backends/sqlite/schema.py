"""The SQLite schema: table definitions, the schema version and its creation.

Every table is prefixed ``bruno_`` so the store can share a database file (or a
connection passed to ``from_client``) with an application's own tables.

Keyword search indexes *pre-tokenized* text: :func:`fts_words` stores the words
of :func:`bruno_memory_integrations.text.tokenize` separated by spaces, and the
FTS5 table uses the ``ascii`` tokenizer, which splits only on ASCII
non-alphanumerics and keeps every non-ASCII character inside a token. FTS5 then
sees exactly our words, whatever the text. (``unicode61`` in SQLite 3.40 disagrees
with Python's notion of a letter on about 970 000 code points, combining accents
and emoji newer than Unicode 6.1 among them, so "cafe\\u0301" or "rust🦀lang"
would not be found by their words.)
"""

from __future__ import annotations

from typing import Any

from ...errors import ConfigurationError
from ...text import tokenize

__all__ = ["SCHEMA_VERSION", "ensure_schema", "fts_query", "fts_words", "read_schema_version"]

#: Bumped when the layout changes; stored in ``bruno_meta`` under ``schema_version``.
#: 1: the first layout. 2: ``expires_at`` (Unix seconds, NULL = never) on records,
#: messages and key-value items, with partial indexes over the rows that expire.
SCHEMA_VERSION = 2

_DDL = [
    """CREATE TABLE IF NOT EXISTS bruno_meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) WITHOUT ROWID""",
    # version: bumped by every write to the collection, so a cached vector matrix
    # knows when it is stale (also across processes).
    """CREATE TABLE IF NOT EXISTS bruno_collections (
        cid INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL UNIQUE,
        dimension INTEGER NOT NULL,
        metric TEXT NOT NULL,
        embedding_model TEXT,
        version INTEGER NOT NULL DEFAULT 0
    )""",
    # AUTOINCREMENT: a rid is never reused, and an upsert deletes and re-inserts, so
    # a rid names one immutable (id, vector) forever; the vector cache relies on it.
    # Only what filters read lives here: a filter scans small rows, not vectors.
    """CREATE TABLE IF NOT EXISTS bruno_records (
        rid INTEGER PRIMARY KEY AUTOINCREMENT,
        cid INTEGER NOT NULL,
        id TEXT NOT NULL,
        metadata TEXT NOT NULL,
        expires_at REAL,
        UNIQUE (cid, id)
    )""",
    # Entries (cid, rid): a collection's rows in rid order, read sequentially.
    "CREATE INDEX IF NOT EXISTS bruno_records_by_cid ON bruno_records (cid)",
    # Text and vector, read only for the rows a query returns or scores.
    """CREATE TABLE IF NOT EXISTS bruno_record_data (
        rid INTEGER PRIMARY KEY,
        text TEXT NOT NULL,
        vector BLOB NOT NULL
    )""",
    """CREATE VIRTUAL TABLE IF NOT EXISTS bruno_records_fts USING fts5(
        words, tokenize = 'ascii'
    )""",
    # Deletes of any kind (by id, by filter, replaced by an upsert, dropped with the
    # collection, or by another tool) take the text, vector and index entry along.
    """CREATE TRIGGER IF NOT EXISTS bruno_records_delete
        AFTER DELETE ON bruno_records BEGIN
            DELETE FROM bruno_record_data WHERE rid = old.rid;
            DELETE FROM bruno_records_fts WHERE rowid = old.rid;
        END""",
    """CREATE TABLE IF NOT EXISTS bruno_messages (
        namespace TEXT NOT NULL,
        session TEXT NOT NULL,
        seq INTEGER NOT NULL,
        message TEXT NOT NULL,
        expires_at REAL,
        PRIMARY KEY (namespace, session, seq)
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS bruno_kv (
        collection TEXT NOT NULL,
        key TEXT NOT NULL,
        value BLOB NOT NULL,
        expires_at REAL,
        PRIMARY KEY (collection, key)
    ) WITHOUT ROWID""",
]

#: Tables that gained ``expires_at`` in version 2 (added to older files on open).
_EXPIRING_TABLES = ("bruno_records", "bruno_messages", "bruno_kv")

# Partial indexes: only rows written with a TTL are in them, so stores that never use
# TTL pay nothing, and "has this collection anything expired?" is one index probe.
_EXPIRY_INDEXES = [
    (
        "CREATE INDEX IF NOT EXISTS bruno_records_expiry ON bruno_records (cid, expires_at) "
        "WHERE expires_at IS NOT NULL"
    ),
    (
        "CREATE INDEX IF NOT EXISTS bruno_messages_expiry ON bruno_messages (expires_at) "
        "WHERE expires_at IS NOT NULL"
    ),
    (
        "CREATE INDEX IF NOT EXISTS bruno_kv_expiry ON bruno_kv (collection, expires_at) "
        "WHERE expires_at IS NOT NULL"
    ),
]


def read_schema_version(cur: Any) -> int | None:
    """The schema version recorded in the database, or ``None`` for a fresh one."""
    row = cur.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'bruno_meta'"
    ).fetchone()
    if row is None:
        return None
    row = cur.execute("SELECT value FROM bruno_meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row is not None else None


def check_version(found: int | None) -> bool:
    """Whether the schema is current; raises when the file is from a newer release."""
    if found is not None and found > SCHEMA_VERSION:
        raise ConfigurationError(
            f"this SQLite database has schema version {found}, newer than this release "
            f"understands ({SCHEMA_VERSION}); upgrade bruno-memory-integrations"
        )
    return found == SCHEMA_VERSION


def ensure_schema(cur: Any) -> None:
    """Create the tables (inside the caller's write transaction). Idempotent."""
    if check_version(read_schema_version(cur)):
        return
    for statement in _DDL:
        cur.execute(statement)
    # Upgrade from version 1: tables made by an older release lack expires_at.
    for table in _EXPIRING_TABLES:  # fixed names, not user input
        columns = {row[1] for row in cur.execute(f"PRAGMA table_info({table})")}
        if "expires_at" not in columns:
            cur.execute(f"ALTER TABLE {table} ADD COLUMN expires_at REAL")
    for statement in _EXPIRY_INDEXES:
        cur.execute(statement)
    cur.execute(
        "INSERT OR REPLACE INTO bruno_meta (key, value) VALUES ('schema_version', ?)",
        (str(SCHEMA_VERSION),),
    )


def fts_words(text: str) -> str:
    """What the full-text index stores for ``text``: its words, space-separated."""
    return " ".join(tokenize(text))


def fts_query(query: str) -> str | None:
    """An FTS5 query matching rows that hold every word of ``query``; ``None`` if no words.

    Each word becomes a quoted FTS5 string (any ``"`` doubled), so no operator,
    column filter or prefix syntax in the query is ever interpreted; juxtaposed
    strings are ANDed.
    """
    words = list(dict.fromkeys(tokenize(query)))
    if not words:
        return None
    return " ".join('"' + w.replace('"', '""') + '"' for w in words)
