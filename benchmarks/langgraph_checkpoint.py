"""BrunoCheckpointSaver against the official LangGraph savers, on the same servers.

Run on demand (needs the ``bench`` extra: the official savers)::

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python benchmarks/langgraph_checkpoint.py [--ops 300] [--history 10000]

For SQLite, PostgreSQL and Redis: ``put`` and ``get_tuple`` (latest, with its
pending writes) p50 over ``--ops`` calls on a thread that already holds a
history, and ``list`` of a whole thread of ``--history`` checkpoints (median of
``--repeat``). Each row's ratio is ours / official, measured in the same run
(below 1 is faster). A second table measures the two layouts the checkpointer
could use in the core (docs/langgraph.md): key-value items with ordered keys,
and vector records (a one-number placeholder vector, thread and ids in
filterable metadata) standing in for a dedicated data kind.

PostgreSQL and Redis come from BRUNO_TEST_POSTGRES_URL / BRUNO_TEST_REDIS_URL, or are
started here the way the test suite starts them (tests/servers.py).
"""

from __future__ import annotations

import argparse
import contextlib
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from ingest import server_urls  # noqa: E402
from langchain_core.messages import AIMessage, HumanMessage  # noqa: E402
from langgraph.checkpoint.base import (  # noqa: E402
    BaseCheckpointSaver,
    Checkpoint,
    create_checkpoint,
    empty_checkpoint,
)

from bruno_memory_integrations import Record, open_store  # noqa: E402
from bruno_memory_integrations.langgraph import BrunoCheckpointSaver  # noqa: E402


def make_checkpoint(step: int) -> Checkpoint:
    """A checkpoint like an agent's: a short conversation plus a few small channels."""
    ck = create_checkpoint(empty_checkpoint(), None, step)
    ck["channel_values"] = {
        "messages": [
            HumanMessage(f"question {step}", id=f"h{step}"),
            AIMessage(f"answer {step} " + "lorem ipsum " * 20, id=f"a{step}"),
        ],
        "step": step,
        "branch:to:agent": None,
    }
    ck["channel_versions"] = dict.fromkeys(ck["channel_values"], f"{step + 1:032}.0")
    return ck


def new_versions(ck: Checkpoint) -> dict[str, Any]:
    """What LangGraph passes to ``put``: the channels this step wrote (here, all of
    them). The official savers store a channel's value only when it is listed here."""
    return dict(ck["channel_versions"])


def fill(saver: BaseCheckpointSaver, thread: str, n: int) -> list[str]:
    parent: str | None = None
    ids = []
    for step in range(n):
        ck = make_checkpoint(step)
        conf: dict[str, Any] = {"thread_id": thread, "checkpoint_ns": ""}
        if parent:
            conf["checkpoint_id"] = parent
        cfg = saver.put(
            {"configurable": conf}, ck, {"source": "loop", "step": step}, new_versions(ck)
        )
        saver.put_writes(cfg, [("messages", HumanMessage(f"w{step}"))], task_id=f"task{step}")
        parent = ck["id"]
        ids.append(parent)
    return ids


def p50(fn: Callable[[], Any], n: int) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def measure(saver: BaseCheckpointSaver, ops: int, history: int, repeat: int) -> dict[str, float]:
    thread = f"bench-{uuid.uuid4().hex[:8]}"
    ids = fill(saver, thread, 50)
    state = {"parent": ids[-1], "step": 50}

    def one_put() -> None:
        ck = make_checkpoint(state["step"])
        saver.put(
            {"configurable": {"thread_id": thread, "checkpoint_ns": "",
                              "checkpoint_id": state["parent"]}},
            ck, {"source": "loop", "step": state["step"]}, new_versions(ck),
        )
        state["parent"], state["step"] = ck["id"], state["step"] + 1

    put_ms = p50(one_put, ops)
    latest = {"configurable": {"thread_id": thread, "checkpoint_ns": ""}}
    get_ms = p50(lambda: saver.get_tuple(latest), ops)
    big = f"bench-list-{uuid.uuid4().hex[:8]}"
    fill(saver, big, history)
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        # As get_state_history asks: the thread and its root namespace.
        history_config = {"configurable": {"thread_id": big, "checkpoint_ns": ""}}
        count = sum(1 for _ in saver.list(history_config))
        runs.append(time.perf_counter() - t0)
        assert count == history, (count, history)
    return {"put": put_ms, "get": get_ms, "list": statistics.median(runs) * 1000}


@contextlib.contextmanager
def official(kind: str, url: str) -> Iterator[BaseCheckpointSaver]:
    if kind == "sqlite":
        from langgraph.checkpoint.sqlite import SqliteSaver

        conn = sqlite3.connect(url.removeprefix("sqlite:///"), check_same_thread=False)
        saver = SqliteSaver(conn)
        saver.setup()
        yield saver
        conn.close()
    elif kind == "postgres":
        from langgraph.checkpoint.postgres import PostgresSaver

        with PostgresSaver.from_conn_string(url) as saver:
            saver.setup()
            yield saver
    elif kind == "redis":
        from langgraph.checkpoint.redis import RedisSaver

        with RedisSaver.from_conn_string(url) as saver:
            saver.setup()
            yield saver
    else:
        raise ValueError(kind)


def layouts(url: str, n: int, ops: int) -> dict[str, dict[str, float]]:
    """Store-level cost of one thread's history as key-value items vs as records."""
    out: dict[str, dict[str, float]] = {}
    with open_store(url) as store:
        blob = bytes(range(256)) * 8
        kv, coll, thread = f"lay.kv.{uuid.uuid4().hex[:8]}", f"lay_rec_{uuid.uuid4().hex[:8]}", "t"
        keys = [f'"".{i:08d}' for i in range(n)]
        counter = iter(range(10**9))
        out["kv items"] = {
            "put": p50(lambda: store.kv_mset(kv, [(f"x{next(counter)}", blob)]), ops),
        }
        store.kv_mset(kv, [(k, blob) for k in keys])
        out["kv items"]["get"] = p50(lambda: store.kv_mget(kv, [keys[-1]]), ops)
        t0 = time.perf_counter()
        listed = store.kv_keys(kv, prefix='"".')
        store.kv_mget(kv, listed)
        out["kv items"]["list"] = (time.perf_counter() - t0) * 1000
        text = blob.hex()  # a record holds text, not bytes
        out["records"] = {
            "put": p50(
                lambda: store.upsert(coll, [Record(f"x{next(counter)}", text, [1.0],
                                                   {"thread": "other", "step": 0})]),
                ops,
            ),
        }
        store.upsert(coll, [Record(k, text, [1.0], {"thread": thread, "step": i})
                            for i, k in enumerate(keys)])
        out["records"]["get"] = p50(lambda: store.get(coll, [keys[-1]], include_vectors=False), ops)
        t0 = time.perf_counter()
        got = list(store.iter_records(coll, filter={"thread": thread}, include_vectors=False,
                                      batch_size=1000))
        out["records"]["list"] = (time.perf_counter() - t0) * 1000
        assert len(got) == n
        store.kv_mdelete(kv, store.kv_keys(kv))
        store.drop_collection(coll)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ops", type=int, default=300, help="calls per p50")
    ap.add_argument("--history", type=int, default=10_000, help="checkpoints listed")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--backends", default="sqlite,postgres,redis")
    args = ap.parse_args()
    kinds = args.backends.split(",")
    rows: dict[str, dict[str, dict[str, float]]] = {}
    lay: dict[str, dict[str, dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp, server_urls(kinds) as urls:
        targets = {"sqlite": f"sqlite:///{tmp}/bench.db", **urls}
        for kind in kinds:
            url = targets[kind]
            print(f"measuring {kind} ...", file=sys.stderr)
            with official(kind, url) as saver:
                theirs = measure(saver, args.ops, args.history, args.repeat)
            ours_saver = BrunoCheckpointSaver(
                url if kind != "sqlite" else f"sqlite:///{tmp}/bruno.db",
                prefix=f"bench{uuid.uuid4().hex[:6]}",
            )
            ours = measure(ours_saver, args.ops, args.history, args.repeat)
            ours_saver.close()
            rows[kind] = {"official": theirs, "bruno": ours}
            lay[kind] = layouts(url if kind != "sqlite" else f"sqlite:///{tmp}/lay.db",
                                args.history, args.ops)
    print(
        f"\nput / get_tuple: p50 of {args.ops} calls (ms); list: one thread of "
        f"{args.history} checkpoints, median of {args.repeat} (ms); ratio = ours / official\n"
    )
    print(f"{'store':<9} {'saver':<9} {'put':>8} {'get_tuple':>10} {'list':>10}")
    for kind, pair in rows.items():
        for who in ("official", "bruno"):
            r = pair[who]
            print(f"{kind:<9} {who:<9} {r['put']:>8.3f} {r['get']:>10.3f} {r['list']:>10.1f}")
        o, b = pair["official"], pair["bruno"]
        print(
            f"{kind:<9} {'ratio':<9} {b['put'] / o['put']:>8.2f} "
            f"{b['get'] / o['get']:>10.2f} {b['list'] / o['list']:>10.2f}"
        )
    print(f"\nlayouts in the core: {args.history} items of 2 KiB (ms; put/get p50, list once)\n")
    print(f"{'store':<9} {'layout':<9} {'put':>8} {'get':>10} {'list':>10}")
    for kind, pair in lay.items():
        for who, r in pair.items():
            print(f"{kind:<9} {who:<9} {r['put']:>8.3f} {r['get']:>10.3f} {r['list']:>10.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
