"""BrunoCheckpointSaver on every backend: LangGraph's conformance suite (async API,
with the sync Store API forbidden) and the sync API, isolation, round trips and
bad input."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from decimal import Decimal

import pytest

pytest.importorskip("langgraph.checkpoint.conformance", reason="needs the test extra")

from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langgraph.checkpoint.base import Checkpoint, create_checkpoint, empty_checkpoint
from langgraph.checkpoint.conformance import checkpointer_test, validate
from langgraph.checkpoint.serde.types import ERROR, INTERRUPT
from stores import forbid_sync

from bruno_memory_integrations import InvalidInputError, InvalidNameError, Store
from bruno_memory_integrations.langgraph import BrunoCheckpointSaver


def _saver(store: Store) -> BrunoCheckpointSaver:
    return BrunoCheckpointSaver(store, prefix=f"t{uuid.uuid4().hex[:12]}")


async def test_conformance_suite(
    make_store: Callable[[], Store], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every capability of langgraph-checkpoint-conformance passes, through async
    methods that never call a sync Store method."""
    store = make_store()
    forbid_sync(store, monkeypatch)

    @checkpointer_test(name=f"BrunoCheckpointSaver[{store.backend_name}]")
    async def factory():  # type: ignore[no-untyped-def]
        yield _saver(store)

    report = await validate(factory)
    failures = {
        cap: [str(f)[:300] for f in (r.failures or [])]
        for cap, r in report.results.items()
        if r.passed is not True
    }
    assert not failures, failures
    counts = {cap: r.tests_passed for cap, r in report.results.items()}
    assert len(counts) == 8 and all(n > 0 for n in counts.values()), counts
    print(f"conformance {store.backend_name}: {sum(counts.values())} passed {counts}")


def _checkpoint(step: int, values: dict[str, object] | None = None) -> Checkpoint:
    base = empty_checkpoint()
    ck = create_checkpoint(base, None, step)
    ck["channel_values"] = dict(values or {"step": step})
    ck["channel_versions"] = dict.fromkeys(ck["channel_values"], f"{step:032}.0")
    return ck


def _config(thread: str, ns: str = "", cid: str | None = None) -> dict:
    conf: dict[str, object] = {"thread_id": thread, "checkpoint_ns": ns}
    if cid is not None:
        conf["checkpoint_id"] = cid
    return {"configurable": conf}


def _chain(saver: BrunoCheckpointSaver, thread: str, n: int, ns: str = "") -> list[str]:
    ids, parent = [], None
    for step in range(n):
        ck = _checkpoint(step)
        saver.put(
            _config(thread, ns, parent),
            ck,
            {"source": "input" if step == 0 else "loop", "step": step, "run_id": f"run-{step % 2}"},
            {},
        )
        ids.append(ck["id"])
        parent = ck["id"]
    return ids


def test_sync_put_get_list(store: Store) -> None:
    saver = _saver(store)
    ids = _chain(saver, "t1", 5)
    latest = saver.get_tuple(_config("t1"))
    assert latest is not None and latest.checkpoint["id"] == ids[-1]
    assert latest.parent_config["configurable"]["checkpoint_id"] == ids[-2]  # type: ignore[index]
    assert latest.checkpoint["channel_values"] == {"step": 4}
    middle = saver.get_tuple(_config("t1", cid=ids[2]))
    assert middle is not None and middle.metadata["step"] == 2
    assert [t.checkpoint["id"] for t in saver.list(_config("t1"))] == ids[::-1]
    assert [t.metadata["step"] for t in saver.list(_config("t1"), filter={"source": "loop"})] == [
        4, 3, 2, 1,
    ]
    older = saver.list(_config("t1"), before=_config("t1", cid=ids[3]))
    before = [t.checkpoint["id"] for t in older]
    assert before == [ids[2], ids[1], ids[0]]
    assert [t.checkpoint["id"] for t in saver.list(_config("t1"), limit=2)] == [ids[4], ids[3]]
    assert list(saver.list(_config("t1"), limit=0)) == []
    assert saver.get_tuple(_config("t1", cid="no-such-id")) is None
    assert saver.get_tuple(_config("missing")) is None


def test_listing_pages_keep_each_checkpoint_with_all_its_writes(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A one-namespace listing reads descending pages; a checkpoint whose writes span
    pages still comes back whole, and paging never skips or repeats a checkpoint."""
    import bruno_memory_integrations.langgraph.checkpoint as cp

    monkeypatch.setattr(cp, "_LIST_CHUNK", 7)
    saver = _saver(store)
    ids = _chain(saver, "p", 6)
    for i, cid in enumerate(ids):
        n = 20 if i == 3 else i % 3  # checkpoint 3 has more writes than a page holds
        saver.put_writes(_config("p", cid=cid), [(f"ch{j}", j) for j in range(n)], task_id="t")
    listed = list(saver.list(_config("p")))
    assert [t.checkpoint["id"] for t in listed] == ids[::-1]
    for t in listed:
        i = ids.index(t.checkpoint["id"])
        n = 20 if i == 3 else i % 3
        assert sorted(w[2] for w in t.pending_writes) == list(range(n)), i
        assert t == saver.get_tuple(_config("p", cid=t.checkpoint["id"]))
    for limit in (1, 2, 5):
        got = [t.checkpoint["id"] for t in saver.list(_config("p"), limit=limit)]
        assert got == ids[::-1][:limit]
    got = list(saver.list(_config("p"), before=_config("p", cid=ids[4]), limit=2))
    assert [t.checkpoint["id"] for t in got] == [ids[3], ids[2]]
    assert len(got[0].pending_writes) == 20
    filtered = saver.list(_config("p"), filter={"step": 3})
    assert [len(t.pending_writes) for t in filtered] == [20]
    # The general plan (every namespace) gives the same tuples in the same order.
    assert list(saver.list({"configurable": {"thread_id": "p"}})) == listed


def test_newest_is_the_same_for_get_and_list_whatever_the_ids(store: Store) -> None:
    """Ids that sort differently encoded ('a', 'a b', 'a!', quotes, newlines): the
    newest by get_tuple is the first of list, and ``before`` cuts at the same place."""
    saver = _saver(store)
    odd = ["a", "a b", "a!", 'a"', "a\nb", "ab", "a\\"]
    for cid in odd:
        ck = _checkpoint(0)
        ck["id"] = cid
        saver.put(_config("o"), ck, {"step": 0}, {})
    listed = [t.checkpoint["id"] for t in saver.list(_config("o"))]
    assert sorted(listed) == sorted(odd) and len(listed) == len(odd)
    newest = saver.get_tuple(_config("o"))
    assert newest is not None and newest.checkpoint["id"] == listed[0]
    general = [t.checkpoint["id"] for t in saver.list({"configurable": {"thread_id": "o"}})]
    assert general == listed
    for i, cid in enumerate(listed):
        older = saver.list(_config("o"), before=_config("o", cid=cid))
        assert [t.checkpoint["id"] for t in older] == listed[i + 1 :]
    # Deleting the newest moves ``latest`` to the next one in the same order.
    saver.prune(["o"], strategy="keep_latest")
    assert [t.checkpoint["id"] for t in saver.list(_config("o"))] == [listed[0]]


def test_newest_without_a_pointer_and_despite_a_stale_one(store: Store) -> None:
    """Stores without ordered items keep a pointer to the newest checkpoint; items copied
    without it (a migration from an ordered store) still give the newest. Ordered stores
    ignore a pointer an earlier version left."""
    saver = _saver(store)
    ids = _chain(saver, "np", 4)
    coll = saver._coll("np")
    pointer = 'latest\x1f""'
    if store.capabilities.kv_ranges:
        assert store.kv_mget(coll, [pointer]) == [None]
        stale = store.kv_mget(coll, [f'""\x1f"{ids[0]}"'])[0]
        assert stale is not None
        import ormsgpack

        store.kv_mset(coll, {pointer: ormsgpack.packb([ids[0], stale])})
    else:
        assert store.kv_mget(coll, [pointer]) != [None]
        store.kv_mdelete(coll, [pointer])
    for fresh in (saver, BrunoCheckpointSaver(store, prefix=saver.prefix)):
        got = fresh.get_tuple(_config("np"))
        assert got is not None and got.checkpoint["id"] == ids[-1]
        assert [t.checkpoint["id"] for t in fresh.list(_config("np"), limit=1)] == [ids[-1]]


def test_sync_writes_in_sort_order(store: Store) -> None:
    saver = _saver(store)
    (cid,) = _chain(saver, "w", 1)
    cfg = _config("w", cid=cid)
    saver.put_writes(cfg, [("b", 2), ("a", 1)], task_id="task-2", task_path="~1")
    saver.put_writes(cfg, [("c", 3)], task_id="task-1", task_path="~0")
    saver.put_writes(cfg, [(ERROR, "boom"), (INTERRUPT, {"why": "ask"})], task_id="task-3")
    saver.put_writes(cfg, [("b", 2), ("a", 1)], task_id="task-2", task_path="~1")  # repeated
    got = saver.get_tuple(cfg)
    assert got is not None
    # (task_path, task_id, idx) order, as LangGraph replays them
    assert got.pending_writes == [
        ("task-3", INTERRUPT, {"why": "ask"}),
        ("task-3", ERROR, "boom"),
        ("task-1", "c", 3),
        ("task-2", "b", 2),
        ("task-2", "a", 1),
    ]
    with pytest.raises(InvalidInputError, match="checkpoint_id"):
        saver.put_writes(_config("w"), [("x", 1)], task_id="t")


def test_newest_carries_its_own_writes_and_no_stray_ones(store: Store) -> None:
    """The newest checkpoint comes with exactly its pending writes: none when it has
    none (though older ones do), all of them when it has many, and never the writes
    of a checkpoint that was not stored (put_writes without put)."""
    saver = _saver(store)
    old, new = _chain(saver, "nw", 2)
    saver.put_writes(_config("nw", cid=old), [("a", 1)], task_id="t-old")
    got = saver.get_tuple(_config("nw"))
    assert got is not None and got.checkpoint["id"] == new and got.pending_writes == []
    many = [(f"c{i}", i) for i in range(70)]
    saver.put_writes(_config("nw", cid=new), many, task_id="t-new")
    stray = str(uuid.UUID(int=2**128 - 1))  # sorts after every id LangGraph makes
    saver.put_writes(_config("nw", cid=stray), [("z", 0)], task_id="t-stray")
    got = saver.get_tuple(_config("nw"))
    assert got is not None and got.checkpoint["id"] == new
    assert sorted(w[1:] for w in got.pending_writes) == sorted(many)
    assert {w[0] for w in got.pending_writes} == {"t-new"}


def test_state_round_trips_like_the_official_savers(store: Store) -> None:
    """Values only LangGraph's serializer can carry come back equal and typed."""
    saver = _saver(store)
    values = {
        "messages": [
            HumanMessage("hi", id="1"),
            AIMessage("", id="2", tool_calls=[{"name": "f", "args": {"x": 1}, "id": "c1"}]),
            ToolMessage("done", tool_call_id="c1", id="3"),
        ],
        "when": datetime(2024, 5, 1, 12, 30, tzinfo=timezone.utc),
        "tags": {"a", "b"},
        "raw": b"\x00\xff bytes",
        "price": Decimal("1.10"),
        "nested": {"list": [1, 2.5, None, True], "uuid": uuid.UUID(int=7)},
        "text": "quotes \" ' \\ and \x1f separators \u2603",
    }
    ck = _checkpoint(1, values)
    saver.put(_config("rt"), ck, {"source": "loop", "step": 1}, {})
    saver.put_writes(_config("rt", cid=ck["id"]), [("messages", values["messages"][0])], "t")
    got = saver.get_tuple(_config("rt"))
    assert got is not None
    assert got.checkpoint["channel_values"] == values
    assert isinstance(got.checkpoint["channel_values"]["messages"][1], AIMessage)
    assert got.pending_writes == [("t", "messages", values["messages"][0])]


def test_threads_and_namespaces_are_isolated_exactly(store: Store) -> None:
    saver = _saver(store)
    similar = ["1", "1 ", "1.x", '"1"', "1\x1f", "x" * 400, "x" * 401, "ünïcode 🦜"]
    for thread in similar:
        _chain(saver, thread, 2)
    _chain(saver, "1", 1, ns="child:abc")
    _chain(saver, "1", 1, ns='child:"abc"\x1f')
    for thread in similar:
        rows = list(saver.list({"configurable": {"thread_id": thread}}, filter={}))
        want = 4 if thread == "1" else 2
        assert len(rows) == want, thread
        assert {r.config["configurable"]["thread_id"] for r in rows} == {thread}
    assert len(list(saver.list({"configurable": {"thread_id": "1", "checkpoint_ns": ""}}))) == 2
    assert len(list(saver.list(_config("1", ns="child:abc")))) == 1
    assert len(list(saver.list(None))) == 2 * len(similar) + 2
    saver.delete_thread("1")
    assert list(saver.list({"configurable": {"thread_id": "1"}})) == []
    assert len(list(saver.list(_config("1 ")))) == 2
    assert len(list(saver.list(None))) == 2 * (len(similar) - 1)


def test_sync_copy_prune_delete_for_runs(store: Store) -> None:
    saver = _saver(store)
    ids = _chain(saver, "src", 4)
    saver.put_writes(_config("src", cid=ids[-1]), [("x", 1)], "task")
    saver.copy_thread("src", "dst")
    copied = list(saver.list(_config("dst")))
    assert [t.checkpoint["id"] for t in copied] == ids[::-1]
    assert copied[0].pending_writes == [("task", "x", 1)]
    assert len(list(saver.list(_config("src")))) == 4  # the source is unchanged

    saver.delete_for_runs(["run-1"])  # steps 1 and 3, in both threads
    for thread in ("src", "dst"):
        left = [t.metadata["step"] for t in saver.list(_config(thread))]
        assert left == [2, 0]
        latest = saver.get_tuple(_config(thread))
        assert latest is not None and latest.checkpoint["id"] == ids[2]

    saver.prune(["src"], strategy="keep_latest")
    assert [t.checkpoint["id"] for t in saver.list(_config("src"))] == [ids[2]]
    saver.prune(["dst"], strategy="delete")
    assert list(saver.list(_config("dst"))) == []
    with pytest.raises(ValueError, match="unknown prune strategy"):
        saver.prune(["src"], strategy="oldest")
    with pytest.raises(TypeError):
        saver.prune("src")
    assert [t.checkpoint["id"] for t in saver.list(_config("src"))] == [ids[2]]


def test_keep_latest_refuses_delta_channel_threads(store: Store) -> None:
    saver = _saver(store)
    _chain(saver, "plain", 2)
    ck = _checkpoint(0)
    saver.put(_config("delta"), ck, {"step": 0, "counters_since_delta_snapshot": {"m": 1}}, {})
    saver.put(_config("delta", cid=ck["id"]), _checkpoint(1), {"step": 1}, {})
    with pytest.raises(NotImplementedError, match="DeltaChannel"):
        saver.prune(["plain", "delta"])
    assert len(list(saver.list(_config("plain")))) == 2  # nothing was pruned
    assert len(list(saver.list(_config("delta")))) == 2


def test_bad_input_is_refused_and_changes_nothing(store: Store) -> None:
    saver = _saver(store)
    _chain(saver, "ok", 1)
    with pytest.raises(InvalidInputError, match="thread_id"):
        saver.put({"configurable": {}}, _checkpoint(0), {}, {})
    with pytest.raises(InvalidNameError):
        saver.put(_config("bad\x00thread"), _checkpoint(0), {}, {})
    with pytest.raises(InvalidInputError, match="limit"):
        list(saver.list(_config("ok"), limit="3"))  # type: ignore[arg-type]
    assert [len(list(saver.list(None)))] == [1]


async def test_async_api_matches_sync(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    saver = _saver(store)
    ids = _chain(saver, "a", 3)
    forbid_sync(store, monkeypatch)
    got = await saver.aget_tuple(_config("a"))
    assert got is not None and got.checkpoint["id"] == ids[-1]
    listed = [t.checkpoint["id"] async for t in saver.alist(_config("a"), limit=2)]
    assert listed == [ids[2], ids[1]]
    ck = _checkpoint(9)
    await saver.aput(_config("a", cid=ids[-1]), ck, {"step": 9}, {})
    await saver.aput_writes(_config("a", cid=ck["id"]), [("k", "v")], "task")
    await saver.acopy_thread("a", "b")
    await saver.adelete_for_runs(["run-0"])
    await saver.aprune(["b"])
    await saver.adelete_thread("a")
    monkeypatch.undo()
    assert list(saver.list(_config("a"))) == []
    only = list(saver.list(_config("b")))
    assert [t.checkpoint["id"] for t in only] == [ck["id"]]
    assert only[0].pending_writes == [("task", "k", "v")]
