"""An injection corpus run through every name, key, value and id position.

:data:`HOSTILE` holds strings written to break out of SQL (SQLite, PostgreSQL,
psycopg placeholders), JSON paths, Redis query, tag, glob and protocol syntax,
FTS5 and tsquery syntax, LIKE patterns and terminals, plus Unicode tricks. Every
one is valid input (no NUL, no lone surrogate, at most the 1 024-byte limit), so
the store must accept it in every position and give it back exactly, and a
victim collection, session and key-value collection written beforehand must come
through unchanged: nothing a user passes is ever read as syntax.
"""

from __future__ import annotations

import random
from typing import Any, ClassVar

import pytest

from .. import errors
from ..store import Store
from ..types import Record
from ..validation import MAX_KEY_BYTES
from .conformance import DIM, _Base, _name, _records
from .data import random_vector

__all__ = ["HOSTILE", "NAME_SAMPLE", "InjectionTests"]

_PAYLOADS = [
    # SQL, both dialects
    "'", "''", '"', "`", "';--", "'; DROP TABLE bruno_records;--", "\"; DROP TABLE x;--",
    "1' OR '1'='1", "1 OR 1=1", "' UNION SELECT name FROM sqlite_master--",
    "') OR ('a'='a", "%s", "%(x)s", "%%", "{}", "{0}", "$1", "$$", "$tag$ x $tag$",
    "E'\\\\'", "\\'", "\\", "\\\\", "/* c */", "--", "#", ";", "NULL", "null", "None",
    "?", "?|", "?&", "@>", "<@", "->>", "#>", "::text", "COLLATE \"C\"", "pg_sleep(5)",
    "'||(SELECT 1)||'", "0x27", "char(39)", "x'41'",
    # JSON paths and documents
    '$."a"', "$.a", "$[0]", "$**", "$.a[*]", '{"a": 1}', "[1, 2]", "true", "0", "-1",
    "1e309", "NaN", "Infinity", "\\u0000", "\\ud800",
    # Redis query, tags, globs, protocol, scripting
    "@f:{x}", "@f:[1 2]", "*", "-", "|", "~", "%x%", "(", ")", "{", "}", "[", "]",
    ":", ",", "=>[KNN 1 @vec $BLOB]", "$BLOB", "@__dist", "*=>", "a|b", "-@id:{x}",
    "\\{", "[a-z]", "*?*", "h?llo", "\r\nFLUSHALL\r\n", "*1\r\n$8\r\nFLUSHALL\r\n",
    "redis.call('FLUSHALL')", "bruno:", "bruno:c:", "{bruno}",
    # FTS5, tsquery, LIKE
    'NEAR("a" "b")', "a AND b", "a OR b", "NOT a", "col:x", "^a", "a*", "\"a b\"",
    "a & b", "a | b", "!a", "a <-> b", "a:*", "'a':B", "%", "_", "a%b", "a_b", "[%]",
    # terminals, paths, templates
    "\x1b[2J", "\x07", "\x7f", "\t", "\n", "\r", "\x0b\x0c", " ", "   ", "../../etc/passwd",
    "C:\\Windows", "${jndi:ldap://x/a}", "{{7*7}}", "<script>alert(1)</script>",
    # Unicode
    "\u202eevil", "\u200b", "\ufeff", "e\u0301", "\U0001f600", "\U0010ffff", "Ω≈ç√",
    "İı", "ﬁ", "\u2028", "\u0085", "ß",
    "\uff53\uff45\uff4c\uff45\uff43\uff54",  # "select" in fullwidth letters
]


def _corpus() -> list[str]:
    out = list(_PAYLOADS)
    out += [f"x{p}y" for p in _PAYLOADS[:60]]
    out += ["a" * MAX_KEY_BYTES, "é" * (MAX_KEY_BYTES // 2), "'" * 300 + "--"]
    return list(dict.fromkeys(out))


#: Every hostile string (about 200), each valid in every position.
HOSTILE: list[str] = _corpus()
#: The part used as collection names (each costs a collection: tables, an index).
NAME_SAMPLE: list[str] = HOSTILE[::4]

_VICTIM_MD = {"owner": "victim", "n": 1}


class InjectionTests(_Base):
    """The corpus in every position; the victim data must survive unchanged."""

    #: Every n-th hostile string in the session and namespace loops (1: all). A store
    #: whose every write is a slow round trip (a real Milvus server waits for a time tick
    #: between a write and the read that follows) may sample the corpus there; names
    #: that never reach a query (ids derived by hashing) lose nothing by it.
    session_corpus_stride: ClassVar[int] = 1

    @pytest.fixture
    def victim(self, store: Store) -> Any:
        coll, ns, kv = _name("victim"), _name("victim"), _name("victim")
        recs = _records(3)
        for r in recs:
            r.metadata = dict(_VICTIM_MD)
        store.upsert(coll, recs)
        if store.capabilities.chat:
            store.append_messages("s", [{"v": 1}], namespace=ns)
        if store.capabilities.kv:
            store.kv_mset(kv, {"k": b"v"})

        def check() -> None:
            assert coll in store.list_collections()
            assert store.count(coll) == 3
            got = store.get(coll, [r.id for r in recs])
            assert [(g.id, g.text, g.metadata) for g in got] == [
                (r.id, r.text, r.metadata) for r in recs
            ]
            if store.capabilities.chat:
                assert store.get_messages("s", namespace=ns) == [{"v": 1}]
            if store.capabilities.kv:
                assert store.kv_mget(kv, ["k"]) == [b"v"]
                assert store.kv_keys(kv) == ["k"]

        yield check
        store.drop_collection(coll)

    def test_hostile_ids_texts_and_metadata(self, store: Store, coll: str, victim: Any) -> None:
        rng = random.Random(41)
        recs = [
            Record(h, h, random_vector(rng, DIM), {"__h": h, h: h, "__i": i})
            for i, h in enumerate(HOSTILE)
        ]
        store.upsert(coll, recs)
        assert store.count(coll) == len(recs)
        got = {r.id: r for r in store.get(coll, HOSTILE)}
        for r in recs:
            assert (got[r.id].text, got[r.id].metadata) == (r.text, r.metadata), r.id
        for i, h in enumerate(HOSTILE):
            # value position, field position, both through every filter operator
            assert store.count(coll, filter={"__h": h}) == 1, h
            if h.startswith("$"):  # the language's one field rule: "$..." is an operator
                with pytest.raises(errors.FilterError):
                    store.count(coll, filter={h: h})
            else:
                assert store.count(coll, filter={h: h}) == 1, h
            assert store.count(coll, filter={"__h": {"$in": [h, "\u2603"]}}) == 1, h
            assert store.count(coll, filter={"__h": {"$ne": h}, "__i": {"$lt": i + 1}}) == i, h
            if i % 5 == 0 and not h.startswith("$"):
                assert [x.record.id for x in store.search(coll, recs[i].vector or [], k=1,
                                                          filter={h: {"$exists": True}})] == [h]
        if store.capabilities.keyword_search:
            for h in HOSTILE:
                store.keyword_search(coll, h, k=3)  # inert query text: must not raise
                store.keyword_search(coll, h, k=3, filter={"__h": h})
        hits = store.search(coll, recs[7].vector or [], k=3, ids=HOSTILE[5:10])
        assert {x.record.id for x in hits} <= set(HOSTILE[5:10])
        page = store.scan(coll, limit=7)
        seen = [r.id for r in page.records]
        while page.cursor is not None:
            page = store.scan(coll, limit=50, cursor=page.cursor)
            seen += [r.id for r in page.records]
        assert sorted(seen) == sorted(HOSTILE)
        for h in HOSTILE[::3]:  # as a scan cursor: a page, or a typed refusal
            try:
                page = store.scan(coll, limit=5, cursor=h)
            except errors.InvalidInputError:
                continue
            assert {r.id for r in page.records} <= set(HOSTILE), h
        assert store.delete(coll, HOSTILE[::2]) == len(HOSTILE[::2])
        assert store.delete(coll, filter={"__h": {"$in": HOSTILE[1::4]}}) == len(HOSTILE[1::4])
        assert sorted(r.id for r in store.iter_records(coll)) == sorted(HOSTILE[3::4])
        victim()

    def test_hostile_substring_operands(self, store: Store, coll: str, victim: Any) -> None:
        from .fuzz import SUBSTRING

        if SUBSTRING in self.refused_features(store):
            pytest.skip(f"backend {store.backend_name!r} refuses the feature {SUBSTRING!r}")
        rng = random.Random(43)
        recs = [
            Record(f"r{i}", "", random_vector(rng, DIM), {"h": h}) for i, h in enumerate(HOSTILE)
        ]
        store.upsert(coll, recs)
        for h in HOSTILE[:120]:
            want = sum(h in r.metadata["h"] for r in recs)
            assert store.count(coll, filter={"h": {"$substring": h}}) == want, h
        victim()

    def test_hostile_collection_names_and_models(self, store: Store, victim: Any) -> None:
        rng = random.Random(47)
        try:
            for i, name in enumerate(NAME_SAMPLE):
                store.ensure_collection(name, DIM, embedding_model=name)
                store.upsert(name, [Record(name, name, random_vector(rng, DIM), {"i": i})])
            listed = set(store.list_collections())
            for i, name in enumerate(NAME_SAMPLE):
                assert name in listed, name
                info = store.collection_info(name)
                assert info is not None and info.embedding_model == name
                (got,) = store.get(name, [name])
                assert (got.text, got.metadata) == (name, {"i": i})
                assert store.count(name, filter={"i": i}) == 1
            victim()
        finally:
            for name in NAME_SAMPLE:
                store.drop_collection(name)
        assert not set(NAME_SAMPLE) & set(store.list_collections())
        victim()

    def test_hostile_sessions_and_namespaces(self, store: Store, victim: Any) -> None:
        if not store.capabilities.chat:
            pytest.skip(f"backend {store.backend_name!r} lacks capability 'chat'")
        ns = _name("ns")
        corpus = HOSTILE[:: self.session_corpus_stride]
        for h in corpus:
            store.append_messages(h, [{"content": h}], namespace=ns)
        assert store.list_sessions(namespace=ns) == sorted(corpus)
        for h in corpus[::3]:
            assert store.get_messages(h, namespace=ns) == [{"content": h}]
            store.append_messages("same", [{"ns": h}], namespace=h)
            assert store.get_messages("same", namespace=h) == [{"ns": h}]
            store.clear_messages("same", namespace=h)
        for h in corpus:
            store.clear_messages(h, namespace=ns)
        assert store.list_sessions(namespace=ns) == []
        victim()

    def test_hostile_keys_prefixes_and_kv_collections(self, store: Store, victim: Any) -> None:
        if not store.capabilities.kv:
            pytest.skip(f"backend {store.backend_name!r} lacks capability 'kv'")
        c = _name("kv")
        store.kv_mset(c, {h: h.encode() for h in HOSTILE})
        assert store.kv_mget(c, HOSTILE) == [h.encode() for h in HOSTILE]
        keys = store.kv_keys(c)
        assert keys == sorted(HOSTILE)
        for h in HOSTILE:
            assert store.kv_keys(c, prefix=h) == [k for k in keys if k.startswith(h)], h
        for i, h in enumerate(HOSTILE[::3]):
            reverse = bool(i % 2)
            scanned = store.kv_scan(c, prefix=h[:4], after=h, limit=5, reverse=reverse)
            wanted = [
                k for k in sorted(keys, reverse=reverse)
                if k.startswith(h[:4]) and (k < h if reverse else k > h)
            ][:5]
            assert scanned == [(k, k.encode()) for k in wanted], h
        for h in HOSTILE[::5]:
            store.kv_mset(h, {"k": b"x"})
            assert store.kv_keys(h) == ["k"]
            store.kv_mdelete(h, ["k"])
        store.kv_mdelete(c, HOSTILE[::2])
        assert store.kv_keys(c) == sorted(set(HOSTILE) - set(HOSTILE[::2]))
        victim()
