"""LangGraph ``BaseCheckpointSaver`` over any backend's key-value items.

Layout (see docs/langgraph.md for why and the measurements):

* one key-value collection per thread, ``{prefix}.thread.{thread_id}`` (a hash of
  the id when the name would be long), so thread isolation is exact and a
  thread is deleted or copied as one collection;
* inside it, keys in an order-preserving scheme; every free-form part is
  JSON-encoded, so it contains no raw ``\\x1f`` separator and no part can end
  early or spill into the next::

      "ns"␟"checkpoint_id"                       the checkpoint, metadata, parent
      "ns"␟"checkpoint_id"␟"task_id"␟idx         one pending write
      run␟"run_id"␟"ns"␟"checkpoint_id"          run -> checkpoint (delete_for_runs)
      latest␟"ns"                                 newest checkpoint of ns (id + value), kept
                                                  only on stores without ordered items

  so one range read (``Store.kv_scan``) of ``"ns"␟"checkpoint_id"`` returns a
  checkpoint with all its pending writes, and a descending one of ``"ns"␟`` a
  namespace's history newest first, each checkpoint right after its writes: the
  newest checkpoint is the first one that read meets, and "newest" means the
  largest key (for LangGraph's time-ordered ids, the largest id);
* one index collection, ``{prefix}.checkpoints.index``, listing threads (for
  ``list(None)``) and which threads each run touched.

Values are LangGraph's own serializer output (``serde.dumps_typed``) framed
with msgpack, so any state the official savers hold round-trips.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import ormsgpack
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    get_checkpoint_id,
    get_checkpoint_metadata,
)
from langgraph.checkpoint.serde.base import SerializerProtocol

from ..adapters_common import StoreOwner
from ..errors import InvalidInputError
from ..store import Flow, Store
from ..validation import check_name
from ._ops import Op, Stream, arun, astream, call, run, stream

__all__ = ["BrunoCheckpointSaver"]

DEFAULT_STORE = "sqlite:///bruno_memory.db"
SEP = "\x1f"
_FORMAT = 1
#: Thread collection names longer than this use a hash of the thread id instead.
_MAX_THREAD_NAME = 200
#: Checkpoints fetched per round trip while listing.
_LIST_CHUNK = 500
_DELTA_KEYS = ("counters_since_delta_snapshot", "delta_writes_versioned")
_PRUNE_STRATEGIES = ("keep_latest", "delete")
#: (checkpoint_id, checkpoint_ns, thread_id): what a listing sorts on, newest first.
_Head = tuple[str, str, str]


def _j(value: str) -> str:
    # JSON escapes control characters, so an encoded part never holds the separator.
    # A printable string without quotes or backslashes is encoded as itself, quoted
    # (what json.dumps gives, without its cost on every key).
    if value.isprintable() and '"' not in value and "\\" not in value:
        return f'"{value}"'
    return json.dumps(value, ensure_ascii=False)


def _ckey(ns: str, cid: str) -> str:
    return f"{_j(ns)}{SEP}{_j(cid)}"


def _wkey(ns: str, cid: str, task_id: str, idx: int) -> str:
    return f"{_ckey(ns, cid)}{SEP}{_j(task_id)}{SEP}{idx}"


def _run_key(run_id: str, ns: str, cid: str) -> str:
    return f"run{SEP}{_j(run_id)}{SEP}{_ckey(ns, cid)}"


def _part(p: str) -> str:
    if not p.startswith('"'):
        return p
    # Most parts need no unescaping; slicing is much cheaper than json.loads.
    return p[1:-1] if "\\" not in p else str(json.loads(p))


def _latest_key(ns: str) -> str:
    return f"latest{SEP}{_j(ns)}"


def _split(key: str) -> list[str]:
    return [_part(p) for p in key.split(SEP)]


def _newest(a: str | None, b: str) -> str:
    """The newer of two checkpoint ids in key order (the order of their encoded form,
    which is the ids' own order for every id LangGraph makes), so ``get_tuple``,
    ``list``, ``before`` and ``prune`` agree on what "newest" means."""
    return b if a is None or _j(b) > _j(a) else a


def _thread_of(config: RunnableConfig) -> str:
    conf = config.get("configurable") or {}
    if conf.get("thread_id") is None:
        raise InvalidInputError(
            "the config has no configurable.thread_id; pass "
            '{"configurable": {"thread_id": "..."}} to the graph'
        )
    return str(conf["thread_id"])


def _run_ids(run_ids: Sequence[str]) -> list[str]:
    if isinstance(run_ids, str):
        raise TypeError("run_ids must be a sequence of run ids, not a str")
    return [str(r) for r in run_ids]


class BrunoCheckpointSaver(StoreOwner, BaseCheckpointSaver[str]):
    """LangGraph checkpointer on any backend of this package.

    Args:
        store: A :class:`~bruno_memory_integrations.Store`, a store URL or a driver
            client (see :func:`~bruno_memory_integrations.open_store`).
        prefix: Name prefix of the key-value collections this saver uses; savers
            with different prefixes share a store without seeing each other.
        serde: LangGraph serializer (default: ``JsonPlusSerializer``), e.g. an
            ``EncryptedSerializer``.

    Example:
        >>> from langgraph.graph import StateGraph
        >>> saver = BrunoCheckpointSaver("sqlite:///agent.db")  # doctest: +SKIP
        >>> graph = builder.compile(checkpointer=saver)  # doctest: +SKIP
    """

    def __init__(
        self,
        store: Store | str | Any = DEFAULT_STORE,
        *,
        prefix: str = "langgraph",
        serde: SerializerProtocol | None = None,
        tenant: str | None = None,
    ) -> None:
        super().__init__(serde=serde)
        self.prefix = check_name(prefix, "checkpoint prefix")
        self._attach_store(store, tenant=tenant)
        self._index = f"{self.prefix}.checkpoints.index"
        # What this process already wrote, to skip index writes and pointer reads.
        self._lock = threading.Lock()
        self._known: set[str] = set()
        # Stores whose key-value items are in key order find the newest checkpoint with
        # a range read; the others keep a pointer to it per namespace (its id + value).
        self._ranges = self.store.capabilities.kv_ranges
        self._latest: dict[tuple[str, str], str] = {}

    def __repr__(self) -> str:
        return f"BrunoCheckpointSaver(store={self.store!r}, prefix={self.prefix!r})"

    # ------------------------------------------------------------------ names
    def _coll(self, thread_id: str) -> str:
        name = f"{self.prefix}.thread.{thread_id}"
        if len(name) > _MAX_THREAD_NAME:
            digest = hashlib.sha256(thread_id.encode("utf-8", "surrogatepass")).hexdigest()
            name = f"{self.prefix}.thread#{digest}"
        return name

    def _forget(self, thread_id: str) -> None:
        with self._lock:
            self._known = {k for k in self._known if _split(k)[-1] != thread_id}
            self._latest = {k: v for k, v in self._latest.items() if k[0] != thread_id}

    # ------------------------------------------------------------------ values
    def _pack_checkpoint(
        self, checkpoint: Checkpoint, metadata: CheckpointMetadata, parent: str | None
    ) -> bytes:
        ctype, cbytes = self.serde.dumps_typed(checkpoint)
        mtype, mbytes = self.serde.dumps_typed(metadata)
        return ormsgpack.packb([_FORMAT, parent, ctype, cbytes, mtype, mbytes])

    def _unpack_metadata(self, value: bytes) -> tuple[list[Any], CheckpointMetadata]:
        row = ormsgpack.unpackb(value)
        return row, self.serde.loads_typed((row[4], row[5]))

    def _tuple(
        self,
        thread_id: str,
        ns: str,
        cid: str,
        row: list[Any],
        metadata: CheckpointMetadata,
        writes: list[bytes],
    ) -> CheckpointTuple:
        checkpoint: Checkpoint = self.serde.loads_typed((row[2], row[3]))
        parent = row[1]
        decoded = []
        for raw in writes:
            _, task_id, channel, vtype, vbytes, task_path, idx = ormsgpack.unpackb(raw)
            value = self.serde.loads_typed((vtype, vbytes))
            decoded.append(((task_path, task_id, idx), (task_id, channel, value)))
        decoded.sort(key=lambda w: w[0])
        return CheckpointTuple(
            config={
                "configurable": {
                    "thread_id": thread_id,
                    "checkpoint_ns": ns,
                    "checkpoint_id": cid,
                }
            },
            checkpoint=checkpoint,
            metadata=metadata,
            parent_config=(
                {
                    "configurable": {
                        "thread_id": thread_id,
                        "checkpoint_ns": ns,
                        "checkpoint_id": parent,
                    }
                }
                if parent
                else None
            ),
            pending_writes=[w for _, w in decoded],
        )

    # ------------------------------------------------------------------ operations
    def _put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
    ) -> Op[RunnableConfig]:
        thread_id = _thread_of(config)
        conf = config["configurable"]
        ns = str(conf.get("checkpoint_ns", ""))
        cid = str(checkpoint["id"])
        coll = self._coll(thread_id)
        meta = get_checkpoint_metadata(config, metadata)
        value = self._pack_checkpoint(checkpoint, meta, conf.get("checkpoint_id"))
        items = [(_ckey(ns, cid), value)]
        latest: str | None = None
        if not self._ranges:
            latest = self._latest.get((thread_id, ns))
            if latest is None:
                (stored,) = yield call(self.store, "kv_mget", coll, [_latest_key(ns)])
                latest = ormsgpack.unpackb(stored)[0] if stored is not None else None
            if latest is None or _newest(latest, cid) == cid:
                # The pointer carries the checkpoint, so reading the newest is one call.
                items.append((_latest_key(ns), ormsgpack.packb([cid, value])))
                latest = cid
        index: list[tuple[str, bytes]] = []
        run_id = meta.get("run_id")
        if run_id is not None:
            items.append((_run_key(str(run_id), ns, cid), b""))
            if (rk := f"r{SEP}{_j(str(run_id))}{SEP}{_j(thread_id)}") not in self._known:
                index.append((rk, b""))
        if (tk := f"t{SEP}{_j(thread_id)}") not in self._known:
            index.append((tk, b""))
        calls = [call(self.store, "kv_mset", coll, items)]
        if index:
            calls.append(call(self.store, "kv_mset", self._index, index))
        yield calls
        with self._lock:
            self._known.update(k for k, _ in index)
            if latest is not None:
                self._latest[(thread_id, ns)] = latest
        return {"configurable": {"thread_id": thread_id, "checkpoint_ns": ns, "checkpoint_id": cid}}

    def _put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str,
    ) -> Op[None]:
        thread_id = _thread_of(config)
        conf = config["configurable"]
        ns = str(conf.get("checkpoint_ns", ""))
        cid = conf.get("checkpoint_id")
        if cid is None:
            raise InvalidInputError("put_writes needs configurable.checkpoint_id in the config")
        items = []
        for i, (channel, value) in enumerate(writes):
            idx = WRITES_IDX_MAP.get(channel, i)
            vtype, vbytes = self.serde.dumps_typed(value)
            row = [_FORMAT, str(task_id), channel, vtype, vbytes, task_path, idx]
            items.append((_wkey(ns, str(cid), str(task_id), idx), ormsgpack.packb(row)))
        if items:
            yield call(self.store, "kv_mset", self._coll(thread_id), items)

    def _get_tuple(self, config: RunnableConfig) -> Flow[CheckpointTuple | None]:
        # A flow of the Store itself (not an _ops operation): the read every step of
        # a graph starts with is driven once, by the Store, with no call objects.
        store = self._store
        thread_id = _thread_of(config)
        ns = str(config["configurable"].get("checkpoint_ns", ""))
        coll = self._coll(thread_id)
        cid = get_checkpoint_id(config)
        if cid is None and not self._ranges:
            (pointer,) = yield from store._mget(coll, [_latest_key(ns)])
            if pointer is None:
                # No pointer: an empty namespace, or items copied from a store that
                # keeps none; the newest is then the largest checkpoint key.
                keys = yield from store._keys(coll, _j(ns) + SEP)
                split = (k.split(SEP) for k in keys)
                heads = [_part(parts[1]) for parts in split if len(parts) == 2]
                if not heads:
                    return None
                cid = max(heads, key=_j)
            else:
                cid, raw = ormsgpack.unpackb(pointer)
                items = yield from store._kv_range(coll, _ckey(ns, cid) + SEP, None, None, False)
                row, metadata = self._unpack_metadata(raw)
                return self._tuple(thread_id, ns, cid, row, metadata, [v for _, v in items])
        if cid is None:
            # The newest checkpoint has the largest key of the namespace, but its
            # writes sort after it: read the largest key alone; if it is a write, read
            # its checkpoint and writes as below. Two small reads, never a page of
            # older checkpoints (whole states). Writes whose checkpoint is missing
            # (put_writes without put) belong to no checkpoint: look below them.
            below: str | None = None
            while True:
                items = yield from store._kv_range(coll, _j(ns) + SEP, below, 1, True)
                if not items:
                    return None
                key, value = items[0]
                parts = key.split(SEP)
                if len(parts) == 2:
                    row, metadata = self._unpack_metadata(value)
                    return self._tuple(thread_id, ns, _part(parts[1]), row, metadata, [])
                ckey = parts[0] + SEP + parts[1]
                found = yield from self._checkpoint_at(coll, ckey)
                if found is not None:
                    cid = _part(parts[1])
                    break
                below = ckey
        else:
            cid = str(cid)
            found = yield from self._checkpoint_at(coll, _ckey(ns, cid))
            if found is None:
                return None
        raw, writes = found
        row, metadata = self._unpack_metadata(raw)
        return self._tuple(thread_id, ns, cid, row, metadata, writes)

    def _checkpoint_at(self, coll: str, ckey: str) -> Flow[tuple[bytes, list[bytes]] | None]:
        """A checkpoint's value and its writes' values, in one range read: its key comes
        first, then its writes (no other checkpoint's key starts with this one: encoded
        ids end with a quote). ``None`` when the checkpoint is not stored."""
        items = yield from self._store._kv_range(coll, ckey, None, None, False)
        if not items or items[0][0] != ckey:
            return None
        return items[0][1], [v for _, v in items[1:]]

    def _list_plan(
        self,
        config: RunnableConfig | None,
        before: RunnableConfig | None,
        limit: int | None,
    ) -> Op[tuple[list[_Head], dict[_Head, list[str]]]]:
        """The checkpoints a listing may return, newest first, with their keys."""
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)):
            raise InvalidInputError(f"limit must be an integer or None, got {limit!r}")
        ns: str | None = None
        only: str | None = None
        if config is None:
            keys = yield call(self.store, "kv_keys", self._index, prefix=f"t{SEP}")
            threads = [_split(k)[1] for k in keys]
        else:
            threads = [_thread_of(config)]
            conf = config.get("configurable") or {}
            if conf.get("checkpoint_ns") is not None:
                ns = str(conf["checkpoint_ns"])
            only = get_checkpoint_id(config)
        before_id = get_checkpoint_id(before) if before else None
        prefix = f"{_j(ns)}{SEP}" if ns is not None else '"'
        listed = yield [call(self.store, "kv_keys", self._coll(t), prefix=prefix) for t in threads]
        # (checkpoint_id, ns, thread) -> [its key, the keys of its pending writes]
        found: dict[_Head, list[str]] = {}
        for thread_id, keys in zip(threads, listed, strict=True):
            for key in keys:
                parts = _split(key)
                head = (parts[1], parts[0], thread_id)
                if len(parts) == 2:
                    found[head] = [key]
                elif head in found:  # keys are sorted: the checkpoint precedes its writes
                    found[head].append(key)
        before_key = _j(before_id) if before_id is not None else None
        order = sorted(
            (h for h in found
             if (only is None or h[0] == only)
             and (before_key is None or _j(h[0]) < before_key)),
            key=lambda h: (_j(h[0]), h[1], h[2]),
            reverse=True,
        )
        return order, found

    def _fetch(
        self, heads: list[_Head], found: dict[_Head, list[str]]
    ) -> Op[dict[tuple[str, str], bytes | None]]:
        """The values of some checkpoints and their writes: (thread, key) -> value."""
        by_thread: dict[str, list[str]] = {}
        for head in heads:
            by_thread.setdefault(head[2], []).extend(found[head])
        names = list(by_thread)
        fetched = yield [call(self.store, "kv_mget", self._coll(t), by_thread[t]) for t in names]
        return {
            (t, k): v
            for t, vs in zip(names, fetched, strict=True)
            for k, v in zip(by_thread[t], vs, strict=True)
        }

    def _decode_chunk(
        self,
        heads: list[_Head],
        found: dict[_Head, list[str]],
        values: dict[tuple[str, str], bytes | None],
        filter: dict[str, Any] | None,
    ) -> Iterator[CheckpointTuple]:
        for head in heads:
            cid, cns, thread_id = head
            ckey, *wkeys = found[head]
            raw = values.get((thread_id, ckey))
            if raw is None:  # deleted since it was listed
                continue
            row, metadata = self._unpack_metadata(raw)
            if filter and not all(
                k in metadata and metadata[k] == v  # type: ignore[literal-required]
                for k, v in filter.items()
            ):
                continue
            writes = [w for k in wkeys if (w := values.get((thread_id, k))) is not None]
            yield self._tuple(thread_id, cns, cid, row, metadata, writes)

    # A listing of one namespace of one thread (what get_state_history asks for) is a
    # descending range read, page by page: newest first, each checkpoint preceded by
    # its writes, so no key listing and no second read.
    @staticmethod
    def _one_namespace(
        config: RunnableConfig | None, before: RunnableConfig | None, limit: int | None
    ) -> tuple[str, str, str | None] | None:
        """``(thread, namespace, after-key)`` when the listing is of one namespace of one
        thread; ``None`` for the general plan."""
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)):
            raise InvalidInputError(f"limit must be an integer or None, got {limit!r}")
        if config is None:
            return None
        conf = config.get("configurable") or {}
        if conf.get("checkpoint_ns") is None or get_checkpoint_id(config) is not None:
            return None
        thread_id, ns = _thread_of(config), str(conf["checkpoint_ns"])
        before_id = get_checkpoint_id(before) if before else None
        return thread_id, ns, (_ckey(ns, str(before_id)) if before_id is not None else None)

    @staticmethod
    def _page_size(limit: int | None, filter: Any) -> int:
        # A checkpoint usually has a few writes; a filter may skip any number.
        return _LIST_CHUNK if limit is None or filter else min(_LIST_CHUNK, max(16, 4 * limit))

    def _page(self, thread_id: str, ns: str, after: str | None, size: int) -> Op[Any]:
        return (
            yield call(
                self.store, "kv_scan", self._coll(thread_id),
                prefix=_j(ns) + SEP, after=after, limit=size, reverse=True,
            )
        )

    def _decode_page(
        self,
        thread_id: str,
        ns: str,
        items: list[tuple[str, bytes]],
        carry: list[bytes],
        filter: dict[str, Any] | None,
    ) -> Iterator[CheckpointTuple]:
        """Tuples of a descending page; ``carry`` holds the writes read so far of a
        checkpoint whose own key is on a later page."""
        for key, value in items:
            parts = key.split(SEP)
            if len(parts) != 2:
                carry.append(value)
                continue
            writes = carry[:]
            carry.clear()
            row, metadata = self._unpack_metadata(value)
            if filter and not all(
                k in metadata and metadata[k] == v  # type: ignore[literal-required]
                for k, v in filter.items()
            ):
                continue
            yield self._tuple(thread_id, ns, _part(parts[1]), row, metadata, writes)

    def _list(
        self,
        config: RunnableConfig | None,
        filter: dict[str, Any] | None,
        before: RunnableConfig | None,
        limit: int | None,
    ) -> Stream:
        """The listing, as a stream of Store calls and the tuples they give."""
        one = self._one_namespace(config, before, limit)
        count = 0
        if one is not None and self._ranges:
            if limit is not None and limit <= 0:
                return
            thread_id, ns, after = one
            size = self._page_size(limit, filter)
            carry: list[bytes] = []
            while True:
                items = yield from self._page(thread_id, ns, after, size)
                for item in self._decode_page(thread_id, ns, items, carry, filter):
                    yield item
                    count += 1
                    if limit is not None and count >= limit:
                        return
                if len(items) < size:
                    return
                after = items[-1][0]
        order, found = yield from self._list_plan(config, before, limit)
        if limit is not None and limit <= 0:
            return
        # Chunk by chunk, so a long history is never held in memory all at once.
        for heads in self._chunks(order, limit, filter):
            values = yield from self._fetch(heads, found)
            for item in self._decode_chunk(heads, found, values, filter):
                yield item
                count += 1
                if limit is not None and count >= limit:
                    return

    @staticmethod
    def _chunks(order: list[_Head], limit: int | None, filter: Any) -> Iterator[list[_Head]]:
        # Without a filter the limit says exactly how many to fetch.
        size = min(limit, _LIST_CHUNK) if limit is not None and not filter else _LIST_CHUNK
        for start in range(0, len(order), size):
            yield order[start : start + size]

    def _delete_keys(self, thread_id: str, doomed: set[str], keys: list[str]) -> Op[None]:
        """Delete checkpoints ``doomed`` (checkpoint keys) of a thread, their writes and
        run keys, and point each namespace's ``latest`` at what remains (on stores with
        range reads, which need no pointer, remove the pointers instead)."""
        coll = self._coll(thread_id)
        drop = []
        remaining: dict[str, str] = {}
        namespaces = set()
        for key in keys:
            parts = _split(key)
            if parts[0] == "latest":
                namespaces.add(parts[1])
                if self._ranges:
                    drop.append(key)
                continue
            if parts[0] == "run":
                head = _ckey(parts[2], parts[3])
            else:
                head = _ckey(parts[0], parts[1])
                if len(parts) == 2 and head not in doomed:
                    remaining[parts[0]] = _newest(remaining.get(parts[0]), parts[1])
            if head in doomed:
                drop.append(key)
        if not self._ranges:
            drop += [_latest_key(n) for n in namespaces if n not in remaining]
        if drop:
            yield call(self.store, "kv_mdelete", coll, drop)
        if remaining and not self._ranges:
            heads = [(n, remaining[n]) for n in remaining]
            values = yield call(self.store, "kv_mget", coll, [_ckey(n, c) for n, c in heads])
            pointers = [
                (_latest_key(n), ormsgpack.packb([c, v]))
                for (n, c), v in zip(heads, values, strict=True)
                if v is not None
            ]
            if pointers:
                yield call(self.store, "kv_mset", coll, pointers)
        self._forget(thread_id)

    def _delete_thread(self, thread_id: str) -> Op[None]:
        thread_id = str(thread_id)
        coll = self._coll(thread_id)
        keys = yield call(self.store, "kv_keys", coll)
        runs = {_split(k)[1] for k in keys if k.startswith(f"run{SEP}")}
        if keys:
            yield call(self.store, "kv_mdelete", coll, keys)
        index = [f"t{SEP}{_j(thread_id)}"] + [f"r{SEP}{_j(r)}{SEP}{_j(thread_id)}" for r in runs]
        yield call(self.store, "kv_mdelete", self._index, index)
        self._forget(thread_id)

    def _delete_for_runs(self, run_ids: Sequence[str]) -> Op[None]:
        runs = _run_ids(run_ids)
        if not runs:
            return
        listed = yield [
            call(self.store, "kv_keys", self._index, prefix=f"r{SEP}{_j(r)}{SEP}") for r in runs
        ]
        index_keys = [k for keys in listed for k in keys]
        threads = sorted({_split(k)[2] for k in index_keys})
        all_keys = yield [call(self.store, "kv_keys", self._coll(t)) for t in threads]
        wanted = {_j(r) for r in runs}
        for thread_id, keys in zip(threads, all_keys, strict=True):
            doomed = set()
            for key in keys:
                if key.startswith(f"run{SEP}"):
                    _, jrun, rest = key.split(SEP, 2)
                    if jrun in wanted:
                        doomed.add(rest)
            yield from self._delete_keys(thread_id, doomed, keys)
        if index_keys:
            yield call(self.store, "kv_mdelete", self._index, index_keys)

    def _copy_thread(self, source: str, target: str) -> Op[None]:
        source, target = str(source), str(target)
        keys = yield call(self.store, "kv_keys", self._coll(source))
        if not keys:
            return
        values = yield call(self.store, "kv_mget", self._coll(source), keys)
        items = [(k, v) for k, v in zip(keys, values, strict=True) if v is not None]
        runs = {_split(k)[1] for k, _ in items if k.startswith(f"run{SEP}")}
        index = [(f"t{SEP}{_j(target)}", b"")]
        index += [(f"r{SEP}{_j(r)}{SEP}{_j(target)}", b"") for r in runs]
        yield [
            call(self.store, "kv_mset", self._coll(target), items),
            call(self.store, "kv_mset", self._index, index),
        ]
        self._forget(target)

    def _prune(self, thread_ids: Sequence[str], strategy: str) -> Op[None]:
        if isinstance(thread_ids, str):
            raise TypeError("thread_ids must be a sequence of thread ids, not a str")
        if strategy not in _PRUNE_STRATEGIES:
            raise ValueError(
                f"unknown prune strategy {strategy!r}; use one of {', '.join(_PRUNE_STRATEGIES)}"
            )
        threads = [str(t) for t in thread_ids]
        if strategy == "delete":
            for thread_id in threads:
                yield from self._delete_thread(thread_id)
            return
        all_keys = yield [call(self.store, "kv_keys", self._coll(t)) for t in threads]
        plans = []
        for thread_id, keys in zip(threads, all_keys, strict=True):
            heads = [k for k in keys if k.startswith('"') and len(_split(k)) == 2]
            values = []
            if heads:
                values = yield call(self.store, "kv_mget", self._coll(thread_id), heads)
            newest: dict[str, str] = {}
            for key, raw in zip(heads, values, strict=True):
                if raw is None:
                    continue
                _, metadata = self._unpack_metadata(raw)
                if any(k in metadata for k in _DELTA_KEYS):
                    raise NotImplementedError(
                        f"thread {thread_id!r} uses a DeltaChannel, whose latest value is "
                        "rebuilt from older checkpoints; prune(strategy='keep_latest') would "
                        "lose it, so nothing was pruned (use strategy='delete' or keep the thread)"
                    )
                cns, cid = _split(key)
                newest[cns] = _newest(newest.get(cns), cid)
            doomed = {k for k in heads if _split(k)[1] != newest.get(_split(k)[0])}
            plans.append((thread_id, doomed, keys))
        for thread_id, doomed, keys in plans:
            yield from self._delete_keys(thread_id, doomed, keys)

    # ------------------------------------------------------------------ sync API
    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """The checkpoint ``config`` names (its ``checkpoint_id``, else the newest),
        with its pending writes in ``writes_sort_key`` order; ``None`` if absent."""
        return self._store._sync(self._get_tuple(config))

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        """Checkpoints newest first: of ``config``'s thread (and namespace, when it
        names one), or of every thread when ``config`` is ``None``; only those whose
        metadata has every ``filter`` item, older than ``before``, at most ``limit``."""
        yield from stream(self._list(config, filter, before, limit))

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Store a checkpoint; returns the config that names it."""
        return run(self._put(config, checkpoint, metadata))

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Store a task's pending writes for the checkpoint ``config`` names."""
        run(self._put_writes(config, writes, task_id, task_path))

    def delete_thread(self, thread_id: str) -> None:
        """Delete every checkpoint and write of a thread."""
        run(self._delete_thread(thread_id))

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        """Delete the checkpoints (and their writes) whose metadata names these runs."""
        run(self._delete_for_runs(run_ids))

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Copy every checkpoint and write of one thread into another."""
        run(self._copy_thread(source_thread_id, target_thread_id))

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        """``"keep_latest"``: keep each namespace's newest checkpoint and its writes;
        ``"delete"``: delete the threads. Threads using a ``DeltaChannel`` are refused
        by ``"keep_latest"`` (``NotImplementedError``, nothing pruned)."""
        run(self._prune(thread_ids, strategy))

    def get_next_version(self, current: str | None, channel: None) -> str:
        """Sortable string versions, as the official savers use."""
        if current is None:
            current_v = 0
        elif isinstance(current, int):
            current_v = current
        else:
            current_v = int(current.split(".")[0])
        return f"{current_v + 1:032}.{random.random():016}"

    # ------------------------------------------------------------------ async API
    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """Async :meth:`get_tuple`."""
        return await self._store._async(self._get_tuple(config))

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        """Async :meth:`list`."""
        async for item in astream(self._list(config, filter, before, limit)):
            yield item

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Async :meth:`put`."""
        return await arun(self._put(config, checkpoint, metadata))

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Async :meth:`put_writes`."""
        await arun(self._put_writes(config, writes, task_id, task_path))

    async def adelete_thread(self, thread_id: str) -> None:
        """Async :meth:`delete_thread`."""
        await arun(self._delete_thread(thread_id))

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        """Async :meth:`delete_for_runs`."""
        await arun(self._delete_for_runs(run_ids))

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Async :meth:`copy_thread`."""
        await arun(self._copy_thread(source_thread_id, target_thread_id))

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        """Async :meth:`prune`."""
        await arun(self._prune(thread_ids, strategy))
