"""A local stand-in for one Pinecone index's data plane, for tests.

It serves the REST calls the ``pinecone`` SDK's ``Index`` / ``IndexAsyncio`` make
(``/vectors/upsert``, ``/query``, ``/vectors/fetch``, ``/vectors/fetch_by_metadata``,
``/vectors/list``, ``/vectors/update``, ``/vectors/delete``, ``/describe_index_stats``),
checks every request body against the OpenAPI models shipped inside the SDK
(``pinecone.core.openapi.db_data.model``: unknown fields, types, required fields,
documented bounds) and Pinecone's documented limits (1 000 records and 2 MB per
upsert, ids of at most 512 bytes, 40 KB of metadata per record, metadata values
strings / numbers / booleans / lists of strings, the index's dimension, topK), and
implements Pinecone's documented semantics: namespaces, upsert replaces, metadata
filters evaluated here by its own evaluator of Pinecone's filter syntax (list fields
match ``$eq`` / ``$in`` when any element does), fetch, list by id prefix with
pagination, update (by id, or by filter with ``dryRun`` counting matches), delete by
ids / filter / ``deleteAll``, and stats. Scores: cosine similarity, dot product, or
the squared euclidean distance (ascending), computed in float32 like the service.

What it does not prove: Pinecone's eventual consistency (here every write is
visible at once), its approximate search (here exact), rate limits, and any
behaviour its documentation leaves open (e.g. ``$ne`` on an absent field: the
backend never depends on it).
"""

from __future__ import annotations

import base64
import json
import math
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
from pinecone.core.openapi.db_data.model.delete_request import DeleteRequest
from pinecone.core.openapi.db_data.model.describe_index_stats_request import (
    DescribeIndexStatsRequest,
)
from pinecone.core.openapi.db_data.model.fetch_by_metadata_request import FetchByMetadataRequest
from pinecone.core.openapi.db_data.model.query_request import QueryRequest
from pinecone.core.openapi.db_data.model.update_request import UpdateRequest
from pinecone.core.openapi.db_data.model.upsert_request import UpsertRequest
from pinecone.core.openapi.db_data.model.vector import Vector
from pinecone.openapi_support.api_version import API_VERSION
from typing_extensions import Self

MAX_BATCH, MAX_REQUEST_BYTES, MAX_ID_BYTES, MAX_METADATA_BYTES = 1000, 2 * 1024 * 1024, 512, 40960


class Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def validate(model: Any, body: Any, path: str = "") -> None:
    """Check ``body`` (camelCase JSON) against an SDK OpenAPI model: no unknown field,
    required fields present, types and documented bounds respected."""
    if not isinstance(body, dict):
        raise Refused(400, f"{path or model.__name__}: expected an object")
    names = {v: k for k, v in model.attribute_map.items()}
    unknown = set(body) - set(names)
    if unknown:
        raise Refused(400, f"{model.__name__}: unknown fields {sorted(unknown)}")
    try:
        model(**{names[k]: v for k, v in body.items()}, _check_type=True)
    except TypeError as exc:
        raise Refused(400, f"{model.__name__}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - the SDK's validation errors vary
        raise Refused(400, f"{model.__name__}: {type(exc).__name__}: {exc}") from None


# ------------------------------------------------------------------ Pinecone filters
def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _eq(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if _num(a) and _num(b):
        return float(a) == float(b)
    return isinstance(a, str) and isinstance(b, str) and a == b


def _op(op: str, operand: Any, present: bool, value: Any) -> bool:
    if op == "$exists":
        if not isinstance(operand, bool):
            raise Refused(400, "$exists takes true or false")
        return present == operand
    if op in ("$in", "$nin"):
        if not isinstance(operand, list) or not all(isinstance(x, (str, int, float))
                                                    and not isinstance(x, bool) for x in operand):
            raise Refused(400, f"{op} takes a list of strings or numbers")
    elif op in ("$gt", "$gte", "$lt", "$lte"):
        if not _num(operand):
            raise Refused(400, f"{op} takes a number")
    elif op in ("$eq", "$ne"):
        if not isinstance(operand, (str, int, float, bool)):
            raise Refused(400, f"{op} takes a string, number or boolean")
    else:
        raise Refused(400, f"unknown filter operator {op}")
    elems = value if isinstance(value, list) else [value]
    if op == "$eq":
        return present and any(_eq(e, operand) for e in elems)
    if op == "$ne":
        return not present or not any(_eq(e, operand) for e in elems)
    if op == "$in":
        return present and any(_eq(e, o) for e in elems for o in operand)
    if op == "$nin":
        return not present or not any(_eq(e, o) for e in elems for o in operand)
    if not present or not _num(value):
        return False
    x, y = float(value), float(operand)
    return {"$gt": x > y, "$gte": x >= y, "$lt": x < y, "$lte": x <= y}[op]


def matches(flt: Any, md: dict[str, Any]) -> bool:
    """Pinecone's filter semantics, implemented independently of any translator."""
    if not isinstance(flt, dict):
        raise Refused(400, "a filter is an object")
    for key, cond in flt.items():
        if key in ("$and", "$or"):
            if not isinstance(cond, list) or not cond:
                raise Refused(400, f"{key} takes a non-empty list")
            results = [matches(c, md) for c in cond]
            if not (all(results) if key == "$and" else any(results)):
                return False
            continue
        if key.startswith("$"):
            raise Refused(400, f"unknown filter operator {key}")
        present, value = key in md, md.get(key)
        if isinstance(cond, dict):
            if not cond:
                raise Refused(400, f"empty condition on {key}")
            if not all(_op(op, operand, present, value) for op, operand in cond.items()):
                return False
        elif not _op("$eq", cond, present, value):
            return False
    return True


# ------------------------------------------------------------------ the index
class Index:
    def __init__(self, dimension: int, metric: str) -> None:
        self.dimension, self.metric = dimension, metric
        self.spaces: dict[str, dict[str, tuple[np.ndarray, dict[str, Any]]]] = {}
        self.lock = threading.Lock()

    def check_metadata(self, rid: str, md: Any) -> dict[str, Any]:
        if md is None:
            return {}
        for k, v in md.items():
            ok = isinstance(v, (str, bool, int, float)) or (
                isinstance(v, list) and all(isinstance(x, str) for x in v))
            if not ok:
                raise Refused(400, f"Metadata value for field {k} of {rid} must be a string, "
                                   f"number, boolean or list of strings")
        size = len(json.dumps(md, ensure_ascii=False, separators=(",", ":")).encode())
        if size > MAX_METADATA_BYTES:
            raise Refused(400, f"Metadata size is {size} bytes, which exceeds the limit of "
                               f"{MAX_METADATA_BYTES} bytes per vector")
        return {k: (float(v) if _num(v) else v) for k, v in md.items()}

    def check_id(self, rid: Any) -> str:
        if not isinstance(rid, str) or not rid or len(rid.encode()) > MAX_ID_BYTES:
            raise Refused(400, f"Vector ID must be 1-{MAX_ID_BYTES} bytes")
        if not rid.isascii():
            raise Refused(400, f"Vector ID must be ASCII, but got '{rid}'")
        return rid

    def check_values(self, values: Any) -> np.ndarray:
        if not isinstance(values, list) or len(values) != self.dimension:
            raise Refused(400, f"Vector dimension {len(values or [])} does not match the "
                               f"dimension of the index {self.dimension}")
        arr = np.asarray(values, dtype=np.float32)
        if not np.all(np.isfinite(arr)):
            raise Refused(400, "vector values must be finite")
        if self.metric == "cosine" and not np.any(arr):
            raise Refused(400, "Dense vectors must contain at least one non-zero value")
        return arr

    def score(self, q: np.ndarray, x: np.ndarray) -> float:
        if self.metric == "euclidean":
            d = (q - x).astype(np.float32)
            return float(np.dot(d, d))
        dot = float(np.dot(q, x))
        if self.metric == "cosine":
            return dot / float(np.linalg.norm(q) * np.linalg.norm(x))
        return dot


def _token(last: str) -> str:
    return base64.urlsafe_b64encode(json.dumps(last).encode()).decode()


def _untoken(tok: str) -> str:
    try:
        return str(json.loads(base64.urlsafe_b64decode(tok.encode())))
    except (ValueError, TypeError):
        raise Refused(400, "invalid pagination token") from None


class PineconeStandIn:
    """One index's data plane on 127.0.0.1 (``url`` is ``pinecone+http://127.0.0.1:P``)."""

    def __init__(self, dimension: int = 64, metric: str = "dotproduct",
                 api_key: str = "standin-key", port: int = 0,
                 missing_namespace_404: bool = False, filter_writes: bool = True) -> None:
        """``missing_namespace_404``: reads of a namespace that does not exist answer 404
        (Pinecone's documentation leaves open whether they do or read as empty)."""
        self.index = Index(dimension, metric)
        self.missing_namespace_404 = missing_namespace_404
        #: False: refuse update and delete by filter (400), as indexes without them do.
        self.filter_writes = filter_writes
        self.api_key = api_key
        self.requests: list[tuple[str, str]] = []
        self.upsert_sizes: list[int] = []
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                # Headers and body go out in two writes: without this, Nagle's algorithm
                # and the client's delayed ACK add 40 ms to every reply.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def _reply(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self, method: str) -> None:
                url = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    if self.headers.get("Api-Key") != standin.api_key:
                        raise Refused(401, "Invalid API Key")
                    if self.headers.get("X-Pinecone-API-Version") != API_VERSION:
                        raise Refused(400, f"expected X-Pinecone-API-Version {API_VERSION}")
                    if len(raw) > MAX_REQUEST_BYTES:
                        raise Refused(413, f"request of {len(raw)} bytes exceeds the 2 MB limit")
                    body = json.loads(raw) if raw else {}
                    standin.requests.append((method, url.path))
                    reply = standin.dispatch(method, url.path, parse_qs(url.query), body)
                    self._reply(200, reply)
                except Refused as exc:
                    self._reply(exc.status, {"code": exc.status, "message": str(exc)})
                except ValueError as exc:
                    self._reply(400, {"code": 3, "message": f"bad JSON: {exc}"})

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def host(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"pinecone+http://:{self.api_key}@127.0.0.1:{self.port}"

    def start(self) -> PineconeStandIn:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------ calls
    def dispatch(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> Any:
        ix = self.index
        with ix.lock:
            ns = body.get("namespace", "") if method == "POST" else query.get("namespace",
                                                                                [""])[0]
            if (self.missing_namespace_404 and ns not in ix.spaces
                    and path not in ("/vectors/upsert", "/describe_index_stats")):
                raise Refused(404, f"Namespace {ns} not found")
            if (method, path) == ("POST", "/vectors/upsert"):
                return self._upsert(body)
            if (method, path) == ("POST", "/query"):
                return self._query(body)
            if (method, path) == ("GET", "/vectors/fetch"):
                ns = query.get("namespace", [""])[0]
                ids = query.get("ids", [])
                if not ids:
                    raise Refused(400, "ids are required")
                space = ix.spaces.get(ns, {})
                return {"vectors": {i: self._vec(i, space[i], True, True)
                                    for i in ids if i in space},
                        "namespace": ns, "usage": {"readUnits": 1}}
            if (method, path) == ("POST", "/vectors/fetch_by_metadata"):
                validate(FetchByMetadataRequest, body)
                ns = body.get("namespace", "")
                space = ix.spaces.get(ns, {})
                ids = sorted(i for i, (_, md) in space.items() if matches(body["filter"], md))
                return self._page(ids, body.get("limit", 100), body.get("paginationToken"),
                                  ns, lambda page: {"vectors": {
                                      i: self._vec(i, space[i], True, True) for i in page}})
            if (method, path) == ("GET", "/vectors/list"):
                ns = query.get("namespace", [""])[0]
                prefix = query.get("prefix", [""])[0]
                limit = int(query.get("limit", ["100"])[0])
                if not 1 <= limit <= 100:
                    raise Refused(400, "limit must be between 1 and 100")
                ids = sorted(i for i in ix.spaces.get(ns, {}) if i.startswith(prefix))
                token = query.get("paginationToken", [None])[0]
                return self._page(ids, limit, token, ns,
                                  lambda page: {"vectors": [{"id": i} for i in page]})
            if (method, path) == ("POST", "/vectors/update"):
                return self._update(body)
            if (method, path) == ("POST", "/vectors/delete"):
                return self._delete(body)
            if (method, path) == ("POST", "/describe_index_stats"):
                validate(DescribeIndexStatsRequest, body)
                if body.get("filter") is not None:
                    raise Refused(400, "serverless indexes do not support describe_index_stats "
                                       "with a filter")
                counts = {ns: {"vectorCount": len(s)} for ns, s in ix.spaces.items() if s}
                return {"namespaces": counts, "dimension": ix.dimension, "indexFullness": 0.0,
                        "totalVectorCount": sum(v["vectorCount"] for v in counts.values()),
                        "metric": ix.metric, "vectorType": "dense"}
        raise Refused(404, f"no route {method} {path}")

    @staticmethod
    def _vec(i: str, row: tuple[np.ndarray, dict[str, Any]], values: bool, md: bool) -> Any:
        out: dict[str, Any] = {"id": i}
        if values:
            out["values"] = [float(x) for x in row[0]]
        if md and row[1]:
            out["metadata"] = row[1]
        return out

    @staticmethod
    def _page(ids: list[str], limit: int, token: str | None, ns: str, make: Any) -> Any:
        if token:
            last = _untoken(token)
            ids = [i for i in ids if i > last]
        page = ids[:limit]
        out = make(page)
        out.update({"namespace": ns, "usage": {"readUnits": 1}})
        if len(ids) > limit:
            out["pagination"] = {"next": _token(page[-1])}
        return out

    def _upsert(self, body: Any) -> Any:
        validate(UpsertRequest, {**body, "vectors": []})
        vectors = body.get("vectors")
        if not isinstance(vectors, list) or not vectors:
            raise Refused(400, "vectors must be a non-empty list")
        if len(vectors) > MAX_BATCH:
            raise Refused(400, f"a request holds at most {MAX_BATCH} vectors, got {len(vectors)}")
        self.upsert_sizes.append(len(vectors))
        rows = {}
        for v in vectors:
            validate(Vector, v)
            rid = self.index.check_id(v.get("id"))
            rows[rid] = (self.index.check_values(v.get("values")),
                         self.index.check_metadata(rid, v.get("metadata")))
        self.index.spaces.setdefault(body.get("namespace", ""), {}).update(rows)
        return {"upsertedCount": len(rows)}

    def _query(self, body: Any) -> Any:
        validate(QueryRequest, body)
        ix = self.index
        top_k = body["topK"]
        if (body.get("includeMetadata") or body.get("includeValues")) and top_k > 1000:
            raise Refused(400, "topK must be at most 1000 when including metadata or values")
        if "vector" not in body:
            raise Refused(400, "this stand-in answers queries by vector only")
        q = ix.check_values(body["vector"])
        ns = body.get("namespace", "")
        flt = body.get("filter")
        rows = [(i, r) for i, r in ix.spaces.get(ns, {}).items()
                if flt is None or matches(flt, r[1])]
        scored = [(ix.score(q, r[0]), i, r) for i, r in rows]
        scored.sort(key=lambda t: (t[0] if ix.metric == "euclidean" else -t[0], t[1]))
        out = []
        for s, i, r in scored[:top_k]:
            m = self._vec(i, r, bool(body.get("includeValues")), bool(body.get("includeMetadata")))
            m["score"] = s if math.isfinite(s) else 0.0
            if "values" not in m:
                m["values"] = []
            out.append(m)
        return {"matches": out, "namespace": ns, "usage": {"readUnits": 5}}

    def _update(self, body: Any) -> Any:
        validate(UpdateRequest, body)
        ns = body.get("namespace", "")
        space = self.index.spaces.get(ns, {})
        if ("id" in body) == ("filter" in body):
            raise Refused(400, "update takes either id or filter")
        if "filter" in body:
            if not self.filter_writes:
                raise Refused(400, "update by metadata filter is not supported on this index")
            hit = [i for i, (_, md) in space.items() if matches(body["filter"], md)]
            if not body.get("dryRun"):
                for i in hit:
                    vec, md = space[i]
                    space[i] = (vec, {**md, **self.index.check_metadata(
                        i, body.get("setMetadata") or {})})
            return {"matchedRecords": len(hit)}
        rid = body["id"]
        if rid not in space:
            raise Refused(404, f"vector {rid} not found")
        vec, md = space[rid]
        if "values" in body:
            vec = self.index.check_values(body["values"])
        md = {**md, **self.index.check_metadata(rid, body.get("setMetadata") or {})}
        space[rid] = (vec, md)
        return {}

    def _delete(self, body: Any) -> Any:
        validate(DeleteRequest, body)
        ns = body.get("namespace", "")
        modes = [k for k in ("ids", "deleteAll", "filter") if body.get(k)]
        if len(modes) != 1:
            raise Refused(400, "delete takes exactly one of ids, deleteAll, filter")
        if ns not in self.index.spaces:
            raise Refused(404, "Namespace not found")
        space = self.index.spaces[ns]
        if body.get("deleteAll"):
            space.clear()
        elif body.get("ids"):
            if len(body["ids"]) > 1000:
                raise Refused(400, "delete takes at most 1000 ids")
            for i in body["ids"]:
                space.pop(i, None)
        else:
            if not self.filter_writes:
                raise Refused(400, "delete by metadata filter is not supported on this index")
            for i in [i for i, (_, md) in space.items() if matches(body["filter"], md)]:
                del space[i]
        if not space:
            del self.index.spaces[ns]
        return {}
