"""PostgreSQL filtered search against raw SQL on the same table, taking turns (on demand).

    .venv/bin/python benchmarks/pg_turns.py [--records 20000] [--queries 50] [--rounds 3]

``compare.py`` measures each contender right after its own load, one after another, so
autovacuum on a freshly loaded table and the machine's other work fall on whichever runs
at the time (the same row moved between 2 and 5 ms across runs). Here one collection is
loaded through the package (one ``upsert`` and the first search, which builds the vector
index and merges the GIN lists), then ``VACUUM ANALYZE`` runs, and every query vector is
searched by each contender in turn, round after round, on that one table:

* **bruno**: ``Store.search`` with the filter ``topic == "t3" and year >= 2010``: the
  package's checks, statement, pool and row decoding;
* **raw, same statement**: the statement the package sends (captured from psycopg),
  run by psycopg with pgvector's numpy adapter: the target's "raw SQL running the same
  plan";
* **raw, simple query**: ``compare.py``'s raw query (``metadata @> … AND (metadata ->
  'year') >= '2010'``, only ``id`` back, index scans off in a transaction), which does
  less than the filter language promises (a boolean ``year`` would pass its comparison).

It prints p50 / p95 over every query of every round, the ratio to the same statement run
raw, and recall@10 against exact search. PostgreSQL comes from BRUNO_TEST_POSTGRES_URL,
or a server is started as the tests do.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from compare import FILTER, Data, servers  # noqa: E402

COLLECTION = "pg_turns"


def _captured_statement(store: Any, query: list[float]) -> tuple[bytes, list[Any]]:
    """The statement (and its parameters) the package sends for one filtered search."""
    import psycopg

    seen: list[tuple[Any, Any, Any]] = []
    original = psycopg.Cursor.execute

    def spy(self: Any, statement: Any, params: Any = None, **kwargs: Any) -> Any:
        seen.append((self, statement, params))
        return original(self, statement, params, **kwargs)

    psycopg.Cursor.execute = spy  # type: ignore[method-assign]
    try:
        store.search(COLLECTION, query, k=10, filter=FILTER)
    finally:
        psycopg.Cursor.execute = original  # type: ignore[method-assign]
    cursor, statement, params = seen[-1]
    text = statement if isinstance(statement, bytes) else statement.as_bytes(cursor)
    return text, list(params)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=20_000)
    ap.add_argument("--queries", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()

    import psycopg
    from pgvector.psycopg import register_vector
    from psycopg.types.json import Jsonb

    from bruno_memory_integrations import Record, open_store
    from bruno_memory_integrations.backends.postgres.schema import table_name

    data = Data.random(a.records, a.queries)
    with servers(["postgres"]) as urls, open_store(urls["postgres"]) as store:
        url = urls["postgres"]
        store.drop_collection(COLLECTION)
        t = time.perf_counter()
        store.upsert(
            COLLECTION,
            [
                Record(i, tx, v.tolist(), m)
                for i, tx, v, m in zip(data.ids, data.texts, data.vecs, data.meta, strict=True)
            ],
        )
        store.search(COLLECTION, data.queries[0].tolist(), k=10)  # builds the pending index
        print(f"loaded {a.records} records in {time.perf_counter() - t:.1f} s")

        conn = psycopg.connect(url, autocommit=True)
        register_vector(conn)
        same_sql, same_params = _captured_statement(store, data.queries[0].tolist())
        table = table_name(COLLECTION)
        conn.execute(f'VACUUM ANALYZE "{table}"')
        simple_sql = (
            f'SELECT id FROM "{table}" WHERE metadata @> %s AND (metadata -> \'year\') >= '
            "'2010'::jsonb ORDER BY embedding <=> %s LIMIT 10"
        )

        def bruno(q: np.ndarray) -> list[str]:
            hits = store.search(COLLECTION, q.tolist(), k=10, filter=FILTER)
            return [h.record.id for h in hits]

        def same(q: np.ndarray) -> list[str]:
            rows = conn.execute(same_sql, [q, *same_params[1:]]).fetchall()
            return [r[0] for r in rows][:10]

        def simple(q: np.ndarray) -> list[str]:
            with conn.transaction():
                conn.execute("SET LOCAL enable_indexscan = off")
                rows = conn.execute(simple_sql, [Jsonb({"topic": "t3"}), q]).fetchall()
            return [r[0] for r in rows]

        contenders = {
            "bruno Store.search": bruno,
            "raw psycopg, the same statement": same,
            "raw psycopg, compare.py's simpler query": simple,
        }
        lat: dict[str, list[float]] = {name: [] for name in contenders}
        recall: dict[str, list[float]] = {name: [] for name in contenders}
        for fn in contenders.values():  # warm: prepared statements, caches
            for q in data.queries[:5]:
                fn(q)
        for _ in range(a.rounds):
            for n, q in enumerate(data.queries):
                for name, fn in contenders.items():
                    t = time.perf_counter()
                    got = fn(q)
                    lat[name].append((time.perf_counter() - t) * 1000)
                    recall[name].append(len(data.truth[True][n] & set(got)) / 10)
        store.drop_collection(COLLECTION)
        conn.close()

    base = statistics.median(lat["raw psycopg, the same statement"])
    print(
        f"\n{a.records} records x {data.vecs.shape[1]}-d random unit vectors, filter matches "
        f"{data.match.mean():.1%}; {a.rounds} rounds x {a.queries} queries, contenders in "
        "turn on every query, one table (VACUUM ANALYZE after the load)\n"
    )
    print("| contender | filtered p50 ms | p95 ms | x same statement p50 | recall@10 |")
    print("|---|---|---|---|---|")
    for name, values in lat.items():
        ordered = sorted(values)
        p50 = statistics.median(ordered)
        p95 = ordered[int(0.95 * (len(ordered) - 1))]
        print(
            f"| {name} | {p50:.2f} | {p95:.2f} | {p50 / base:.2f} | "
            f"{float(np.mean(recall[name])):.2f} |"
        )


if __name__ == "__main__":
    main()
