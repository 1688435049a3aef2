"""BrunoCheckpointSaver against the official LangGraph savers, on the same servers.

Run on demand (needs the ``bench`` extra: the official savers)::

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python benchmarks/langgraph_checkpoint.py [--ops 300] [--history 10000]

For SQLite, PostgreSQL and Redis: ``put`` and ``get_tuple`` (latest, with its
pending writes) p50 over ``--ops`` calls on a thread that already holds a
history, and ``list`` of a whole thread of ``--history`` checkpoints (median of
``--repeat``). The two savers take turns, round by round, in every phase, and each
``put`` passes the channels it wrote as ``new_versions``, as LangGraph does. Each
row's ratio is ours / official, measured in the same run (below 1 is faster); the
CPU columns are this process's CPU time per call, which other load on the machine
moves far less than wall time. A second table measures the two layouts the
checkpointer could use in the core (docs/langgraph.md): key-value items with ordered keys,
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


def timed(fn: Callable[[], Any], n: int) -> list[float]:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def p50(fn: Callable[[], Any], n: int) -> float:
    return statistics.median(timed(fn, n)) * 1000


class Contender:
    """One saver's thread of 50 checkpoints (for put and get_tuple) and, once
    :meth:`fill_history` ran, a thread of ``history`` checkpoints (for list)."""

    def __init__(self, saver: BaseCheckpointSaver) -> None:
        self.saver = saver
        self.thread = f"bench-{uuid.uuid4().hex[:8]}"
        self.parent, self.step = fill(saver, self.thread, 50)[-1], 50
        self.big = ""

    def put(self) -> None:
        ck = make_checkpoint(self.step)
        conf = {"thread_id": self.thread, "checkpoint_ns": "", "checkpoint_id": self.parent}
        meta = {"source": "loop", "step": self.step}
        self.saver.put({"configurable": conf}, ck, meta, new_versions(ck))
        self.parent, self.step = ck["id"], self.step + 1

    def get(self) -> None:
        self.saver.get_tuple({"configurable": {"thread_id": self.thread, "checkpoint_ns": ""}})

    def fill_history(self, history: int) -> None:
        self.big = f"bench-list-{uuid.uuid4().hex[:8]}"
        fill(self.saver, self.big, history)

    def list(self, history: int) -> None:
        # As get_state_history asks: the thread and its root namespace.
        config = {"configurable": {"thread_id": self.big, "checkpoint_ns": ""}}
        count = sum(1 for _ in self.saver.list(config))
        assert count == history, (count, history)


def measure(
    savers: dict[str, BaseCheckpointSaver], ops: int, history: int, repeat: int
) -> dict[str, dict[str, float]]:
    """put and get_tuple p50, list median: the savers take turns in every round, so
    load from elsewhere on the machine falls on both alike."""
    who = {name: Contender(saver) for name, saver in savers.items()}
    times: dict[str, dict[str, list[float]]] = {n: {"put": [], "get": [], "list": []} for n in who}
    cpu: dict[str, dict[str, float]] = {n: {"put": 0.0, "get": 0.0} for n in who}
    chunk = max(1, ops // repeat)
    for what in ("put", "get"):
        for _ in range(repeat):
            for name, c in who.items():
                c0 = time.process_time()
                times[name][what] += timed(getattr(c, what), chunk)
                cpu[name][what] += time.process_time() - c0
    for c in who.values():
        c.fill_history(history)
    for _ in range(repeat):
        for name, c in who.items():
            times[name]["list"] += timed(lambda c=c: c.list(history), 1)
    return {
        name: {
            **{what: statistics.median(t) * 1000 for what, t in by.items()},
            # This process's CPU per call: the client's own cost, which the machine's
            # other load moves far less than wall time.
            **{f"{what} cpu": cpu[name][what] / (chunk * repeat) * 1000 for what in cpu[name]},
        }
        for name, by in times.items()
    }


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
            ours_saver = BrunoCheckpointSaver(
                url if kind != "sqlite" else f"sqlite:///{tmp}/bruno.db",
                prefix=f"bench{uuid.uuid4().hex[:6]}",
            )
            with official(kind, url) as saver:
                rows[kind] = measure(
                    {"official": saver, "bruno": ours_saver}, args.ops, args.history, args.repeat
                )
            ours_saver.close()
            lay[kind] = layouts(url if kind != "sqlite" else f"sqlite:///{tmp}/lay.db",
                                args.history, args.ops)
    print(
        f"\nput / get_tuple: p50 of {args.ops} calls (ms); list: one thread of "
        f"{args.history} checkpoints, median of {args.repeat} (ms); CPU: this process's "
        f"CPU time per call, mean (ms); ratio = ours / official\n"
    )
    cols = ("put", "get", "list", "put cpu", "get cpu")
    print(f"{'store':<9} {'saver':<9} {'put':>8} {'get_tuple':>10} {'list':>10} "
          f"{'put CPU':>8} {'get CPU':>8}")
    for kind, pair in rows.items():
        for who in ("official", "bruno"):
            r = pair[who]
            print(f"{kind:<9} {who:<9} {r['put']:>8.3f} {r['get']:>10.3f} {r['list']:>10.1f} "
                  f"{r['put cpu']:>8.3f} {r['get cpu']:>8.3f}")
        o, b = pair["official"], pair["bruno"]
        ratios = [b[c] / o[c] for c in cols]
        print(f"{kind:<9} {'ratio':<9} {ratios[0]:>8.2f} {ratios[1]:>10.2f} {ratios[2]:>10.2f} "
              f"{ratios[3]:>8.2f} {ratios[4]:>8.2f}")
    print(f"\nlayouts in the core: {args.history} items of 2 KiB (ms; put/get p50, list once)\n")
    print(f"{'store':<9} {'layout':<9} {'put':>8} {'get':>10} {'list':>10}")
    for kind, pair in lay.items():
        for who, r in pair.items():
            print(f"{kind:<9} {who:<9} {r['put']:>8.3f} {r['get']:>10.3f} {r['list']:>10.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
