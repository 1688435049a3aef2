"""`PineconeBackend`: vector records, chat messages and key-value items in one Pinecone index.

Each operation is written once, as a generator that yields :class:`~.query.Call`
steps (one SDK data-plane call each) and receives plain replies; ``connection.py``
runs a step on the SDK's ``Index`` (``execute``) or on this event loop's
``IndexAsyncio`` (``aexecute``). ``codec.py`` says how ids, names, vectors and
metadata map onto Pinecone records and checks Pinecone's limits, ``filters.py``
translates filters. docs/backends/pinecone.md describes the layout and its reasons.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from collections.abc import Sequence
from typing import Any, ClassVar

from ...backend import Backend, Hit
from ...capabilities import Capabilities
from ...errors import ConfigurationError, InvalidInputError, NotSupportedError
from ...filters import FilterNode
from ...sansio import Offload, Op, non_idempotent
from ...types import CollectionInfo, Message, Page, Record
from ..encoding import float32_base64
from . import codec as c
from . import filters as f
from .connection import Connection, Refused
from .options import check_common, parse_settings
from .query import Call

__all__ = ["PineconeBackend"]

#: Ids per fetch request (they travel in the URL) and per list page.
FETCH_CHUNK = 100
LIST_PAGE = 100
DELETE_CHUNK = 1000
#: Pinecone's largest topK, and the largest with metadata or values included.
MAX_TOP_K = 10_000
MAX_TOP_K_WITH_DATA = 1000
_ENCODE_INLINE_MAX = 256
_CURSOR_TAG = "pc1"

_clock_lock = threading.Lock()
_clock = [0]  # the last stamp handed out


def _now_ns() -> int:
    """Strictly increasing nanoseconds within this process (message ids sort by it)."""
    with _clock_lock:
        _clock[0] = max(time.time_ns(), _clock[0] + 1)
        return _clock[0]


class PineconeBackend(Backend):
    """Pinecone (serverless or pod index, dense vectors): vectors, chat, key-value.

    Open with ``open_store("pinecone://INDEX_HOST", api_key=...)`` (or
    ``PINECONE_API_KEY`` in the environment), or ``open_store(index)`` with a
    ``Pinecone`` client (plus ``index_host=``), an ``Index`` or an ``IndexAsyncio``.
    Options (docs/backends/pinecone.md): ``api_key``, ``index_host``, ``index_name``,
    ``prefix`` (of every namespace the store uses, default ``"bruno"``).
    """

    name: ClassVar[str] = "pinecone"
    capabilities: ClassVar[Capabilities] = Capabilities(
        native_async=True,
        nested_metadata=False,  # Pinecone holds strings, numbers, booleans, lists of strings
        # Numbers are 64-bit floats; there is no substring operator.
        refused_filters=frozenset({"big-numbers", "substring"}),
    )

    def __init__(self, connection: Connection, *, prefix: str = "bruno") -> None:
        self._conn = connection
        self.prefix = prefix
        if not connection.has_async:
            self.capabilities = type(self).capabilities.with_(native_async=False)  # type: ignore[misc]
        self._lock = threading.Lock()
        self._index: tuple[int, str] | None = None  # (dimension, metric)
        self._infos: dict[str, CollectionInfo] = {}
        # Counting by a dry-run update and deleting by filter need a recent index (API
        # 2025-10; deleting by filter is not on every index kind): if the index refuses
        # them once, matches are listed with fetch_by_metadata instead.
        self._dry_run_counts = True
        self._filter_deletes = True

    def __repr__(self) -> str:
        return f"PineconeBackend({self._conn.description!r}, prefix={self.prefix!r})"

    # ------------------------------------------------------------ opening
    @classmethod
    def from_url(cls, url: str, **options: Any) -> PineconeBackend:
        """Open ``pinecone://INDEX_HOST`` (see options.py); reads the index's dimension and
        metric at once, so a wrong host or key fails here.

        Raises:
            ConfigurationError: a bad URL or option, or no API key (before connecting).
            BackendUnavailableError: the index cannot be reached or refuses the key.
        """
        from pinecone import Pinecone

        st = parse_settings(url, options)
        client = Pinecone(api_key=st.api_key, source_tag="bruno_memory_integrations")
        try:
            host = st.host
            if host is None:
                host = "https://" + str(client.describe_index(str(st.index_name)).host)
            index = client.Index(host=host)
        except Exception as exc:  # noqa: BLE001 - every SDK failure is mapped to ours
            conn = Connection(description=st.description, secret=st.api_key)
            raise conn.error(exc, "open the index") from None
        conn = Connection(client=client, host=host, index=index, secret=st.api_key,
                          description=f"Pinecone {host} (API key ***)", owns=True)
        backend = cls(conn, prefix=st.prefix)
        try:
            backend.run(backend._describe)
        except BaseException:
            conn.close()
            raise
        return backend

    @classmethod
    def from_client(cls, client: Any, **options: Any) -> PineconeBackend:
        """Use a ``Pinecone`` client (with ``index_host=``), an ``Index`` or an
        ``IndexAsyncio`` you already have (never closed by the backend)."""
        opts = dict(options)
        host = opts.pop("index_host", None)
        ours = check_common(opts)
        if opts:
            raise ConfigurationError(
                f"unknown options for a Pinecone client: {sorted(opts)}; known: index_host, "
                f"prefix (the connection comes from the client)"
            )
        kind = type(client).__name__
        if kind in ("Pinecone", "PineconeAsyncio"):
            if not host:
                raise ConfigurationError(
                    f"with a {kind} client, say which index: index_host='...' (on the "
                    f"index's page in the Pinecone console)"
                )
            if not str(host).startswith(("http://", "https://")):
                host = f"https://{host}"
            if kind == "PineconeAsyncio":
                conn = Connection(async_index=client.IndexAsyncio(host=host),
                                  description=f"Pinecone {host}")
            else:
                conn = Connection(client=client, host=host, index=client.Index(host=host),
                                  description=f"Pinecone {host}", owns=True)
        elif hasattr(client, "upsert") and hasattr(client, "query"):
            import inspect

            if "asyncio" in kind.lower() or inspect.iscoroutinefunction(
                inspect.unwrap(client.query)
            ):
                conn = Connection(async_index=client, description=f"a Pinecone {kind}")
            else:
                conn = Connection(index=client, description=f"a Pinecone {kind}")
        else:
            raise ConfigurationError(
                f"expected a pinecone.Pinecone client, an Index or an IndexAsyncio, got "
                f"{type(client).__module__}.{kind}"
            )
        return cls(conn, **ours)

    # ------------------------------------------------------------ running
    def execute(self, step: Call) -> Any:
        return self._conn.execute(step)

    async def aexecute(self, step: Call) -> Any:
        return await self._conn.aexecute(step)

    def close(self) -> None:
        self._conn.close()
        super().close()

    async def aclose(self) -> None:
        await self._conn.aclose()
        self._shutdown_executor()

    # ------------------------------------------------------------ names
    def _ns(self, kind: str, name: str = "") -> str:
        return c.namespace(self.prefix, kind, name)

    def _vec_ns(self, name: str) -> str:
        return self._ns("v", name)

    # ------------------------------------------------------------ the index
    def _describe(self) -> Op[tuple[int, str]]:
        if self._index is None:
            stats = yield Call("describe_index_stats")
            dim, metric = stats.get("dimension"), str(stats.get("metric") or "cosine").lower()
            if not dim:
                raise ConfigurationError(
                    f"{self._conn.description} did not report its dimension; is it a dense index?"
                )
            self._index = (int(dim), metric)
            self.capabilities = self.capabilities.with_(metrics=c.metrics_for(metric))  # type: ignore[misc]
        return self._index

    def _constant(self) -> Op[list[float]]:
        dim, _ = yield from self._describe()
        return [1.0] + [0.0] * (dim - 1)

    def _space(self, collection: str) -> Op[c.Space | None]:
        info = self._infos.get(collection)
        if info is None:
            info = yield from self.get_collection(collection)
        if info is None:
            return None
        dim, metric = yield from self._describe()
        return c.Space(info, metric, dim)

    # ------------------------------------------------------------ generic helpers
    def _fetch(self, ns: str, pids: Sequence[str]) -> Op[dict[str, tuple[Any, dict[str, Any]]]]:
        out: dict[str, tuple[Any, dict[str, Any]]] = {}
        for chunk in c.chunks(list(dict.fromkeys(pids)), FETCH_CHUNK):
            found, _ = yield Call("fetch", {"ids": list(chunk), "namespace": ns})
            out.update(found)
        return out

    def _list(self, ns: str, prefix: str | None = None) -> Op[list[str]]:
        ids: list[str] = []
        token: str | None = None
        while True:
            kw: dict[str, Any] = {"namespace": ns, "limit": LIST_PAGE}
            if prefix:
                kw["prefix"] = prefix
            if token:
                kw["pagination_token"] = token
            page, token = yield Call("list_paginated", kw)
            ids += page
            if not token:
                return ids

    def _upsert(self, ns: str, vectors: list[dict[str, Any]]) -> Op[None]:
        for batch in c.batches(vectors):
            yield Call("upsert", {"vectors": batch, "namespace": ns, "show_progress": False})

    def _delete_ids(self, ns: str, pids: Sequence[str]) -> Op[None]:
        for chunk in c.chunks(list(dict.fromkeys(pids)), DELETE_CHUNK):
            yield Call("delete", {"ids": list(chunk), "namespace": ns})

    # ------------------------------------------------------------ collections
    def create_collection(self, info: CollectionInfo) -> Op[None]:
        dim, metric = yield from self._describe()
        if info.metric not in c.metrics_for(metric):
            raise NotSupportedError(
                self.name,
                f"the {info.metric} metric on a {metric} index",
                f"this index serves {', '.join(c.metrics_for(metric))}; use a dotproduct "
                f"index for all three",
            )
        need = c.needed_dimension(info, metric)
        if need > dim:
            raise InvalidInputError(
                f"collection {info.name!r} needs {need} dimensions but the Pinecone index has "
                f"{dim}; a collection's vectors must fit the index (shorter ones are "
                f"zero-padded; euclidean on a dotproduct index takes one more)"
            )
        md = c.check_metadata({"_n": c.encode_info(info)}, f"collection {info.name!r}")
        vec = yield from self._constant()
        yield from self._upsert(self._ns("catalog"), [
            {"id": c.check_id("c" + c.short(info.name, 400)), "values": vec, "metadata": md}
        ])
        with self._lock:
            self._infos.pop(info.name, None)

    def get_collection(self, name: str) -> Op[CollectionInfo | None]:
        pid = "c" + c.short(name, 400)
        found = yield from self._fetch(self._ns("catalog"), [pid])
        info = c.decode_info(str(found[pid][1].get("_n", ""))) if pid in found else None
        with self._lock:
            if info is None:
                self._infos.pop(name, None)
            else:
                self._infos[name] = info
        return info

    def list_collections(self) -> Op[list[str]]:
        pids = yield from self._list(self._ns("catalog"), "c")
        found = yield from self._fetch(self._ns("catalog"), pids)
        names = []
        for _, md in found.values():
            info = c.decode_info(str(md.get("_n", "")))
            if info is not None:
                names.append(info.name)
        return sorted(names)

    def drop_collection(self, name: str) -> Op[None]:
        with self._lock:
            self._infos.pop(name, None)
        yield Call("delete", {"delete_all": True, "namespace": self._vec_ns(name)})
        yield Call("delete", {"ids": ["c" + c.short(name, 400)], "namespace": self._ns("catalog")})
        with self._lock:
            self._infos.pop(name, None)

    # ------------------------------------------------------------ records
    @staticmethod
    def _encode(space: c.Space, rec: Record) -> dict[str, Any]:
        md = c.filter_fields(rec.metadata)
        md[c.ID] = rec.id
        md[c.TEXT] = rec.text
        md[c.META] = json.dumps(rec.metadata, ensure_ascii=False, separators=(",", ":"))
        if space.normalize:
            md[c.VEC] = float32_base64(rec.vector or [])
        c.check_metadata(md, f"record {rec.id[:80]!r}")
        return {"id": c.check_id(c.record_id(rec.id)), "values": space.stored(rec.vector or []),
                "metadata": md}

    @staticmethod
    def _decode(space: c.Space, values: Any, md: dict[str, Any], vectors: bool) -> Record:
        return Record(
            str(md.get(c.ID, "")),
            str(md.get(c.TEXT, "")),
            space.vector(values, md) if vectors else None,
            json.loads(md[c.META]) if md.get(c.META) else {},
        )

    def upsert(
        self, collection: str, records: Sequence[Record], ttl: float | None = None
    ) -> Op[None]:
        space = yield from self._space(collection)
        if space is None:  # pragma: no cover - the Store creates the collection first
            raise InvalidInputError(f"collection {collection!r} does not exist")

        def encode() -> list[dict[str, Any]]:
            return [self._encode(space, r) for r in records]

        # Every record is checked against Pinecone's limits before the first request.
        vectors = encode() if len(records) <= _ENCODE_INLINE_MAX else (yield Offload(encode))
        yield from self._upsert(self._vec_ns(collection), vectors)

    def get(
        self, collection: str, ids: Sequence[str], include_vectors: bool = True
    ) -> Op[list[Record]]:
        space = yield from self._space(collection)
        if space is None or not ids:
            return []
        found = yield from self._fetch(self._vec_ns(collection), [c.record_id(i) for i in ids])
        return [self._decode(space, v, md, include_vectors) for v, md in found.values()]

    def delete(self, collection: str, ids: Sequence[str]) -> Op[int]:
        ns = self._vec_ns(collection)
        found = yield from self._fetch(ns, [c.record_id(i) for i in ids])
        yield from self._delete_ids(ns, list(found))
        return len(found)

    def _translate(self, where: FilterNode | None) -> f.Translated:
        return f.to_pinecone_filter(where)

    def _count(self, ns: str, flt: f.Translated) -> Op[int]:
        if flt is f.NEVER:
            return 0
        if flt is f.ALWAYS:
            stats = yield Call("describe_index_stats")
            return int(stats["namespaces"].get(ns, 0))
        if self._dry_run_counts:
            n = yield Call("update", {"filter": flt, "namespace": ns, "dry_run": True},
                           tolerate_refusal=True)
            if not isinstance(n, Refused):
                return int(n)
            self._dry_run_counts = False  # an index without it: count by listing matches
        ids = yield from self._matching_ids(ns, flt)
        return len(ids)

    def _matching_ids(self, ns: str, flt: f.Translated) -> Op[list[str]]:
        """Every id matching a (non-constant) filter, by ``fetch_by_metadata`` pages."""
        ids: list[str] = []
        token: str | None = None
        while True:
            kw: dict[str, Any] = {"filter": flt, "namespace": ns, "limit": LIST_PAGE}
            if token:
                kw["pagination_token"] = token
            got, token = yield Call("fetch_by_metadata", kw)
            ids += list(got)
            if not token:
                return ids

    def delete_where(self, collection: str, where: FilterNode | None) -> Op[int]:
        ns = self._vec_ns(collection)
        flt = self._translate(where)
        n = yield from self._count(ns, flt)
        if n:
            if flt is f.ALWAYS:
                yield Call("delete", {"delete_all": True, "namespace": ns})
                return n
            if self._filter_deletes:
                done = yield Call("delete", {"filter": flt, "namespace": ns},
                                  tolerate_refusal=True)
                if not isinstance(done, Refused):
                    return n
                self._filter_deletes = False  # an index without it: delete by ids
            ids = yield from self._matching_ids(ns, flt)
            yield from self._delete_ids(ns, ids)
            return len(ids)
        return n

    def count(self, collection: str, where: FilterNode | None = None) -> Op[int]:
        flt = self._translate(where)
        return (yield from self._count(self._vec_ns(collection), flt))

    def scan(
        self,
        collection: str,
        where: FilterNode | None,
        limit: int,
        cursor: str | None,
        include_vectors: bool = False,
    ) -> Op[Page]:
        flt = self._translate(where)
        token: str | None = None
        if cursor is not None:
            try:
                tag, token = json.loads(cursor)
                if tag != _CURSOR_TAG or not isinstance(token, str) or not token:
                    raise ValueError(tag)
            except (ValueError, TypeError) as exc:
                raise InvalidInputError(
                    f"not a scan cursor of the pinecone backend: {cursor!r}; pass the "
                    f"Page.cursor of the previous page"
                ) from exc
        space = yield from self._space(collection)
        if space is None or flt is f.NEVER:
            return Page([], None)
        ns = self._vec_ns(collection)
        records: list[Record] = []
        while len(records) < limit:
            want = min(LIST_PAGE, limit - len(records))
            if flt is f.ALWAYS:
                kw: dict[str, Any] = {"namespace": ns, "limit": want}
                if token:
                    kw["pagination_token"] = token
                pids, token = yield Call("list_paginated", kw)
                found = yield from self._fetch(ns, pids)
                rows = [found[p] for p in pids if p in found]
            else:
                kw = {"filter": flt, "namespace": ns, "limit": want}
                if token:
                    kw["pagination_token"] = token
                got, token = yield Call("fetch_by_metadata", kw)
                rows = list(got.values())
            records += [self._decode(space, v, md, include_vectors) for v, md in rows]
            if not token:
                break
        return Page(records, json.dumps([_CURSOR_TAG, token]) if token else None)

    def search(
        self,
        collection: str,
        vector: Sequence[float],
        k: int,
        where: FilterNode | None,
        include_vectors: bool = False,
    ) -> Op[list[Hit]]:
        flt = self._translate(where)
        space = yield from self._space(collection)
        if space is None or flt is f.NEVER:
            return []
        ns = self._vec_ns(collection)
        top_k = min(k, MAX_TOP_K)
        with_data = top_k <= MAX_TOP_K_WITH_DATA
        kw: dict[str, Any] = {
            "vector": space.query(vector),
            "top_k": top_k,
            "namespace": ns,
            "include_metadata": with_data,
            "include_values": with_data and include_vectors and not space.normalize,
        }
        if flt is not f.ALWAYS:
            kw["filter"] = flt
        matches = yield Call("query", kw)
        if not with_data:  # ids only: the records come by fetch
            found = yield from self._fetch(ns, [m[0] for m in matches])
            matches = [(p, s, *found[p]) for p, s, _, _ in matches if p in found]
        return [
            (self._decode(space, values, md, include_vectors), space.distance(score, vector))
            for _, score, values, md in matches
        ]

    # ------------------------------------------------------------ chat
    @staticmethod
    def _session(namespace: str, session_id: str) -> str:
        return f"{c.short(namespace)}:{c.short(session_id)}"

    @non_idempotent
    def append_messages(
        self, namespace: str, session_id: str, messages: Sequence[Message], ttl: float | None = None
    ) -> Op[None]:
        if not messages:
            return
        ns = self._ns("chat")
        vec = yield from self._constant()
        sess = self._session(namespace, session_id)
        stamp, salt = _now_ns(), secrets.token_hex(4)
        vectors = []
        for i, msg in enumerate(messages):
            body = json.dumps(msg, ensure_ascii=False, separators=(",", ":"))
            md = c.check_metadata({c.META: body}, f"message {i} of session {session_id[:80]!r}")
            vectors.append({"id": c.check_id(f"m{sess}:{stamp:020d}{i:06d}{salt}"),
                            "values": vec, "metadata": md})
        marker = {"id": c.check_id(f"s{sess}"), "values": vec,
                  "metadata": {"_ns": namespace, "_sid": session_id}}
        yield from self._upsert(ns, [*vectors, marker])

    def _message_ids(self, namespace: str, session_id: str) -> Op[list[str]]:
        ids = yield from self._list(self._ns("chat"), f"m{self._session(namespace, session_id)}:")
        return sorted(ids)

    def get_messages(
        self, namespace: str, session_id: str, last_n: int | None = None
    ) -> Op[list[Message]]:
        ids = yield from self._message_ids(namespace, session_id)
        if last_n is not None:
            ids = ids[len(ids) - last_n:] if last_n else []
        found = yield from self._fetch(self._ns("chat"), ids)
        return [json.loads(found[i][1][c.META]) for i in ids if i in found]

    def clear_messages(self, namespace: str, session_id: str) -> Op[None]:
        ids = yield from self._message_ids(namespace, session_id)
        yield from self._delete_ids(self._ns("chat"),
                                    [f"s{self._session(namespace, session_id)}", *ids])

    def list_sessions(self, namespace: str) -> Op[list[str]]:
        ns = self._ns("chat")
        head = f"s{c.short(namespace)}:"
        pids = yield from self._list(ns, head)
        sessions, hashed = set(), []
        for p in pids:
            part = p[len(head):]
            if part.startswith("~"):
                hashed.append(p)
            else:
                sessions.add(c.dec(part))
        if hashed:
            found = yield from self._fetch(ns, hashed)
            sessions |= {str(md["_sid"]) for _, md in found.values() if md.get("_ns") == namespace}
        return sorted(sessions)

    # ------------------------------------------------------------ key-value
    @staticmethod
    def _kid(key: str) -> str:
        return c.short(key, 400)

    def _heads(self, ns: str, keys: Sequence[str]) -> Op[dict[str, dict[str, Any]]]:
        found = yield from self._fetch(ns, ["k" + self._kid(k) for k in keys])
        return {p: md for p, (_, md) in found.items()}

    @staticmethod
    def _chunk_ids(kid: str, md: dict[str, Any]) -> list[str]:
        return [f"c{kid}:{md.get('_ver')}:{i}" for i in range(1, int(md.get("_c", 1)))]

    def kv_put(
        self, collection: str, items: Sequence[tuple[str, bytes]], ttl: float | None = None
    ) -> Op[None]:
        ns = self._ns("kv", collection)
        vec = yield from self._constant()
        old = yield from self._heads(ns, [k for k, _ in items])
        chunks, heads, stale = [], [], []
        for key, value in items:
            kid, ver = self._kid(key), secrets.token_hex(6)
            parts = [value[i:i + c.KV_CHUNK] for i in range(0, len(value), c.KV_CHUNK)] or [b""]
            b64 = [base64.b64encode(p).decode("ascii") for p in parts]
            for i, data in enumerate(b64[1:], start=1):
                chunks.append({"id": c.check_id(f"c{kid}:{ver}:{i}"), "values": vec,
                               "metadata": {"_d": data}})
            md = c.check_metadata({"_k": key, "_ver": ver, "_c": len(parts), "_d": b64[0]},
                                  f"key {key[:80]!r}")
            heads.append({"id": c.check_id("k" + kid), "values": vec, "metadata": md})
            prev = old.get("k" + kid)
            if prev is not None:
                stale += self._chunk_ids(kid, prev)
        # Chunks first, then the heads naming them: a reader never sees a torn value.
        yield from self._upsert(ns, chunks)
        yield from self._upsert(ns, heads)
        yield from self._delete_ids(ns, stale)

    def kv_get(self, collection: str, keys: Sequence[str]) -> Op[list[bytes | None]]:
        ns = self._ns("kv", collection)
        heads = yield from self._heads(ns, keys)
        extra = [cid for p, md in heads.items() for cid in self._chunk_ids(p[1:], md)]
        parts: dict[str, Any] = (yield from self._fetch(ns, extra)) if extra else {}
        out: list[bytes | None] = []
        for key in keys:
            kid = self._kid(key)
            md = heads.get("k" + kid)
            if md is None or md.get("_k") != key:
                out.append(None)
                continue
            data = [str(md.get("_d", ""))]
            for cid in self._chunk_ids(kid, md):
                data.append(str(parts[cid][1]["_d"]) if cid in parts else "")
            out.append(b"".join(base64.b64decode(d) for d in data))
        return out

    def kv_delete(self, collection: str, keys: Sequence[str]) -> Op[None]:
        ns = self._ns("kv", collection)
        heads = yield from self._heads(ns, keys)
        ids = list(heads)
        for p, md in heads.items():
            ids += self._chunk_ids(p[1:], md)
        yield from self._delete_ids(ns, ids)

    def kv_keys(self, collection: str, prefix: str | None = None) -> Op[list[str]]:
        ns = self._ns("kv", collection)
        readable = yield from self._list(ns, "k" + c.enc(prefix or ""))
        keys = {c.dec(p[1:]) for p in readable if not p.startswith("k~")}
        hashed = yield from self._list(ns, "k~")
        if hashed:
            heads = yield from self._fetch(ns, hashed)
            keys |= {str(md["_k"]) for _, md in heads.values()}
        return sorted(k for k in keys if not prefix or k.startswith(prefix))
