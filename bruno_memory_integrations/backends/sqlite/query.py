"""SQL text for the SQLite backend, built apart from the code that runs it.

Statements take every value as a ``?`` parameter; lists of ids or keys are bound
as one JSON-array parameter read with ``json_each``, so a batch of any size is
one statement and no user string is ever spliced into SQL text.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from ...types import Record

__all__ = [
    "dumps",
    "json_list",
    "keyword_sql",
    "record_columns",
    "record_from_row",
    "records_sql",
]


def dumps(value: Any) -> str:
    """Compact JSON text; non-ASCII kept as is, so quoted JSON paths address keys exactly."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def json_list(values: Sequence[Any]) -> str:
    """A list bound as one parameter, read back with ``json_each(?)``."""
    return json.dumps(list(values))


COLLECTION_ROW = (
    "SELECT cid, name, dimension, metric, version FROM bruno_collections WHERE name = ?"
)
CID_OF = "(SELECT cid FROM bruno_collections WHERE name = ?)"
BUMP_VERSION = "UPDATE bruno_collections SET version = version + 1 WHERE cid = ?"
IN_JSON = "IN (SELECT value FROM json_each(?))"
#: The next record rid AUTOINCREMENT would give: above the largest ever used, also
#: those of deleted rows (kept in sqlite_sequence).
NEXT_RID = (
    "SELECT max(IFNULL((SELECT seq FROM sqlite_sequence WHERE name = 'bruno_records'), 0), "
    "IFNULL((SELECT max(rid) FROM bruno_records), 0)) + 1"
)

# ---------------------------------------------------------------- expiry
# ``expires_at`` is Unix time in seconds (NULL: never). Reads add LIVE only when the
# collection holds an expired row (ANY_EXPIRED, one probe of the partial index), so a
# store that never uses TTL keeps its plans, and its cached vector matrix fast path.
#: Records of ``r`` that have not expired. Parameter: now.
LIVE = "(r.expires_at IS NULL OR r.expires_at > ?)"
#: Whether a collection (by name) holds an expired record. Parameters: name, now.
ANY_EXPIRED = (
    f"SELECT 1 FROM bruno_records WHERE cid = {CID_OF} AND expires_at <= ? LIMIT 1"
)
#: Rows of an unaliased table that have not expired. Parameter: now.
LIVE_ROW = "(expires_at IS NULL OR expires_at > ?)"


def record_columns(include_vectors: bool) -> str:
    """Columns for :func:`record_from_row`, from ``bruno_records AS r`` joined with ``d``."""
    return "r.id, d.text, r.metadata" + (", d.vector" if include_vectors else "")


RECORD_JOIN = "bruno_records AS r JOIN bruno_record_data AS d ON d.rid = r.rid"


def record_from_row(row: Sequence[Any], include_vectors: bool) -> Record:
    """A :class:`Record` from ``(id, text, metadata[, vector])``."""
    vector = None
    if include_vectors:
        vector = np.frombuffer(row[3], dtype="<f4").astype(float).tolist()
    return Record(row[0], row[1], vector, json.loads(row[2]))


def records_sql(
    include_vectors: bool, where_sql: str, *, after: bool = False, limit: bool = False
) -> str:
    """``SELECT`` records of one collection (by name) matching a filter on ``r.metadata``.

    Parameters, in order: collection name, [cursor id if ``after``], the filter's
    parameters, [limit if ``limit``].
    """
    sql = f"SELECT {record_columns(include_vectors)} FROM {RECORD_JOIN} WHERE r.cid = {CID_OF}"
    if after:
        sql += " AND r.id > ?"
    sql += f" AND {where_sql}"
    if limit:
        sql += " ORDER BY r.id LIMIT ?"
    return sql


def keyword_sql(where_sql: str) -> str:
    """Full-text search in one collection, filtered on ``r.metadata``. Parameters: FTS
    query, collection name, the filter's parameters, limit.

    ``bm25`` is negative, more negative for better matches; we return its negation,
    a positive relevance where higher is better.
    """
    return (
        f"SELECT {record_columns(False)}, -bm25(bruno_records_fts) AS relevance "
        f"FROM bruno_records_fts JOIN bruno_records AS r ON r.rid = bruno_records_fts.rowid "
        f"JOIN bruno_record_data AS d ON d.rid = r.rid "
        f"WHERE bruno_records_fts MATCH ? AND r.cid = {CID_OF} AND {where_sql} "
        f"ORDER BY relevance DESC, r.id LIMIT ?"
    )


