"""PostgreSQL backend without a server: SQL, filter translation, literals, options, operations.

The operations are generators of statements, so their control flow (exact-scan fallback,
missing tables, bulk-load index rebuild, schema version checks) is tested here by
feeding them replies, the way the sync and async drivers do.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Generator
from decimal import Decimal
from typing import Any

import numpy as np
import pytest

pytest.importorskip("psycopg", reason="the postgres extra (psycopg) is not installed")

from psycopg import errors as pg_errors
from psycopg import sql
from psycopg.types.json import Jsonb

from bruno_memory_integrations.backends.postgres import query as _queries
from bruno_memory_integrations.backends.postgres import schema as _sql
from bruno_memory_integrations.backends.postgres.backend import PostgresBackend, prepare_rows
from bruno_memory_integrations.backends.postgres.filters import to_postgres_where
from bruno_memory_integrations.backends.postgres.options import (
    PostgresOptions,
    mask_url,
    split_url_options,
)
from bruno_memory_integrations.errors import (
    BackendError,
    ConfigurationError,
    FilterError,
    InvalidMetadataError,
    InvalidVectorError,
    NotSupportedError,
)
from bruno_memory_integrations.filters import Comparison, Not, parse_filter
from bruno_memory_integrations.testing.data import FILTER_CASES, TRICKY_STRINGS
from bruno_memory_integrations.text import tokenize
from bruno_memory_integrations.types import CollectionInfo, Record


def text_of(query: sql.Composable | bytes) -> str:
    """A statement's text (cached statements are the bytes psycopg sends)."""
    return query.decode() if isinstance(query, bytes) else query.as_string(None)


def where(spec: dict[str, Any]) -> tuple[str, list[Any]]:
    query, params = to_postgres_where(parse_filter(spec))
    return text_of(query), params


def plain(params: list[Any]) -> list[Any]:
    """Jsonb wrappers unwrapped, for comparisons."""
    return [
        p.obj if isinstance(p, Jsonb) else [x.obj for x in p] if isinstance(p, list) else p
        for p in params
    ]


# ============================================================ filters
class TestFilters:
    def test_no_filter_is_true(self) -> None:
        assert to_postgres_where(None) == (sql.SQL("TRUE"), [])

    def test_equality_is_jsonb_containment(self) -> None:
        text, params = where({"color": "red"})
        assert text == '"metadata" @> %s'
        assert plain(params) == [{"color": "red"}]

    def test_in_contains_exists(self) -> None:
        text, params = where({"i": {"$in": [1, 2]}})
        assert text == '"metadata" @> ANY(%s::jsonb[])'
        assert plain(params) == [[{"i": 1}, {"i": 2}]]
        text, params = where({"tags": {"$contains": "x"}})
        assert plain(params) == [{"tags": ["x"]}]
        text, params = where({"flag": {"$exists": True}})
        assert text == '("metadata" ? %s AND ("metadata" -> %s) <> \'null\'::jsonb)'
        assert params == ["flag", "flag"]

    def test_ranges_are_guarded_numeric_comparisons(self) -> None:
        text, params = where({"n": {"$gt": 20.25}})
        assert "jsonb_typeof" in text and "::numeric >" in text and "COALESCE" in text
        assert params == ["n", "n", Decimal("20.25")]
        _, params = where({"n": {"$lte": 3}})
        assert params[-1] == Decimal(3)
        # The shortest repr, not the binary expansion: 0.1 stays 0.1, like the JSON.
        assert where({"n": {"$lt": 0.1}})[1][-1] == Decimal("0.1")

    def test_negations_wrap_in_not(self) -> None:
        text, _ = where({"color": {"$ne": "red"}})
        assert text == '(NOT ("metadata" @> %s))'
        text, _ = where({"color": None})
        assert text.startswith("(NOT (")

    def test_logic_joins_in_order(self) -> None:
        text, params = where({"$or": [{"a": 1}, {"$and": [{"b": 2}, {"c": {"$gt": 3}}]}]})
        assert text.count(" OR ") == 1 and text.count(" AND ") == 1
        assert plain(params)[:2] == [{"a": 1}, {"b": 2}]
        assert params[2:] == ["c", "c", Decimal(3)]

    def test_custom_column(self) -> None:
        query, _ = to_postgres_where(parse_filter({"a": 1}), sql.Identifier("r", "metadata"))
        assert text_of(query) == '"r"."metadata" @> %s'

    @pytest.mark.parametrize("case", [cid for cid, _ in FILTER_CASES])
    def test_every_value_is_a_parameter(self, case: str) -> None:
        spec = dict(FILTER_CASES)[case]
        text, params = where(spec)
        assert text.count("%s") == len(params)
        for value in ["red", "it's", 'q"uote', "Robert'); DROP", "weird key"]:
            assert value not in text

    @pytest.mark.parametrize("payload", [s for s in TRICKY_STRINGS if not s.startswith("$")])
    def test_tricky_fields_and_values_stay_out_of_the_sql(self, payload: str) -> None:
        text, params = where({payload: {"$gt": 1}, "k": payload})
        assert payload not in text.replace('"metadata"', "")
        assert params[0] == payload and plain(params)[-1] == {"k": payload}

    def test_unknown_operator_raises(self) -> None:
        with pytest.raises(FilterError, match="regex"):
            to_postgres_where(Comparison("a", "regex", "x"))
        with pytest.raises(FilterError):
            to_postgres_where(Not(Comparison("a", "near", 1)))

    def test_compiled_filters_keep_equal_values_of_other_types_apart(self) -> None:
        """Filters are compiled once and reused; True == 1 == 1.0 in Python, but each
        compiles to its own JSON, so none may be served another's clause."""
        for value in (1, True, 1.0, -0.0, 0, False, 1, True):
            clause, params = to_postgres_where(parse_filter({"a": value}))
            (got,) = (p.obj["a"] for p in params)
            assert type(got) is type(value) and repr(got) == repr(value)
            params.clear()  # the caller's list is its own: the next call is unchanged
        clause_again, params_again = to_postgres_where(parse_filter({"a": True}))
        assert len(params_again) == 1 and clause_again.as_string(None) == clause.as_string(None)


# ============================================================ literals and names
class TestLiterals:
    def test_vector_text_form_round_trips_at_float4_precision(self) -> None:
        v = [0.1, -2.5, 1e-7, 123456.789, 0.0]
        text = _sql.vector_literal(v)
        assert text.startswith("[") and text.endswith("]") and " " not in text
        back = _sql.parse_vector(text)
        assert np.allclose(back, np.asarray(v, dtype=np.float32), rtol=1e-7)
        assert _sql.parse_vector("[]") == []

    def test_vector_binary_form(self) -> None:
        (packed,) = _sql.vector_binaries([[1.0, -0.5, 3.25]])
        assert struct.unpack(">HH", packed[:4]) == (3, 0)
        assert np.frombuffer(packed[4:], dtype=">f4").tolist() == [1.0, -0.5, 3.25]
        assert _sql.vector_binaries([]) == []
        assert prepare_rows([], binary=True) == [] and prepare_rows([], binary=False) == []

    @pytest.mark.parametrize("bad", [1e39, -1e39])
    def test_out_of_float4_range_is_refused(self, bad: float) -> None:
        with pytest.raises(InvalidVectorError, match="4-byte floats"):
            _sql.vector_literal([0.0, bad])
        with pytest.raises(InvalidVectorError):
            _sql.vector_binaries([[0.0, 0.0], [bad, 0.0]])

    def test_tsvector_has_exactly_the_tokenize_words(self) -> None:
        text = "Version 3.5 of a-b: mail foo@bar.com, ÜMLAUT Straße x_y http://h.io/p 3.5"
        literal = _sql.tsvector_literal(text)
        lexemes = {part.split(":")[0].strip("'") for part in literal.split(" ")}
        assert lexemes == set(tokenize(text))
        assert "'3':2,19" in literal  # repeated words keep every position

    def test_tsvector_limits(self) -> None:
        long_word = "x" * 3000
        assert _sql.tsvector_literal(f"short {long_word}") == "'short':1"
        many = _sql.tsvector_literal(" ".join(["w"] * 300))
        assert many.count(",") == 255  # PostgreSQL keeps 256 positions per word
        far = _sql.tsvector_literal(" ".join(["pad"] * 20000 + ["end"]))
        assert "'end':16383" in far
        huge = " ".join(f"w{i:07d}{'y' * 120}" for i in range(9000))
        with pytest.raises(InvalidMetadataError, match="1 MB"):
            _sql.tsvector_literal(huge)

    def test_tsvector_equals_the_plain_definition_on_random_texts(self) -> None:
        """The literal is PostgreSQL's tsvector of tokenize's words: every word under
        the lexeme limit with its first 256 distinct positions (clamped at 16383),
        sorted; built here the plain way and compared on random texts."""
        import random

        def plain(text: str) -> str:
            positions: dict[str, list[int]] = {}
            for pos, word in enumerate(tokenize(text), start=1):
                if len(word.encode("utf-8")) <= _sql.MAX_LEXEME_BYTES:
                    seen = positions.setdefault(word, [])
                    if len(seen) < 256:
                        seen.append(min(pos, _sql.MAX_POSITION))
            return " ".join(
                f"{_sql._quote_lexeme(w)}:{','.join(map(str, sorted(set(p))))}"
                for w, p in positions.items()
            )

        rng = random.Random(11)
        pieces = ["a", "b", "Ü", "ß", "1", " ", "-", "'", "\\", "é", "字", "😀", "_", "x" * 700]
        texts = ["".join(rng.choice(pieces) for _ in range(rng.choice([3, 40, 400, 4000])))
                 for _ in range(400)]
        texts.append(" ".join(f"w{i % 5}" for i in range(17000)))
        for text in texts:
            assert _sql.tsvector_literal(text) == plain(text)

    def test_tsquery_ands_quoted_words(self) -> None:
        assert _sql.tsquery_literal("Brown FOX brown!") == "'brown' & 'fox'"
        assert _sql.tsquery_literal("  ?! ") is None
        assert _sql.tsquery_literal("ok " + "z" * 3000) is None  # no record can hold it
        assert _sql._quote_lexeme("it's\\") == "'it''s\\\\'"


class TestNames:
    @pytest.mark.parametrize("name", [*TRICKY_STRINGS, "x" * 600, "Ünïcode 😀", "a", "A"])
    def test_table_names_are_safe_and_short(self, name: str) -> None:
        table = _sql.table_name(name)
        assert table.startswith("bruno_c_") and len(table) <= 55
        assert set(table) <= set("abcdefghijklmnopqrstuvwxyz0123456789_")
        assert len(table + "_meta") <= 63 and _sql.table_name(name) == table

    def test_distinct_names_give_distinct_tables(self) -> None:
        names = [*TRICKY_STRINGS, "a", "A", "a ", "a_", "x" * 600, "x" * 601]
        assert len({_sql.table_name(n) for n in names}) == len(names)

    def test_schema_names_are_quoted_identifiers(self) -> None:
        names = _sql.Names('we"ird; DROP SCHEMA public')
        assert text_of(names.meta) == '"we""ird; DROP SCHEMA public"."bruno_meta"'
        statement = _queries.kv_keys(names, "c'; --", "p%")
        assert "c'; --" not in text_of(statement.query) and statement.params == ["c'; --", "p%"]


# ============================================================ options
class TestOptions:
    def test_defaults_and_checks(self) -> None:
        opts = PostgresOptions.build({})
        assert (opts.schema, opts.index, opts.pool_size) == ("public", "hnsw", 10)
        for bad in (
            {"index": "annoy"},
            {"pool_size": 0},
            {"pool_min_size": 20},
            {"schema": ""},
            {"schema": "s" * 64},
            {"ef_search": 5000},
            {"hnsw_m": 1},
            {"pool_timeout": 0},
            {"pool_size": True},
            {"nope": 1},
        ):
            with pytest.raises(ConfigurationError):
                PostgresOptions.build(bad)

    def test_url_parameters_split_between_us_and_libpq(self) -> None:
        clean, ours = split_url_options(
            "postgresql+psycopg://u:p@h:5432/db?sslmode=disable&schema=app&pool_size=3"
        )
        assert clean == "postgresql://u:p@h:5432/db?sslmode=disable"
        assert ours == {"schema": "app", "pool_size": "3"}
        opts = PostgresOptions.build({**ours, "check_connections": "off"})
        assert (opts.schema, opts.pool_size, opts.check_connections) == ("app", 3, False)
        with pytest.raises(ConfigurationError, match="pool_size"):
            PostgresOptions.build({"pool_size": "many"})
        with pytest.raises(ConfigurationError):
            split_url_options("mysql://h/db")

    def test_libpq_parameters_keep_their_spaces(self) -> None:
        clean, _ = split_url_options("postgresql://h/db?options=-c%20work_mem%3D8MB&schema=a")
        assert clean == "postgresql://h/db?options=-c%20work_mem%3D8MB"  # not "-c+work_mem"

    @pytest.mark.parametrize(
        "url, masked",
        [
            ("postgresql://bob:s3cret@db:5432/app", "postgresql://bob:***@db:5432/app"),
            ("postgresql://bob@db/app", "postgresql://bob@db/app"),
            (
                "postgresql://db/app?password=s3cret&sslmode=require",
                "postgresql://db/app?password=***&sslmode=require",
            ),
            ("host=db password='s 3cret' user=bob", "host=db password=*** user=bob"),
        ],
    )
    def test_passwords_are_masked(self, url: str, masked: str) -> None:
        assert mask_url(url) == masked


# ============================================================ ops, driven by hand
Reply = Callable[[Any], Any]


def drive(op: Generator[Any, Any, Any], reply: Reply) -> tuple[list[Any], Any]:
    """Run an op like the drivers do; ``reply`` answers each step (or returns an error)."""
    steps: list[Any] = []
    answer: Any = None
    error: BaseException | None = None
    while True:
        try:
            step = op.throw(error) if error is not None else op.send(answer)
        except StopIteration as stop:
            return steps, stop.value
        steps.append(step)
        answer, error = reply(step), None
        if isinstance(answer, BaseException):
            answer, error = None, answer


def ctx(**options: Any) -> PostgresBackend:
    """A backend that never connects (pools open lazily), as the schema set up left it."""
    c = PostgresBackend.from_url("postgresql://u@127.0.0.1:1/db", **{"schema": "s", **options})
    c._ctx.vector_version, c._ctx.vector_oid = (0, 8, 5), 12345
    return c


def looked(c: PostgresBackend, name: str = "c") -> PostgresBackend:
    """As if the store had just looked for a pending index (tested on its own)."""
    c._ctx.checked[name] = float("inf")
    return c


def spec(index: str = "hnsw", metric: str = "cosine") -> _sql.CollectionSpec:
    return _sql.CollectionSpec(CollectionInfo("c", 2, metric), _sql.table_name("c"), index)


class TestOps:
    def test_search_falls_back_to_an_exact_scan_when_short(self) -> None:
        c = looked(ctx())
        c._ctx.specs["c"] = spec()
        rows: list[tuple[Any, ...]] = [("a", "", {}, 0.1), ("b", "", {}, 0.2)]
        steps, hits = drive(
            c.search("c", [1.0, 0.0], 5, None, False),
            lambda s: rows if getattr(s, "fetch", None) == "all" else None,
        )
        assert steps[0] == _sql.Settings(
            (("hnsw.ef_search", "40"), ("hnsw.iterative_scan", "relaxed_order"))
        )
        texts = [text_of(s.query) for s in steps[1:]]
        assert "OFFSET 0" not in texts[0] and "OFFSET 0" in texts[1]  # the rerun is exact
        assert steps[1].params[1:] == steps[2].params[1:] and len(steps) == 3
        assert [(r.id, d) for r, d in hits] == [("a", 0.1), ("b", 0.2)]

    def test_search_with_enough_rows_or_no_index_runs_once(self) -> None:
        c = looked(ctx())
        c._ctx.specs["c"] = spec()
        full: list[tuple[Any, ...]] = [(str(i), "", {}, float(i)) for i in range(3)]
        steps, _ = drive(c.search("c", [1.0, 0.0], 3, None, False), lambda s: full)
        assert len(steps) == 2
        c._ctx.specs["c"] = spec(index="none")
        steps, _ = drive(c.search("c", [1.0, 0.0], 9, None, False), lambda s: full)
        assert len(steps) == 1  # exact already: no settings, no rerun

    def test_filtered_search_is_exact_unless_asked_otherwise(self) -> None:
        full: list[tuple[Any, ...]] = [(str(i), "", {}, float(i)) for i in range(3)]
        flt = parse_filter({"topic": "a"})
        c = looked(ctx())
        c._ctx.specs["c"] = spec()
        steps, _ = drive(c.search("c", [1.0, 0.0], 5, flt, False), lambda s: full)
        # One statement, short yet not rerun: no settings, no transaction needed.
        (st,) = steps
        assert "OFFSET 0" in text_of(st.query) and st.alone
        c = looked(ctx(exact_filtered_search="false"))  # as in a URL
        c._ctx.specs["c"] = spec()
        steps, _ = drive(c.search("c", [1.0, 0.0], 3, flt, False), lambda s: full)
        assert steps[0].pairs == (
            ("hnsw.ef_search", "40"),
            ("hnsw.iterative_scan", "relaxed_order"),
        )
        assert len(steps) == 2 and "OFFSET 0" not in text_of(steps[1].query)

    def test_search_settings(self) -> None:
        st = _queries.search_settings(spec(), 5000, 40, 10, iterative=False)
        assert st is not None and st.pairs == (("hnsw.ef_search", "1000"),)
        st = _queries.search_settings(spec("ivfflat"), 5, 40, 7, iterative=True)
        assert st is not None and st.pairs == (
            ("ivfflat.probes", "7"),
            ("ivfflat.iterative_scan", "relaxed_order"),
        )
        assert _queries.search_settings(spec("none"), 5, 40, 7, iterative=True) is None
        local = _queries.set_config(st.pairs, local=True)
        assert text_of(local.query).count("true)") == 2
        assert local.params == ["ivfflat.probes", "7", "ivfflat.iterative_scan", "relaxed_order"]
        assert "false)" in text_of(_queries.set_config(st.pairs, local=False).query)

    def test_search_operator_per_metric(self) -> None:
        for metric, op in (("cosine", "<=>"), ("euclidean", "<->"), ("dot", "<#>")):
            for exact in (True, False):
                st = _queries.search(
                    _sql.Names("s"),
                    spec(metric=metric),
                    _sql.vector_param([1.0, 0.0]),
                    3,
                    to_postgres_where(None),
                    True,
                    exact,
                )
                assert f"embedding {op} %b::vector AS distance" in text_of(st.query)

    def test_query_vectors_travel_in_binary(self) -> None:
        param = _sql.vector_param([1.0, -0.5, 0.1])
        assert isinstance(param, _sql.VectorParam)
        assert param[:4] == struct.pack(">HH", 3, 0)
        assert (
            np.frombuffer(param[4:], dtype=">f4").tolist() == np.float32([1.0, -0.5, 0.1]).tolist()
        )
        assert _sql.VectorParamDumper(_sql.VectorParam).dump(param) == bytes(param)
        with pytest.raises(InvalidVectorError):
            _sql.vector_param([0.0, 1e39])

    def test_missing_collection_reads_as_empty(self) -> None:
        c = ctx()
        missing = pg_errors.UndefinedTable("no table")
        assert drive(c.get("c", ["a"], True), lambda s: missing)[1] == []
        assert drive(c.count("c", None), lambda s: missing)[1] == 0
        assert drive(c.delete("c", ["a"]), lambda s: missing)[1] == 0
        assert drive(c.scan("c", None, 5, None, False), lambda s: missing)[1].records == []
        assert drive(c.keyword_search("c", "a b", 5, None), lambda s: missing)[1] == []
        # search looks the collection up first
        assert drive(c.search("c", [1.0, 0.0], 3, None, False), lambda s: None)[1] == []

    def test_upsert_into_a_dropped_collection_raises(self) -> None:
        recs = [Record("a", "t", [1.0, 0.0], {})]
        with pytest.raises(BackendError, match="does not exist"):
            drive(ctx().upsert("c", recs), lambda s: pg_errors.UndefinedTable("x"))

    def test_small_upsert_is_one_statement(self) -> None:
        recs = [Record("b", "two words", [0.0, 1.0], {"x": 1}), Record("a", "", [1.0, 0.0], {})]
        rows = prepare_rows(recs, binary=False)
        assert [r[0] for r in rows] == ["a", "b"]  # sorted: one lock order
        steps, _ = drive(ctx().upsert("c", recs), lambda s: None)
        (st,) = steps  # one statement: an expired row with the same id is overwritten
        assert "unnest" in text_of(st.query) and "ON CONFLICT (id) DO UPDATE" in text_of(st.query)
        assert st.params[0] is None  # no ttl
        assert st.params[1] == ["a", "b"] and st.params[5] == ["", "'two':1 'words':2"]

    def test_big_first_load_defers_the_vector_index_to_the_first_search(self) -> None:
        c = ctx(copy_threshold=2)
        c._ctx.specs["c"] = spec()
        rows = [Record(f"r{i}", "", [1.0, float(i)], {}) for i in range(3)]
        definition = "CREATE INDEX x ON s.t USING hnsw (e)"
        answers: dict[str, Any] = {"count": (0,), "pg_get_indexdef": (definition,)}

        def reply(step: Any) -> Any:
            if isinstance(step, _sql.Settings):
                return None
            text = text_of(step.query)
            return next((v for k, v in answers.items() if k in text), None)

        steps, _ = drive(c.upsert("c", rows), reply)
        kinds = [type(s).__name__ for s in steps]
        texts = [text_of(s.query) for s in steps]
        assert kinds[1] == "CopyIn" and steps[1].types[2] == 12345
        assert "FORMAT BINARY" in texts[1]
        assert "pg_advisory_xact_lock" in texts[2]  # concurrent loads decide one at a time
        assert texts[5].startswith("DROP INDEX") and texts[6].startswith("COMMENT ON TABLE")
        assert _queries.PENDING_INDEX + definition in texts[6]
        assert texts[-1].startswith("INSERT INTO") and "pending" not in str(steps[-1].params)
        assert c._ctx.pending == {"c"}
        # The next page finds no index: it goes into the table without counting.
        answers["pg_get_indexdef"] = None
        steps, _ = drive(c.upsert("c", rows), reply)
        texts = [text_of(s.query) for s in steps]
        assert not any(t.startswith(("DROP INDEX", "SELECT count")) for t in texts)
        # The first search builds it once, analyses the table, then searches.
        answers["obj_description"] = (_queries.PENDING_INDEX + definition,)
        answers["pg_get_indexdef"] = None
        steps, _ = drive(
            c.search("c", [1.0, 0.0], 1, None, False),
            lambda s: [] if getattr(s, "fetch", None) == "all" else reply(s),
        )
        texts = [text_of(s.query) for s in steps if not isinstance(s, _sql.Settings)]
        assert definition in texts and texts.index(definition) < len(texts) - 1
        assert any(t.startswith("ANALYZE") for t in texts)
        assert any(t.endswith("IS NULL") and t.startswith("COMMENT") for t in texts)
        assert c._ctx.pending == set()
        # A table already _LOAD_FACTOR times the batch's size keeps its index.
        answers["pg_get_indexdef"] = (definition,)
        answers["count"] = (12,)
        steps, _ = drive(c.upsert("c", rows), reply)
        assert not any(text_of(s.query).startswith("DROP INDEX") for s in steps)

    def test_init_schema_fast_path_takes_no_lock(self) -> None:
        c = ctx()
        answers = iter([("0.8.5", 777, True), ("2",)])
        steps, _ = drive(c.init_schema(), lambda s: next(answers))
        assert len(steps) == 2 and (c._ctx.vector_version, c._ctx.vector_oid) == ((0, 8, 5), 777)

    def test_init_schema_creates_and_refuses_newer_versions(self) -> None:
        def reply(stored: str) -> Reply:
            def answer(step: Any) -> Any:
                text = text_of(step.query)
                if "e.extversion" in text:
                    return ("0.7.4", 5, False)
                if "pg_namespace WHERE nspname" in text:
                    return (False,)
                if "SELECT table_name FROM" in text:
                    return [("bruno_c_docs_0123456789ab",)]
                return (stored,) if "schema_version'" in text and step.fetch == "one" else None

            return answer

        c = ctx(schema="app")
        steps, _ = drive(c.init_schema(), reply("1"))
        texts = [text_of(s.query) for s in steps]
        assert any("pg_advisory_xact_lock" in t for t in texts)
        assert any(t.startswith('CREATE SCHEMA IF NOT EXISTS "app"') for t in texts)
        assert not c._ctx.iterative_scans  # pgvector 0.7: no iterative index scans
        # Version 1 is upgraded: expiry columns on the shared and collection tables.
        added = [t for t in texts if "ADD COLUMN IF NOT EXISTS expires_at" in t]
        assert len(added) == 3 and any("bruno_c_docs_0123456789ab" in t for t in added)
        assert any("SET value" in t and "schema_version" in t for t in texts)
        with pytest.raises(ConfigurationError, match="newer release"):
            drive(ctx().init_schema(), reply("99"))

    def test_create_collection_limits(self) -> None:
        with pytest.raises(NotSupportedError, match="16000"):
            drive(ctx().create_collection(CollectionInfo("c", 16001)), lambda s: None)
        c = ctx()
        steps, _ = drive(c.create_collection(CollectionInfo("c", 3000)), lambda s: None)
        assert c._ctx.specs["c"].index == "none"
        assert not any("USING hnsw" in text_of(s.query) for s in steps)
        steps, _ = drive(
            ctx(hnsw_m=8).create_collection(CollectionInfo("c", 8, "dot")), lambda s: None
        )
        ddl = " ".join(text_of(s.query) for s in steps)
        assert "USING hnsw (embedding vector_ip_ops) WITH (m = 8, ef_construction = 64)" in ddl
