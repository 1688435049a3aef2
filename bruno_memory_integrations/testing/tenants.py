"""Tenant isolation: nothing done in tenant A can see, count or change tenant B's data.

Both tenants use the *same* collection, ids, metadata, key-value collection, keys,
chat namespace and session names, so any leak shows up as a wrong answer; then
every read, search, listing and delete runs in A and B's data is checked intact.
"""

from __future__ import annotations

import pytest

from .. import errors
from ..store import Store
from ..types import Record
from .conformance import DIM, _Base, _messages, _name, _require
from .data import unit

__all__ = ["TenantTests"]


def _tenant_records(tag: str) -> list[Record]:
    return [
        Record(
            f"id{i}",
            f"shared words {tag} {i}",
            unit([1.0, float(i) + 1.0] + [0.0] * (DIM - 2)),
            {"i": i, "tag": tag, "g": 1},
        )
        for i in range(3)
    ]


class TenantTests(_Base):
    def _pair(self, store: Store) -> tuple[Store, Store, str, str, str, str]:
        a, b = store.tenant(_name("tA")), store.tenant(_name("tB"))
        return a, b, _name("coll"), _name("kv"), _name("ns"), _name("s")

    @staticmethod
    def _fill(t: Store, tag: str, coll: str, kv: str, ns: str, sid: str) -> None:
        t.upsert(coll, _tenant_records(tag))
        if t.capabilities.kv:
            t.kv_mset(kv, {"k1": tag.encode(), "k2": tag.encode()})
        if t.capabilities.chat:
            t.append_messages(sid, _messages(2, tag), namespace=ns)

    @staticmethod
    def _intact(t: Store, tag: str, coll: str, kv: str, ns: str, sid: str) -> None:
        """Every piece of ``tag``'s data is there, unchanged."""
        assert t.count(coll) == 3
        assert {r.metadata["tag"] for r in t.iter_records(coll)} == {tag}
        if t.capabilities.kv:
            assert t.kv_mget(kv, ["k1", "k2"]) == [tag.encode(), tag.encode()]
        if t.capabilities.chat:
            assert t.get_messages(sid, namespace=ns) == _messages(2, tag)

    def test_tenant_sees_counts_and_changes_only_its_own_data(self, store: Store) -> None:
        a, b, coll, kv, ns, sid = self._pair(store)
        try:
            self._fill(a, "aaa", coll, kv, ns, sid)
            self._fill(b, "bbb", coll, kv, ns, sid)
            q = unit([1.0, 1.0] + [0.0] * (DIM - 2))
            # Reads in A: only A's records, whatever the ids, filters, cursors or words.
            assert {r.metadata["tag"] for r in a.get(coll, ["id0", "id1", "id2"])} == {"aaa"}
            assert {h.record.metadata["tag"] for h in a.search(coll, q, k=10)} == {"aaa"}
            assert a.search(coll, q, k=10, filter={"tag": "bbb"}) == []
            assert a.count(coll, filter={"tag": "bbb"}) == 0
            assert a.count(coll) == 3
            page = a.scan(coll, limit=2)
            rest = a.scan(coll, limit=10, cursor=page.cursor) if page.cursor else None
            seen = page.records + (rest.records if rest else [])
            assert sorted(r.id for r in seen) == ["id0", "id1", "id2"]
            assert {r.metadata["tag"] for r in seen} == {"aaa"}
            if a.capabilities.keyword_search:
                assert a.keyword_search(coll, "bbb", k=10) == []
                assert {h.record.metadata["tag"] for h in a.keyword_search(coll, "shared")} == {
                    "aaa"
                }
            if a.capabilities.hybrid_search:
                hits = a.hybrid_search(coll, "shared bbb", q, k=10)
                assert {h.record.metadata["tag"] for h in hits} == {"aaa"}
            if a.capabilities.kv:
                assert a.kv_keys(kv) == ["k1", "k2"]
                assert a.kv_keys(kv, prefix="k") == ["k1", "k2"]
                assert a.kv_mget(kv, ["k1"]) == [b"aaa"]
            if a.capabilities.chat:
                assert a.list_sessions(namespace=ns) == [sid]
                assert a.get_messages(sid, namespace=ns, last_n=1) == _messages(2, "aaa")[-1:]
            assert coll in a.list_collections()
            self._intact(b, "bbb", coll, kv, ns, sid)

            # Changes in A: B's data stays exactly as it was.
            assert a.delete(coll, filter={"tag": "bbb"}) == 0
            assert a.delete(coll, ["id0"]) == 1
            assert a.delete(coll, filter={"g": 1}) == 2
            assert a.count(coll) == 0
            if a.capabilities.kv:
                a.kv_mdelete(kv, ["k1", "k2"])
                assert a.kv_keys(kv) == []
            if a.capabilities.chat:
                a.clear_messages(sid, namespace=ns)
                assert a.list_sessions(namespace=ns) == []
            a.drop_collection(coll)
            assert coll not in a.list_collections()
            self._intact(b, "bbb", coll, kv, ns, sid)
            assert coll in b.list_collections()
        finally:
            for t in (a, b):
                t.drop_collection(coll)
                if t.capabilities.kv:
                    t.kv_mdelete(kv, ["k1", "k2"])
                if t.capabilities.chat:
                    t.clear_messages(sid, namespace=ns)

    async def test_tenant_isolation_async(self, store: Store) -> None:
        a, b, coll, _, _, _ = self._pair(store)
        try:
            await a.aupsert(coll, _tenant_records("aaa"))
            await b.aupsert(coll, _tenant_records("bbb"))
            assert await a.acount(coll) == 3
            assert await a.adelete(coll, filter={}) == 3
            assert await b.acount(coll) == 3
            assert {r.metadata["tag"] for r in await b.aget(coll, ["id0", "id1"])} == {"bbb"}
        finally:
            await a.adrop_collection(coll)
            await b.adrop_collection(coll)

    def test_root_store_and_tenants_do_not_share_names(self, store: Store) -> None:
        """A tenant cannot reach the root store's collection of the same name, nor the
        other way round; the tenant's collections are listed under its own names."""
        a, _, coll, _, _, _ = self._pair(store)
        try:
            store.upsert(coll, _tenant_records("root"))
            assert a.count(coll) == 0
            assert a.get(coll, ["id0"]) == []
            assert coll not in a.list_collections()
            a.upsert(coll, _tenant_records("aaa"))
            assert store.count(coll) == 3
            assert {r.metadata["tag"] for r in store.iter_records(coll)} == {"root"}
            assert all("\x1f" not in n for n in a.list_collections())
            assert a.collection_info(coll) is not None
            assert a.collection_info(coll).name == coll  # type: ignore[union-attr]
        finally:
            store.drop_collection(coll)
            a.drop_collection(coll)

    def test_tenant_names_are_checked(self, store: Store) -> None:
        for bad in ("", "a\x1fb", "a\x00b", 5, None):
            with pytest.raises(errors.InvalidNameError):
                store.tenant(bad)  # type: ignore[arg-type]
        t = store.tenant("t" * 1000)
        with pytest.raises(errors.InvalidNameError):
            t.upsert("c" * 100, _tenant_records("x"))

    def test_closing_a_tenant_view_keeps_the_store_open(self, store: Store) -> None:
        _require(store, "kv")
        t = store.tenant(_name("t"))
        kv = _name("kv")
        t.kv_mset(kv, {"k": b"v"})
        t.close()
        with pytest.raises(errors.StoreClosedError):
            t.kv_keys(kv)
        again = store.tenant(t.backend.tenant)  # type: ignore[attr-defined]
        assert again.kv_mget(kv, ["k"]) == [b"v"]
        again.kv_mdelete(kv, ["k"])
