"""LangGraph ``BaseStore`` (long-term memory) over a :class:`~bruno_memory_integrations.Store`.

* Items are key-value items in one collection, ``{prefix}.store.items``. The key
  is the namespace's labels, each JSON-encoded and followed by ``\\x1f``, then
  ``=`` and the JSON-encoded item key, so a namespace prefix is a key prefix
  that stops at label boundaries (``("a",)`` never matches ``("ab",)``). The
  value is a JSON envelope: the item's value, its timestamps, its TTL and the
  ids of its vector records.
* With an ``index`` configuration, each embedded field of an item (each element,
  for ``[*]`` paths) is a vector record in ``{prefix}.store.vectors`` whose
  metadata lists the item's encoded namespace prefixes, so a namespace-prefix
  search is one ``$contains`` filter in the backend's own vector search.
* TTL (minutes, as LangGraph defines it) uses the backend's own expiry
  (``ttl`` capability); reads refresh it when ``refresh_ttl`` says so.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from typing import Any

from langgraph.store.base import (
    BaseStore,
    GetOp,
    IndexConfig,
    Item,
    ListNamespacesOp,
    MatchCondition,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
    TTLConfig,
    ensure_embeddings,
    get_text_at_path,
    tokenize_path,
    validate_op_namespace,
)

from ..adapters_common import StoreOwner
from ..errors import InvalidInputError, NotSupportedError
from ..store import Store
from ..types import Record
from ..validation import check_name
from . import _ops
from ._ops import call

__all__ = ["BrunoStore"]

DEFAULT_STORE = "sqlite:///bruno_memory.db"
SEP = "\x1f"
KEY_MARK = "="
#: Metadata field of a vector record: the encoded prefixes of its item's namespace.
PREFIXES_FIELD = "lg_prefixes"
ITEM_FIELD = "lg_item"
_METRICS = {"cosine": "cosine", "l2": "euclidean", "inner_product": "dot"}
_OPERATORS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte")


def _j(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _ns_prefix(namespace: Sequence[str]) -> str:
    return "".join(_j(label) + SEP for label in namespace)


def _item_key(namespace: Sequence[str], key: str) -> str:
    return f"{_ns_prefix(namespace)}{KEY_MARK}{_j(key)}"


def _parse_item_key(stored: str) -> tuple[tuple[str, ...], str]:
    *labels, last = stored.split(SEP)
    return tuple(json.loads(x) for x in labels), json.loads(last[len(KEY_MARK) :])


def _now() -> datetime:
    return datetime.now(timezone.utc)


# ---------------------------------------------------------------------- filters
def _compare(value: Any, wanted: Any) -> bool:
    """LangGraph's filter semantics: equality, nested objects, and $-operators."""
    if isinstance(wanted, dict):
        if any(isinstance(k, str) and k.startswith("$") for k in wanted):
            return all(_operator(value, op, operand) for op, operand in wanted.items())
        return isinstance(value, dict) and all(
            _compare(value.get(k), v) for k, v in wanted.items()
        )
    if isinstance(wanted, (list, tuple)):
        return (
            isinstance(value, (list, tuple))
            and len(value) == len(wanted)
            and all(_compare(a, b) for a, b in zip(value, wanted, strict=False))
        )
    return bool(value == wanted)


def _operator(value: Any, op: str, operand: Any) -> bool:
    if op == "$eq":
        return bool(value == operand)
    if op == "$ne":
        return bool(value != operand)
    if op not in _OPERATORS:
        raise InvalidInputError(
            f"unsupported filter operator {op!r}; use one of {', '.join(_OPERATORS)}"
        )
    try:
        a, b = float(value), float(operand)
    except (TypeError, ValueError):
        return False
    return {"$gt": a > b, "$gte": a >= b, "$lt": a < b, "$lte": a <= b}[op]


def _lookup(value: dict[str, Any], field: str) -> Any:
    if field in value:
        return value[field]
    node: Any = value
    for part in field.split("."):  # a dotted filter key reaches into nested objects
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _matches(value: dict[str, Any], where: dict[str, Any] | None) -> bool:
    if not where:
        return True
    return all(_compare(_lookup(value, k), v) for k, v in where.items())


def _namespace_matches(condition: MatchCondition, namespace: tuple[str, ...]) -> bool:
    path = tuple(condition.path)
    if len(namespace) < len(path):
        return False
    if condition.match_type == "prefix":
        pairs = zip(namespace, path, strict=False)
    elif condition.match_type == "suffix":
        pairs = zip(reversed(namespace), reversed(path), strict=False)
    else:
        raise InvalidInputError(
            f"unknown namespace match type {condition.match_type!r}; use 'prefix' or 'suffix'"
        )
    return all(p == "*" or n == p for n, p in pairs)


class _Stored:
    """A decoded item envelope."""

    __slots__ = ("created", "raw", "ttl", "updated", "value", "vectors")

    def __init__(self, raw: bytes) -> None:
        doc = json.loads(raw)
        self.raw = raw
        self.value: dict[str, Any] = doc["v"]
        self.created = datetime.fromisoformat(doc["c"])
        self.updated = datetime.fromisoformat(doc["u"])
        self.ttl: float | None = doc.get("t")
        self.vectors: list[str] = doc.get("x", [])


class BrunoStore(StoreOwner, BaseStore):
    """LangGraph long-term memory store on any backend of this package.

    Args:
        store: A :class:`~bruno_memory_integrations.Store`, a store URL or a driver
            client (see :func:`~bruno_memory_integrations.open_store`).
        index: LangGraph ``IndexConfig`` for semantic search: ``dims``, ``embed``
            (a LangChain ``Embeddings``, a function or a ``"provider:model"``
            string), ``fields`` (default ``["$"]``, the whole value) and optionally
            ``distance_type`` (``"cosine"``, ``"l2"`` or ``"inner_product"``).
        ttl: LangGraph ``TTLConfig`` (``default_ttl`` in minutes, ``refresh_on_read``);
            needs a backend with the ``ttl`` capability.
        prefix: Name prefix of the collections; stores with different prefixes are
            independent.

    Search scores follow the package's one score rule: in [0, 1], higher is closer.
    """

    def __init__(
        self,
        store: Store | str | Any = DEFAULT_STORE,
        *,
        index: IndexConfig | None = None,
        ttl: TTLConfig | None = None,
        prefix: str = "langgraph",
        tenant: str | None = None,
    ) -> None:
        self._attach_store(store, tenant=tenant)
        self.prefix = check_name(prefix, "store prefix")
        self.items = f"{self.prefix}.store.items"
        self.vectors = f"{self.prefix}.store.vectors"
        self.index_config: IndexConfig | None = None
        self.embeddings: Any = None
        self._fields: list[tuple[str, str | list[str]]] = []
        self._metric = "cosine"
        self._model: str | None = None
        if index is not None:
            if not isinstance(index.get("dims"), int) or index["dims"] < 1:
                raise InvalidInputError("index['dims'] must be a positive integer")
            if index.get("embed") is None:
                raise InvalidInputError("index['embed'] is required: an Embeddings or a function")
            self.index_config = dict(index)  # type: ignore[assignment]
            self.embeddings = ensure_embeddings(index["embed"])
            fields = index.get("fields") or ["$"]
            self._fields = [(f, f if f == "$" else tokenize_path(f)) for f in fields]
            distance = str(index.get("distance_type", "cosine"))  # type: ignore[typeddict-item]
            if distance not in _METRICS:
                raise InvalidInputError(
                    f"index distance_type {distance!r} is not one of {', '.join(_METRICS)}"
                )
            self._metric = _METRICS[distance]
            self._model = index["embed"] if isinstance(index["embed"], str) else None
        self.ttl_config: TTLConfig | None = dict(ttl) if ttl else None  # type: ignore[assignment]
        if self.ttl_config and self.ttl_config.get("default_ttl") is not None:
            self._check_ttl(self.ttl_config["default_ttl"])

    def __repr__(self) -> str:
        return f"BrunoStore(store={self.store!r}, prefix={self.prefix!r})"

    @property
    def supports_ttl(self) -> bool:  # type: ignore[override]  # read by BaseStore.put
        """Whether the backend can expire items (its ``ttl`` capability)."""
        return bool(self.store.capabilities.ttl)

    def _check_ttl(self, ttl: Any) -> float | None:
        if ttl is None:
            return None
        if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not ttl > 0 or (
            isinstance(ttl, float) and not math.isfinite(ttl)
        ):
            raise InvalidInputError(f"ttl is a positive number of minutes, got {ttl!r}")
        if not self.store.capabilities.ttl:
            raise NotSupportedError(
                self.store.backend_name, "TTL (expiry)", "leave ttl unset or use a backend with TTL"
            )
        return float(ttl)

    def _refresh(self, refresh_ttl: bool | None) -> bool:
        if refresh_ttl is not None:
            return refresh_ttl
        return bool((self.ttl_config or {}).get("refresh_on_read", True))

    # ------------------------------------------------------------------ batch
    def batch(self, ops: Iterable[Op]) -> list[Result]:
        """Run get, put, search and list-namespaces operations; reads see the state
        before this batch's writes, results are in the order of ``ops``."""
        return _ops.run(self._batch(list(ops)))

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        """Async :meth:`batch`, on the Store's async API."""
        return await _ops.arun(self._batch(list(ops)))

    def _batch(self, ops: list[Op]) -> _ops.Op[list[Result]]:
        for op in ops:
            if not isinstance(op, (GetOp, PutOp, SearchOp, ListNamespacesOp)):
                raise InvalidInputError(f"unknown store operation {type(op).__name__}")
            validate_op_namespace(op)
            if isinstance(op, (GetOp, PutOp)) and (not isinstance(op.key, str) or not op.key):
                raise InvalidInputError(f"item keys are non-empty strings, got {op.key!r}")
        puts: dict[str, PutOp] = {}
        for op in ops:
            if isinstance(op, PutOp):
                puts[_item_key(op.namespace, op.key)] = op  # the last put of a key wins
        plans = {k: self._plan_put(op) for k, op in puts.items()}  # checks before any I/O
        results: list[Result] = [None] * len(ops)
        refresh: dict[str, _Stored] = {}
        gets = [(i, op) for i, op in enumerate(ops) if isinstance(op, GetOp)]
        if gets:
            keys = [_item_key(op.namespace, op.key) for _, op in gets]
            values = yield call(self.store, "kv_mget", self.items, keys)
            for (i, op), key, raw in zip(gets, keys, values, strict=True):
                if raw is None:
                    continue
                stored = _Stored(raw)
                results[i] = self._item(op.namespace, op.key, stored)
                if stored.ttl and self._refresh(op.refresh_ttl):
                    refresh[key] = stored
        for i, op in enumerate(ops):
            if isinstance(op, SearchOp):
                results[i] = yield from self._search(op, refresh)
            elif isinstance(op, ListNamespacesOp):
                results[i] = yield from self._list_namespaces(op)
        if refresh:
            yield from self._refresh_ttl(refresh)
        if puts:
            yield from self._apply_puts(puts, plans)
        return results

    def _item(self, namespace: Sequence[str], key: str, stored: _Stored) -> Item:
        return Item(
            value=stored.value,
            key=key,
            namespace=tuple(namespace),
            created_at=stored.created,
            updated_at=stored.updated,
        )

    # ------------------------------------------------------------------ puts
    def _plan_put(self, op: PutOp) -> tuple[bytes | None, float | None, list[tuple[str, str]]]:
        """(encoded value, ttl minutes, [(field path, text)]) of a put, checked."""
        if op.value is None:
            return None, None, []
        if not isinstance(op.value, dict):
            raise InvalidInputError(
                f"a store item's value is a dict, got {type(op.value).__name__}"
            )
        try:
            body = json.dumps(op.value, ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(
                f"item {op.key!r} is not JSON ({exc}); store strings, numbers, booleans, "
                "null, lists and dicts"
            ) from exc
        ttl = op.ttl
        if ttl is not None and not isinstance(ttl, (int, float)):  # NOT_PROVIDED
            ttl = (self.ttl_config or {}).get("default_ttl")
        ttl = self._check_ttl(ttl)
        texts: list[tuple[str, str]] = []
        if self.index_config is not None and op.index is not False:
            fields = (
                self._fields
                if op.index is None
                else [(f, f if f == "$" else tokenize_path(f)) for f in op.index]
            )
            for path, tokens in fields:
                found = get_text_at_path(op.value, tokens)
                if len(found) == 1:
                    texts.append((path, found[0]))
                else:
                    texts.extend((f"{path}.{n}", t) for n, t in enumerate(found))
        return body.encode("utf-8"), ttl, texts

    def _apply_puts(
        self,
        puts: dict[str, PutOp],
        plans: dict[str, tuple[bytes | None, float | None, list[tuple[str, str]]]],
    ) -> _ops.Op[None]:
        keys = list(puts)
        old = yield call(self.store, "kv_mget", self.items, keys)
        previous = {k: _Stored(raw) for k, raw in zip(keys, old, strict=True) if raw is not None}
        texts = [(k, path, text) for k in keys for path, text in plans[k][2]]
        vectors: list[list[float]] = []
        if texts:
            vectors = yield call(self.embeddings, "embed_documents", [t for _, _, t in texts])
        now = _now().isoformat()
        by_ttl: dict[float | None, list[tuple[str, bytes]]] = {}
        records: dict[float | None, list[Record]] = {}
        new_ids: dict[str, list[str]] = {}
        for (key, path, text), vector in zip(texts, vectors, strict=True):
            namespace, _ = _parse_item_key(key)
            rid = f"{key}{SEP}{_j(path)}"
            new_ids.setdefault(key, []).append(rid)
            prefixes = [_ns_prefix(namespace[: n + 1]) for n in range(len(namespace))]
            metadata = {PREFIXES_FIELD: prefixes, ITEM_FIELD: key, "lg_field": path}
            records.setdefault(plans[key][1], []).append(
                Record(rid, text, [float(x) for x in vector], metadata)
            )
        deleted: list[str] = []
        stale: list[str] = []
        for key in keys:
            body, ttl, _ = plans[key]
            prev = previous.get(key)
            ids = new_ids.get(key, [])
            if prev is not None:
                stale.extend(i for i in prev.vectors if i not in ids)
            if body is None:
                if prev is not None:
                    deleted.append(key)
                continue
            envelope = (
                b'{"v":' + body
                + b',"c":' + _j(prev.created.isoformat() if prev else now).encode()
                + b',"u":' + _j(now).encode()
                + b',"t":' + json.dumps(ttl).encode()
                + b',"x":' + json.dumps(ids, ensure_ascii=False).encode("utf-8")
                + b"}"
            )
            by_ttl.setdefault(ttl, []).append((key, envelope))
        calls: list[_ops.Call] = []
        for minutes, rows in records.items():
            calls.append(
                call(
                    self.store, "upsert", self.vectors, rows,
                    embedding_model=self._model, metric=self._metric,
                    ttl=minutes * 60 if minutes else None,
                )
            )
        if stale:
            calls.append(call(self.store, "delete", self.vectors, stale))
        for minutes, rows2 in by_ttl.items():
            calls.append(
                call(
                    self.store, "kv_mset", self.items, rows2,
                    ttl=minutes * 60 if minutes else None,
                )
            )
        if deleted:
            calls.append(call(self.store, "kv_mdelete", self.items, deleted))
        if calls:
            yield calls

    def _refresh_ttl(self, stored: dict[str, _Stored]) -> _ops.Op[None]:
        """Restart the expiry clock of items read (LangGraph's refresh on read)."""
        by_ttl: dict[float, list[tuple[str, bytes]]] = {}
        vector_ids: dict[float, list[str]] = {}
        for key, item in stored.items():
            assert item.ttl is not None
            by_ttl.setdefault(item.ttl, []).append((key, item.raw))
            if item.vectors:
                vector_ids.setdefault(item.ttl, []).extend(item.vectors)
        calls = [
            call(self.store, "kv_mset", self.items, rows, ttl=minutes * 60)
            for minutes, rows in by_ttl.items()
        ]
        yield calls
        for minutes, ids in vector_ids.items():
            found = yield call(self.store, "get", self.vectors, ids, include_vectors=True)
            if found:
                yield call(self.store, "upsert", self.vectors, found, ttl=minutes * 60)

    # ------------------------------------------------------------------ reads
    def _search(self, op: SearchOp, refresh: dict[str, _Stored]) -> _ops.Op[list[SearchItem]]:
        if isinstance(op.limit, bool) or not isinstance(op.limit, int) or op.limit < 0:
            raise InvalidInputError(f"limit must be a non-negative integer, got {op.limit!r}")
        if isinstance(op.offset, bool) or not isinstance(op.offset, int) or op.offset < 0:
            raise InvalidInputError(f"offset must be a non-negative integer, got {op.offset!r}")
        want = op.offset + op.limit
        if op.limit == 0:
            return []
        found: list[tuple[str, _Stored, float | None]] = []
        if op.query and self.index_config is not None:
            found = yield from self._vector_search(op, want)
        else:
            keys = yield call(
                self.store, "kv_keys", self.items, prefix=_ns_prefix(op.namespace_prefix) or None
            )
            values = (yield call(self.store, "kv_mget", self.items, keys)) if keys else []
            rows: list[tuple[str, _Stored, float | None]] = [
                (k, _Stored(raw), None)
                for k, raw in zip(keys, values, strict=True)
                if raw is not None
            ]
            rows = [r for r in rows if _matches(r[1].value, op.filter)]
            # Newest first, as LangGraph's SQL stores order a search without a query.
            rows.sort(key=lambda r: (r[1].updated, r[0]), reverse=True)
            found = rows
        page = found[op.offset : want]
        out = []
        for key, stored, score in page:
            namespace, item_key = _parse_item_key(key)
            out.append(
                SearchItem(
                    namespace=namespace,
                    key=item_key,
                    value=stored.value,
                    created_at=stored.created,
                    updated_at=stored.updated,
                    score=score,
                )
            )
            if stored.ttl and self._refresh(op.refresh_ttl):
                refresh[key] = stored
        return out

    def _vector_search(
        self, op: SearchOp, want: int
    ) -> _ops.Op[list[tuple[str, _Stored, float | None]]]:
        assert op.query is not None
        query = yield call(self.embeddings, "embed_query", op.query)
        where = (
            {PREFIXES_FIELD: {"$contains": _ns_prefix(op.namespace_prefix)}}
            if op.namespace_prefix
            else None
        )
        fetch = max(4 * want, 16)
        while True:
            hits = yield call(self.store, "search", self.vectors, query, k=fetch, filter=where)
            best: dict[str, float] = {}
            for hit in hits:  # an item's score is its best field's (max pooling)
                item = hit.record.metadata[ITEM_FIELD]
                best.setdefault(item, hit.score)
            keys = list(best)
            values = (yield call(self.store, "kv_mget", self.items, keys)) if keys else []
            stored = [(k, _Stored(raw)) for k, raw in zip(keys, values, strict=True) if raw]
            rows: list[tuple[str, _Stored, float | None]] = [
                (k, item, best[k]) for k, item in stored if _matches(item.value, op.filter)
            ]
            if len(rows) >= want or len(hits) < fetch:
                return rows
            fetch *= 4

    def _list_namespaces(self, op: ListNamespacesOp) -> _ops.Op[list[tuple[str, ...]]]:
        conditions = list(op.match_conditions or ())
        literal: list[str] = []
        for cond in conditions:  # the literal head of a prefix condition narrows the scan
            if cond.match_type == "prefix":
                for label in cond.path:
                    if label == "*":
                        break
                    literal.append(label)
                break
        keys = yield call(self.store, "kv_keys", self.items, prefix=_ns_prefix(literal) or None)
        namespaces = {_parse_item_key(k)[0] for k in keys}
        chosen = [
            ns for ns in namespaces if all(_namespace_matches(c, ns) for c in conditions)
        ]
        if op.max_depth is not None:
            chosen = list({ns[: op.max_depth] for ns in chosen})
        chosen.sort()
        return chosen[op.offset : op.offset + op.limit]
