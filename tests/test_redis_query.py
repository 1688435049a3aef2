"""The Redis query translator, escaping, key naming and reply parsing: no server needed.

The translator is also checked for meaning, not only text: a small evaluator of
the query subset it emits (tags, ranges, ``-``, ``|``, juxtaposition) runs the
queries over the hash fields ``metadata_fields`` writes, and must agree with the
reference ``filters.evaluate`` on every conformance case and many random filters.
"""

from __future__ import annotations

import math
import random
import re
import string
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("redis", reason="the redis extra (redis-py) is not installed")

from bruno_memory_integrations.backends.redis import codec
from bruno_memory_integrations.backends.redis import filters as f
from bruno_memory_integrations.backends.redis import query as q
from bruno_memory_integrations.backends.redis.backend import mask_url
from bruno_memory_integrations.errors import BackendError, FilterError, InvalidMetadataError
from bruno_memory_integrations.filters import (
    And,
    Comparison,
    Not,
    Or,
    evaluate,
    fields_of,
    parse_filter,
)
from bruno_memory_integrations.testing.data import (
    FILTER_CASES,
    TRICKY_STRINGS,
    filter_records,
)
from bruno_memory_integrations.types import Record


def schema(*keys: str) -> f.FieldSchema:
    return f.FieldSchema.of(keys)


# ============================================================================ escaping
def test_escape_tag_escapes_every_ascii_punctuation_and_space() -> None:
    for ch in string.punctuation + " \t\n\x07\x1b":
        assert f.escape_tag(ch) == "\\" + ch
    assert f.escape_tag("abcXYZ019") == "abcXYZ019"
    assert f.escape_tag("ümlaut日本") == "ümlaut日本"  # never query syntax
    assert f.escape_tag("@f:{x} | -y") == "\\@f\\:\\{x\\}\\ \\|\\ \\-y"
    assert q.escape_query_term("a-b") == "a\\-b"


def test_escape_glob() -> None:
    assert q.escape_glob("a*b?c[d]e\\f") == "a\\*b\\?c\\[d\\]e\\\\f"
    assert q.escape_glob("plain:key/1") == "plain:key/1"


# ============================================================================ fields and tags
def test_generated_field_names_are_safe_and_distinct() -> None:
    names = set()
    for key in [*TRICKY_STRINGS, "n", "N", 'weird key\'s "name"']:
        t, n = f.tag_field(key), f.numeric_field(key)
        assert re.fullmatch(r"m[0-9a-f]{20}[tn]", t) and re.fullmatch(r"m[0-9a-f]{20}[tn]", n)
        names |= {t, n}
    assert len(names) == 2 * (len(TRICKY_STRINGS) + 3)
    reserved = {q.ID_FIELD, q.TEXT_FIELD, q.WORDS_FIELD, q.META_FIELD, q.VECTOR_FIELD, q.SORT_FIELD}
    assert not names & reserved


def test_tags_are_hex_and_keep_kinds_apart() -> None:
    tags = {
        f.tag_value("s", "true"),
        f.tag_value("b", "true"),
        f.tag_value("l", "true"),
        f.tag_value("s", ""),
        f.tag_value("e"),
        f.tag_value("s", "True"),
        f.tag_value("s", " true"),
    }
    assert len(tags) == 7
    assert all(re.fullmatch(r"[0-9a-f]{32}", t) for t in tags)
    assert f.tag_value("s", "x") == f.tag_value("s", "x")


def test_metadata_fields_index_each_kind() -> None:
    md = {
        "s": "v",
        "b": True,
        "i": 3,
        "f": -0.5,
        "l": ["a", "b", "a"],
        "z": None,
        "num": "5",
        "e": [],
    }
    fields = f.metadata_fields(md)
    tags = {k: set(fields[f.tag_field(k)].split(",")) for k in md if f.tag_field(k) in fields}
    assert f.tag_field("z") not in fields and f.numeric_field("z") not in fields  # null = missing
    assert tags["s"] == {f.EXISTS_TAG, f.tag_value("s", "v")}
    assert tags["b"] == {f.EXISTS_TAG, f.tag_value("b", "true")}
    assert f.numeric_field("b") not in fields  # booleans are not numbers
    assert fields[f.numeric_field("i")] == "3" and tags["i"] == {f.EXISTS_TAG}
    assert float(fields[f.numeric_field("f")]) == -0.5
    assert tags["l"] == {f.EXISTS_TAG, f.tag_value("l", "a"), f.tag_value("l", "b")}
    assert f.numeric_field("num") not in fields  # a number-looking string stays a string
    assert tags["e"] == {f.EXISTS_TAG}  # an empty list exists
    assert "v" not in ",".join(fields.values()).split(",")  # values never appear raw
    for nested in ({"a": {"b": 1}}, {"a": [1, 2]}):
        with pytest.raises(InvalidMetadataError):
            f.metadata_fields(nested)


@pytest.mark.parametrize(
    "value", [0, -1, 2**53 - 1, 1e-05, 1e16, 1e300, -0.0, 4.5, 0.1 + 0.2, 5e-324]
)
def test_format_number_round_trips_exactly(value: float) -> None:
    text = f.format_number(value)
    assert float(text) == value and re.fullmatch(r"[-+0-9.e]+", text)
    if isinstance(value, int):
        assert int(text) == value


def test_numbers_beyond_two_to_53_are_refused_in_filters() -> None:
    for bad in (2**53, -(2**53), 2**63 - 1, 1e20):
        with pytest.raises(FilterError, match="2\\*\\*53"):
            f.to_redis_query(Comparison("n", "gt", bad), schema("n"))
        with pytest.raises(FilterError):
            f.to_redis_query(Comparison("n", "in", (1, bad)), schema("n"))
    assert f.to_redis_query(Comparison("n", "eq", 2**53 - 1), schema("n")).endswith(
        f"[{2**53 - 1} {2**53 - 1}]"
    )


# ============================================================================ translation text
def test_each_comparison_translates_to_its_clause() -> None:
    t, n = f.tag_field("k"), f.numeric_field("k")
    sc = schema("k")
    assert f.to_redis_query(None, sc) == f.MATCH_ALL
    assert f.to_redis_query(Comparison("k", "eq", "x"), sc) == f"@{t}:{{{f.tag_value('s', 'x')}}}"
    assert (
        f.to_redis_query(Comparison("k", "eq", False), sc)
        == f"@{t}:{{{f.tag_value('b', 'false')}}}"
    )
    assert f.to_redis_query(Comparison("k", "eq", 3), sc) == f"@{n}:[3 3]"
    assert f.to_redis_query(Comparison("k", "gt", 1.5), sc) == f"@{n}:[(1.5 +inf]"
    assert f.to_redis_query(Comparison("k", "gte", -2), sc) == f"@{n}:[-2 +inf]"
    assert f.to_redis_query(Comparison("k", "lt", 0), sc) == f"@{n}:[-inf (0]"
    assert f.to_redis_query(Comparison("k", "lte", 1e-05), sc) == f"@{n}:[-inf 1e-05]"
    assert f.to_redis_query(Comparison("k", "exists", True), sc) == f"@{t}:{{{f.EXISTS_TAG}}}"
    assert (
        f.to_redis_query(Comparison("k", "contains", "a"), sc)
        == f"@{t}:{{{f.tag_value('l', 'a')}}}"
    )
    assert f.to_redis_query(Comparison("k", "in", ("a", "b")), sc) == (
        f"@{t}:{{{f.tag_value('s', 'a')} | {f.tag_value('s', 'b')}}}"
    )
    assert f.to_redis_query(Comparison("k", "in", (1, 2)), sc) == f"(@{n}:[1 1] | @{n}:[2 2])"
    assert f.to_redis_query(Not(Comparison("k", "eq", 3)), sc) == f"-@{n}:[3 3]"


def test_constant_parts_fold_away() -> None:
    sc = schema("k")
    known = Comparison("k", "eq", 1)
    ghost = Comparison("ghost", "eq", 1)
    text = f.to_redis_query(known, sc)
    assert f.to_redis_query(ghost, sc) == f.MATCH_NOTHING
    assert f.to_redis_query(Not(ghost), sc) == f.MATCH_ALL
    assert f.to_redis_query(Or((ghost, known)), sc) == text
    assert f.to_redis_query(And((ghost, known)), sc) == f.MATCH_NOTHING
    assert f.to_redis_query(And((Not(ghost), known)), sc) == text
    assert f.to_redis_query(Or((Not(ghost), known)), sc) == f.MATCH_ALL
    assert (
        f.to_redis_query(Comparison("k", "contains", 5), sc) == f.MATCH_NOTHING
    )  # lists hold strings


def test_no_user_text_reaches_the_query() -> None:
    allowed = re.compile(r"^[A-Za-z0-9@:{}\[\]()|\- +.*_]*$")
    for s in [*TRICKY_STRINGS, "@x:{y} | -z", "\\", "'", '"', "$K", "=>[KNN 1 @vec $BLOB]"]:
        sc = schema(s)
        for node in (
            Comparison(s, "eq", s),
            Comparison(s, "in", (s, "x")),
            Comparison(s, "contains", s),
            Not(Comparison(s, "exists", True)),
            Comparison(s, "gt", 1),
        ):
            text = f.to_redis_query(node, sc)
            assert allowed.match(text), (s, text)
            assert "$" not in text and "=>" not in text


def test_nested_queries_are_balanced() -> None:
    spec = {
        "$or": [
            {"$and": [{"a": 1}, {"b": {"$ne": "x"}}]},
            {"$not": {"$or": [{"a": 2}, {"c": True}]}},
        ]
    }
    text = f.to_redis_query(parse_filter(spec), schema("a", "b", "c"))
    depth = 0
    for ch in text:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        assert depth >= 0
    # Negation normal form: NOT only directly before a field test, never around a group.
    assert depth == 0 and "-(" not in text and text.count("-@") == 3


# ============================================================================ translation meaning
class _Eval:
    """Evaluates the query subset the translator emits against one record's hash fields."""

    def __init__(self, text: str, fields: dict[str, str]) -> None:
        self.s, self.i, self.fields = text, 0, fields

    def run(self) -> bool:
        value = self._or()
        assert self.i == len(self.s), f"trailing input at {self.i}: {self.s!r}"
        return value

    def _peek(self) -> str:
        return self.s[self.i] if self.i < len(self.s) else ""

    def _eat(self, token: str) -> None:
        assert self.s.startswith(token, self.i), (token, self.s[self.i :])
        self.i += len(token)

    def _or(self) -> bool:
        value = self._and()
        while self.s.startswith(" | ", self.i):
            self.i += 3
            value = self._and() | value
        return value

    def _and(self) -> bool:
        value = self._unary()
        while self._peek() == " " and not self.s.startswith(" | ", self.i):
            self.i += 1
            value = self._unary() & value
        return value

    def _unary(self) -> bool:
        c = self._peek()
        if c == "-":
            self.i += 1
            return not self._unary()
        if c == "(":
            self.i += 1
            value = self._or()
            self._eat(")")
            return value
        if c == "*":
            self.i += 1
            return True
        m = re.compile(r"@(\w+):").match(self.s, self.i)
        assert m, self.s[self.i :]
        self.i = m.end()
        field = m.group(1)
        if self._peek() == "{":
            end = self.s.index("}", self.i)
            wanted = {t.strip() for t in self.s[self.i + 1 : end].split("|")}
            self.i = end + 1
            have = set(self.fields.get(field, "").split(",")) - {""}
            return bool(wanted & have)
        end = self.s.index("]", self.i)
        low, high = self.s[self.i + 1 : end].split(" ")
        self.i = end + 1
        if field not in self.fields:
            return False
        x = float(self.fields[field])
        lo_ok = x > float(low[1:]) if low.startswith("(") else x >= float(low)
        hi_ok = x < float(high[1:]) if high.startswith("(") else x <= float(high)
        return lo_ok and hi_ok


def _matches(text: str, metadata: dict[str, Any]) -> bool:
    if text == f.MATCH_NOTHING:
        return False
    return _Eval(text, f.metadata_fields(metadata)).run()


def _check(node: Any, recs: list[Record]) -> None:
    keys = {k for r in recs for k in r.metadata}
    text = f.to_redis_query(node, schema(*keys))
    for r in recs:
        assert _matches(text, r.metadata) == evaluate(node, r.metadata), (node, r.metadata, text)


@pytest.mark.parametrize("case", [cid for cid, _ in FILTER_CASES])
def test_translation_agrees_with_the_reference(case: str) -> None:
    _check(parse_filter(dict(FILTER_CASES)[case]), filter_records(8))


def _random_node(rng: random.Random, depth: int = 0) -> Any:
    if depth < 3 and rng.random() < 0.45:
        kind = rng.choice(["and", "or", "not"])
        if kind == "not":
            return Not(_random_node(rng, depth + 1))
        kids = tuple(_random_node(rng, depth + 1) for _ in range(rng.randint(2, 3)))
        return And(kids) if kind == "and" else Or(kids)
    field = rng.choice(["i", "n", "color", "flag", "tags", "ghost"])
    op = rng.choice(["eq", "gt", "gte", "lt", "lte", "in", "exists", "contains"])
    if op in ("gt", "gte", "lt", "lte"):
        return Comparison(field, op, rng.choice([0, 3, 4.5, 20.25, -1, 39]))
    if op == "in":
        return Comparison(
            field,
            op,
            tuple(rng.sample(rng.choice([[1, 3, 4.5], ["red", "it's"], [True, False]]), 2)),
        )
    if op == "exists":
        return Comparison(field, op, True)
    return Comparison(field, op, rng.choice([3, 4.5, "red", "Red", "it's", "7", True, False]))


def test_random_translations_agree_with_the_reference() -> None:
    rng = random.Random(7)
    recs = filter_records(8)
    for _ in range(500):
        node = _random_node(rng)
        assert fields_of(node)  # every tree names a field
        _check(node, recs)


class _Shape(_Eval):
    """Parses the emitted query into ("or" | "and" | "not" | "leaf", children), merging
    nested unions the way RediSearch does."""

    def __init__(self, text: str) -> None:
        super().__init__(text, {})

    def tree(self) -> Any:
        node = self._tor()
        assert self.i == len(self.s)
        return node

    def _tor(self) -> Any:
        kids = [self._tand()]
        while self.s.startswith(" | ", self.i):
            self.i += 3
            kids.append(self._tand())
        flat: list[Any] = []
        for k in kids:
            flat.extend(k[1] if k[0] == "or" else [k])
        return flat[0] if len(flat) == 1 else ("or", flat)

    def _tand(self) -> Any:
        kids = [self._tunary()]
        while self._peek() == " " and not self.s.startswith(" | ", self.i):
            self.i += 1
            kids.append(self._tunary())
        return kids[0] if len(kids) == 1 else ("and", kids)

    def _tunary(self) -> Any:
        c = self._peek()
        if c == "-":
            self.i += 1
            return ("not", [self._tunary()])
        if c == "(":
            self.i += 1
            node = self._tor()
            self._eat(")")
            return node
        start = self.i
        self._unary()  # a field test: skip it
        return ("leaf", self.s[start : self.i])


def _unions(node: Any) -> Any:
    kind, kids = node
    if kind == "leaf":
        return
    if kind == "or":
        yield kids
    for k in kids:
        yield from _unions(k)


def test_wide_unions_never_put_a_negation_in_a_heap_union() -> None:
    """RediSearch's heap union (more than 20 alternatives) mishandles negated ones."""
    rng = random.Random(11)
    recs = filter_records(8)
    for width in (15, 16, 17, 21, 40, 200):
        for _ in range(20):
            kids = []
            for _ in range(width):
                leaf = _random_node(rng, depth=3)
                roll = rng.random()
                kids.append(Not(leaf) if roll < 0.4 else And((leaf, _random_node(rng, 3)))
                            if roll < 0.6 else leaf)
            node = Or(tuple(kids))
            _check(node, recs)
            text = f.to_redis_query(node, schema("i", "n", "color", "flag", "tags"))
            if text in (f.MATCH_ALL, f.MATCH_NOTHING):
                continue
            for alternatives in _unions(_Shape(text).tree()):
                if len(alternatives) > f.MAX_UNION:
                    assert all(a[0] != "not" for a in alternatives), text


# ============================================================================ other queries
def test_keyword_query_uses_shared_words_escaped() -> None:
    assert q.keyword_query("Brown FOX brown") == "@kw:(brown fox)"
    assert q.keyword_query("snake_case e-mail") == "@kw:(snake case e mail)"
    assert q.keyword_query("!!! -- *") is None
    assert q.keyword_query("") is None
    for s in [*TRICKY_STRINGS, '"unbalanced', "NEAR(a b)", "-x", "x*", "@f:{y}"]:
        text = q.keyword_query(s)
        assert text is None or re.fullmatch(r"@kw:\(\w+( \w+)*\)", text), text


def test_knn_and_combined_queries() -> None:
    assert q.knn_query(f.MATCH_ALL) == "*=>[KNN $K @vec $BLOB AS __dist]"
    assert q.knn_query("@a:{b}", 64) == "(@a:{b})=>[KNN $K @vec $BLOB EF_RUNTIME $EF AS __dist]"
    assert (
        q.knn_query(f.MATCH_ALL, exact=True)
        == "(@sk:[-inf +inf])=>[KNN $K @vec $BLOB HYBRID_POLICY ADHOC_BF AS __dist]"
    )
    assert (
        q.knn_query("@a:{b}", 64, exact=True)
        == "(@a:{b})=>[KNN $K @vec $BLOB HYBRID_POLICY ADHOC_BF AS __dist]"
    )
    assert q.combine(f.MATCH_ALL, "@a:{b}") == "@a:{b}"
    assert q.combine("@kw:(x)", "@a:{b}") == "(@kw:(x)) (@a:{b})"
    assert q.combine(f.MATCH_ALL) == f.MATCH_ALL
    assert q.words_of("Hello, WORLD_wide 42!") == "hello world wide 42"


@pytest.mark.parametrize(
    "metric, redis_metric", [("cosine", "COSINE"), ("euclidean", "L2"), ("dot", "IP")]
)
@pytest.mark.parametrize("algorithm", ["hnsw", "flat"])
def test_create_index_args(metric: str, redis_metric: str, algorithm: str) -> None:
    args = q.create_index_args("P:idx:c", "P:r:c:", 384, metric, algorithm, 24, 100)
    assert args[:6] == ["P:idx:c", "ON", "HASH", "PREFIX", 1, "P:r:c:"]
    assert args[args.index("STOPWORDS") + 1] == 0  # no stop words
    assert args.index("STOPWORDS") < args.index("SCHEMA")
    vec = args.index(q.VECTOR_FIELD)
    assert args[vec + 1 : vec + 3] == ["VECTOR", algorithm.upper()]
    count = args[vec + 3]
    params = args[vec + 4 : vec + 4 + count]
    assert params[:6] == ["TYPE", "FLOAT32", "DIM", 384, "DISTANCE_METRIC", redis_metric]
    assert ("M" in params) == (algorithm == "hnsw")
    words = args.index(q.WORDS_FIELD)
    assert args[words + 1 : words + 3] == ["TEXT", "NOSTEM"]
    assert args[-3:] == [q.SORT_FIELD, "NUMERIC", "SORTABLE"]


def test_alter_args_add_both_fields() -> None:
    args = q.alter_args("P:idx:c", "any key")
    assert args[:3] == ["P:idx:c", "SCHEMA", "ADD"]
    assert args[3:8] == [f.tag_field("any key"), "TAG", "SEPARATOR", ",", "CASESENSITIVE"]
    assert args[8:] == [f.numeric_field("any key"), "NUMERIC"]


# ============================================================================ codec
def test_parse_search_resp2_shapes() -> None:
    reply = [2, b"k1", [b"id", b"a", b"__dist", b"0.5"], b"k2", [b"id", b"b"]]
    parsed = codec.parse_search(reply)
    assert parsed.total == 2 and [d.key for d in parsed.docs] == [b"k1", b"k2"]
    assert parsed.docs[0].fields == {"id": b"a", "__dist": b"0.5"}
    scored = codec.parse_search([1, b"k", b"1.25", [b"id", b"x"]], with_scores=True)
    assert scored.docs[0].score == 1.25 and scored.docs[0].fields == {"id": b"x"}
    keys = codec.parse_search([3, b"a", b"b"], no_content=True)
    assert keys.total == 3 and [d.key for d in keys.docs] == [b"a", b"b"]
    assert codec.parse_search([7]).total == 7


def test_parse_search_resp3_shape_and_timeouts() -> None:
    reply = {
        b"total_results": 1,
        b"attributes": [],
        b"format": b"STRING",
        b"warning": [],
        b"results": [
            {b"id": b"k", b"score": 0.5, b"extra_attributes": {b"id": b"x"}, b"values": []}
        ],
    }
    parsed = codec.parse_search(reply, with_scores=True)
    assert (
        parsed.total == 1 and parsed.docs[0].score == 0.5 and parsed.docs[0].fields == {"id": b"x"}
    )
    reply[b"warning"] = [b"Timeout limit was reached"]
    with pytest.raises(BackendError, match="timed out"):
        codec.parse_search(reply)
    with pytest.raises(BackendError):
        codec.parse_search(b"OK")


def test_canonical_distances() -> None:
    assert codec.canonical_distance("cosine", 0.25) == 0.25
    assert codec.canonical_distance("euclidean", 9.0) == 3.0  # Redis L2 is squared
    assert codec.canonical_distance("euclidean", -1e-7) == 0.0
    assert codec.canonical_distance("dot", 1 - 0.8) == pytest.approx(-0.8)  # IP reports 1 - a.b


def test_record_encoding_round_trips() -> None:
    rec = Record(
        "id:1 \U0001f600", 'tëxt "q" \n', [0.5, -1.25, 3.0], {"k": ["a", "b"], "n": None, "ü": 1.5}
    )
    fields = codec.encode_record(rec, codec.vector_bytes(rec.vector or []))
    assert fields[q.SORT_FIELD] == str(codec.sort_key(rec.id))
    assert fields[q.WORDS_FIELD] == "tëxt q".encode()
    out = codec.decode_record({k: v for k, v in fields.items() if isinstance(k, str)}, True)
    assert (out.id, out.text, out.vector, out.metadata) == (
        rec.id,
        rec.text,
        rec.vector,
        rec.metadata,
    )
    assert codec.decode_record({"id": b"x", "meta": b"{}"}, False).vector is None
    lone = "\ud800"  # a lone surrogate survives too
    assert codec.s(codec.b(lone)) == lone


def test_sort_keys_are_exact_doubles() -> None:
    keys = [codec.sort_key(f"id{i}") for i in range(2000)]
    assert all(0 <= k < 2**52 and float(k) == k for k in keys)
    assert len(set(keys)) == len(keys) and codec.sort_key("id1") == keys[1]


def test_keyspace_keeps_collections_and_sessions_apart() -> None:
    ks = codec.Keyspace("P")
    names = [*TRICKY_STRINGS, "a", "a:r", "a:r:c_x", "A", "c_a_1"]
    prefixes = [ks.record_prefix(n) for n in names]
    assert len(set(prefixes)) == len(names)
    for p1 in prefixes:
        assert re.fullmatch(r"P:r:c_[a-z0-9_]+:", p1)
        assert not any(p2 != p1 and p2.startswith(p1) for p2 in prefixes)
    assert ks.record("a", "b:c") != ks.record("a:b", "c")
    assert ks.record("a", "x") == ks.record("a", "x") and ks.record("a", "x") != ks.record("a", "y")
    assert ks.chat("a:1", "b") != ks.chat("a", "1:b")
    assert ks.chat("n", "s").startswith(ks.chat_prefix("n"))
    assert ks.index("x") != ks.index("X") and ks.fields("x") != ks.index("x")
    assert ks.kv("c") != ks.sessions("c")


@pytest.mark.parametrize(
    "url, masked",
    [
        ("redis://:pw@host:6379/0", "redis://:***@host:6379/0"),
        ("rediss://user:p%40ss@host/1", "rediss://user:***@host/1"),
        ("redis://host:6379", "redis://host:6379"),
        ("redis://:pw@[::1]:6380/0", "redis://:***@[::1]:6380/0"),
    ],
)
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked
    assert "pw" not in mask_url(url).replace("***", "")


def test_ttl_milliseconds_round_up() -> None:
    from bruno_memory_integrations.backends.redis.query import ms

    assert ms(0.0001) == 1 and ms(1.5) == 1500 and ms(2) == 2000
    assert math.isclose(ms(0.3), 300)


def test_documents_gone_while_a_search_ran_are_left_out() -> None:
    """A record that expires (or is deleted) between FT.SEARCH matching it and loading
    its fields comes back with no fields: it is not there any more."""
    resp2 = [2, b"bruno:r:c:1", [b"id", b"a", b"text", b"t"], b"bruno:r:c:2", []]
    assert [d.fields["id"] for d in codec.parse_search(resp2).docs] == [b"a"]
    resp3 = {
        "total_results": 2,
        "results": [
            {"id": "bruno:r:c:1", "extra_attributes": {"id": "a"}},
            {"id": "bruno:r:c:2", "extra_attributes": {}},
        ],
    }
    assert [d.fields["id"] for d in codec.parse_search(resp3).docs] == ["a"]
    assert codec.parse_search([1, b"bruno:r:c:2"], no_content=True).docs[0].key == b"bruno:r:c:2"


def test_backend_page_names_every_refused_filter() -> None:
    """docs/backends/redis.md must state each refusal the translator makes."""
    page = (Path(__file__).parent.parent / "docs" / "backends" / "redis.md").read_text()
    table_row = next(line for line in page.splitlines() if line.startswith("| refused filters"))
    assert "none" not in table_row
    for words in ("2⁵³", "$substring", "$isubstring"):
        assert words in table_row, words
    schema_n = schema("n")
    with pytest.raises(FilterError, match="2\\*\\*53"):
        f.to_redis_query(Comparison("n", "eq", 2**53), schema_n)
    with pytest.raises(FilterError, match="substring"):
        f.to_redis_query(Comparison("n", "substring", "x"), schema_n)
