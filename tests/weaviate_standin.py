"""A local stand-in for a Weaviate server, built from the client's own protocol definitions.

No Weaviate server can run on the test machines (embedded mode downloads a binary),
so the Weaviate backend is tested against this process-local server. It speaks the
two protocols weaviate-client 4.x uses:

* **gRPC**: the ``weaviate.v1.Weaviate`` service, implemented by subclassing the
  generated ``WeaviateServicer`` shipped in the client wheel
  (``weaviate/proto/v1/.../weaviate_pb2_grpc.py``), so every request is parsed by the
  real protobuf classes; ``grpc.health.v1.Health/Check`` with the client's own health
  messages. Implemented: ``BatchObjects``, ``Search`` (filters, ``near_vector``,
  ``bm25``, ``hybrid``, ``sort_by``, ``after``), ``BatchDelete``, ``Aggregate``
  (object counts). Any request field it does not implement is refused with
  ``UNIMPLEMENTED``, never ignored.
* **REST** (JSON over HTTP): ``GET /v1/meta``, ``GET /v1/.well-known/openid-configuration``
  (404: no OIDC), ``GET``/``POST /v1/schema``, ``GET``/``DELETE /v1/schema/{Class}``,
  ``POST /v1/schema/{Class}/properties``, ``POST /v1/objects`` (refuses an existing
  id with 422, as Weaviate does).

Semantics follow Weaviate's documentation for what the backend uses: typed
properties (a value of the wrong type is refused per object), ``field`` tokenization
(whole value, surrounding whitespace trimmed) and ``word`` tokenization (runs of
letters and digits, lower-cased), filters (Equal, NotEqual, range, Like, ContainsAny /
ContainsAll / ContainsNone, IsNull, And, Or, Not as the full complement), distances
per metric (cosine ``1 - cos``, dot ``-a·b``, l2-squared), BM25 with Weaviate's
defaults (k1 = 1.2, b = 0.75, idf ``ln(1 + (N - n + 0.5) / (n + 0.5))``) and its
And/Or operators, hybrid search with relative-score fusion (each side min-max
normalised, weighted by alpha; Weaviate's default) or ranked fusion
(``alpha / (60 + rank)`` summed, ranks from 0), sub-searches of at least 100
candidates each, and the
10 000-object limit per query and per batch delete (``QUERY_MAXIMUM_RESULTS``).

What it is not: vector search here is exact (brute force) where Weaviate's HNSW is
approximate; BM25 statistics are computed over the whole class as one shard, where
Weaviate keeps them per shard (with deleted objects counted until compaction), so
scores agree in order on simple cases but not to the digit; there is no
persistence, replication, multi-tenancy, vectorizer module or authentication beyond
one static API key. docs/backends/weaviate.md says what this proves.

Run one by hand with ``python tests/weaviate_standin.py`` (prints its URL).
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import socket
import struct
import threading
import time
import uuid as uuidlib
from concurrent import futures
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
from google.protobuf import struct_pb2
from weaviate.proto.v1 import (
    aggregate_pb2,
    base_pb2,
    base_search_pb2,
    batch_delete_pb2,
    batch_pb2,
    health_weaviate_pb2,
    properties_pb2,
    search_get_pb2,
    weaviate_pb2_grpc,
)

__all__ = ["WeaviateStandIn"]

VERSION = "1.33.0"
QUERY_DEFAULTS_LIMIT = 10
QUERY_MAXIMUM_RESULTS = 10_000
HYBRID_DEFAULT_LIMIT = 100
K1, B = 1.2, 0.75
_CLASS_NAME = re.compile(r"^[A-Z][_0-9A-Za-z]*$")
_PROP_NAME = re.compile(r"^[_A-Za-z][_0-9A-Za-z]{0,230}$")
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_SCALAR_TYPES = {"text", "int", "number", "boolean"}
_ARRAY_TYPES = {"text[]", "int[]", "number[]", "boolean[]"}


class _Refused(Exception):
    """A request Weaviate would refuse: becomes a gRPC status or an HTTP error."""

    def __init__(self, message: str, code: grpc.StatusCode = grpc.StatusCode.INVALID_ARGUMENT,
                 http: int = 422) -> None:
        super().__init__(message)
        self.code = code
        self.http = http


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ================================================================== schema defaults
# What Weaviate 1.33 fills in for a class created without these settings (its
# documented defaults); the client reads them back when it parses a configuration.
_QUANTIZERS = {
    "pq": {"enabled": False, "bitCompression": False, "segments": 0, "centroids": 256,
           "trainingLimit": 100000, "encoder": {"type": "kmeans", "distribution": "log-normal"}},
    "bq": {"enabled": False},
    "sq": {"enabled": False, "trainingLimit": 100000, "rescoreLimit": 20},
    "rq": {"enabled": False, "bits": 8, "rescoreLimit": 20},
}
_INDEX_DEFAULTS = {
    "hnsw": {"skip": False, "cleanupIntervalSeconds": 300, "maxConnections": 32,
             "efConstruction": 128, "ef": -1, "dynamicEfMin": 100, "dynamicEfMax": 500,
             "dynamicEfFactor": 8, "vectorCacheMaxObjects": 1000000000000,
             "flatSearchCutoff": 40000, "distance": "cosine", "filterStrategy": "sweeping",
             **_QUANTIZERS},
    "flat": {"distance": "cosine", "vectorCacheMaxObjects": 1000000000000,
             **_QUANTIZERS, "bq": {"enabled": False, "rescoreLimit": -1, "cache": False}},
}
_CLASS_DEFAULTS = {
    "invertedIndexConfig": {"bm25": {"b": B, "k1": K1}, "cleanupIntervalSeconds": 60,
                            "stopwords": {"preset": "en", "additions": None, "removals": None},
                            "indexTimestamps": False, "indexNullState": False,
                            "indexPropertyLength": False, "usingBlockMaxWAND": True},
    "multiTenancyConfig": {"enabled": False, "autoTenantCreation": False,
                           "autoTenantActivation": False},
    "replicationConfig": {"factor": 1, "asyncEnabled": False,
                          "deletionStrategy": "NoAutomatedResolution"},
    "shardingConfig": {"virtualPerPhysical": 128, "desiredCount": 1, "actualCount": 1,
                       "desiredVirtualCount": 128, "actualVirtualCount": 128, "key": "_id",
                       "strategy": "hash", "function": "murmur3"},
}


def _merged(default: Any, given: Any) -> Any:
    if isinstance(default, dict) and isinstance(given, dict):
        out = dict(default)
        for k, v in given.items():
            out[k] = _merged(default.get(k), v) if v is not None or k not in default else out[k]
        return out
    return default if given is None else given


def _property_defaults(p: dict[str, Any]) -> dict[str, Any]:
    dtype = (p.get("dataType") or [""])[0]
    out = {"indexFilterable": True, "indexRangeFilters": False,
           "indexSearchable": dtype in ("text", "text[]"), **p}
    if dtype in ("text", "text[]"):
        out.setdefault("tokenization", "word")
    return out


def _class_defaults(body: dict[str, Any]) -> dict[str, Any]:
    schema = _merged(_CLASS_DEFAULTS, body)
    schema["properties"] = [_property_defaults(p) for p in body.get("properties") or []]
    for v in (schema.get("vectorConfig") or {}).values():
        kind = v.setdefault("vectorIndexType", "hnsw")
        if kind not in _INDEX_DEFAULTS:
            raise _Refused(f"the stand-in does not implement the {kind} index", http=422)
        v["vectorIndexConfig"] = _merged(_INDEX_DEFAULTS[kind], v.get("vectorIndexConfig") or {})
    if not schema.get("vectorConfig"):
        schema.setdefault("vectorizer", "none")
    return schema


# ================================================================== data model
@dataclass
class _Object:
    uuid: str
    props: dict[str, Any]
    vector: list[float] | None
    created: int


@dataclass
class _Class:
    schema: dict[str, Any]
    objects: dict[str, _Object] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return str(self.schema["class"])

    def prop(self, name: str) -> dict[str, Any]:
        for p in self.schema.get("properties", []):
            if p["name"] == name:
                return dict(p)
        raise _Refused(f"no such prop with name '{name}' found in class '{self.name}' "
                       f"in the schema. Check your schema files for which properties in "
                       f"this class are available")

    def data_type(self, name: str) -> str:
        return str(self.prop(name)["dataType"][0])

    def metric(self) -> str:
        cfg = self.schema.get("vectorConfig") or {}
        for v in cfg.values():
            return str((v.get("vectorIndexConfig") or {}).get("distance", "cosine"))
        return str((self.schema.get("vectorIndexConfig") or {}).get("distance", "cosine"))

    def dimension(self) -> int | None:
        for o in self.objects.values():
            if o.vector is not None:
                return len(o.vector)
        return None


def _tokens(value: str, tokenization: str) -> list[str]:
    if tokenization == "field":
        v = value.strip()
        return [v] if v else []
    if tokenization == "word":
        return [w.lower() for w in _WORD.findall(value)]
    raise _Refused(f"the stand-in does not implement {tokenization!r} tokenization",
                   grpc.StatusCode.UNIMPLEMENTED, 501)


def _coerce(cls: _Class, name: str, value: Any) -> Any:
    """A property value checked against its schema type, as Weaviate refuses mismatches."""
    if not _PROP_NAME.match(name):
        raise _Refused(f"'{name}' is not a valid property name")
    dtype = cls.data_type(name)
    def bad() -> _Refused:
        return _Refused(f"invalid {dtype} property '{name}' on class '{cls.name}': "
                        f"requires a {dtype}, got {type(value).__name__}")
    if dtype == "text":
        if not isinstance(value, str):
            raise bad()
        return value
    if dtype == "boolean":
        if not isinstance(value, bool):
            raise bad()
        return value
    if dtype == "int":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
            raise bad()
        return int(value)
    if dtype == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad()
        return float(value)
    if dtype in _ARRAY_TYPES:
        if not isinstance(value, list):
            raise bad()
        inner = dtype[:-2]
        out = []
        for v in value:
            if inner == "text" and not isinstance(v, str):
                raise bad()
            if inner == "boolean" and not isinstance(v, bool):
                raise bad()
            if inner in ("int", "number") and (isinstance(v, bool) or not isinstance(
                    v, (int, float))):
                raise bad()
            out.append(int(v) if inner == "int" else float(v) if inner == "number" else v)
        return out
    raise _Refused(f"the stand-in does not implement data type {dtype!r}",
                   grpc.StatusCode.UNIMPLEMENTED, 501)


# ================================================================== the server state
class _State:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.classes: dict[str, _Class] = {}
        self.requests: list[str] = []  # what was called, for tests

    def get_class(self, name: str) -> _Class:
        # Weaviate capitalises the first letter of a class name it is given.
        key = name[:1].upper() + name[1:]
        cls = self.classes.get(key)
        if cls is None:
            raise _Refused(f"could not find class {name} in schema", grpc.StatusCode.NOT_FOUND,
                           404)
        return cls

    # ------------------------------------------------------------ schema (REST)
    def create_class(self, body: dict[str, Any]) -> dict[str, Any]:
        name = str(body.get("class", ""))
        if not _CLASS_NAME.match(name):
            raise _Refused(f"'{name}' is not a valid class name", http=422)
        if any(n.lower() == name.lower() for n in self.classes):
            raise _Refused(f"class name {name} already exists", http=422)
        for p in body.get("properties", []):
            self._check_property(p)
        schema = _class_defaults(body)
        self.classes[name] = _Class(schema)
        return schema

    def _check_property(self, p: dict[str, Any]) -> None:
        name = str(p.get("name", ""))
        if not _PROP_NAME.match(name) or name in ("id", "_id", "_additional"):
            raise _Refused(f"'{name}' is not a valid property name", http=422)
        dtype = (p.get("dataType") or [""])[0]
        if dtype not in _SCALAR_TYPES | _ARRAY_TYPES | {"blob"}:
            raise _Refused(f"the stand-in does not implement data type {dtype!r}", http=422)

    def add_property(self, cls_name: str, body: dict[str, Any]) -> dict[str, Any]:
        cls = self.get_class(cls_name)
        self._check_property(body)
        if any(p["name"].lower() == str(body["name"]).lower()
               for p in cls.schema["properties"]):
            raise _Refused(f"property '{body['name']}' already exists", http=422)
        cls.schema["properties"].append(_property_defaults(body))
        return _property_defaults(body)

    # ------------------------------------------------------------ objects
    def put_object(self, cls: _Class, oid: str, props: dict[str, Any],
                   vector: list[float] | None, create_only: bool = False) -> None:
        oid = str(uuidlib.UUID(oid))
        if create_only and oid in cls.objects:
            raise _Refused(f"id '{oid}' already exists", http=422)
        checked = {k: _coerce(cls, k, v) for k, v in props.items() if v is not None}
        if vector is not None:
            dim = cls.dimension()
            old = cls.objects.get(oid)
            others = [o for o in cls.objects.values() if o.vector is not None and o is not old]
            if others and dim is not None and len(vector) != len(others[0].vector or []):
                raise _Refused(f"new node has a vector with length {len(vector)}. Existing "
                               f"nodes have vectors with length {len(others[0].vector or [])}")
        cls.objects[oid] = _Object(oid, checked, vector, int(time.time() * 1000))


# ================================================================== filters
def _filter_value(f: base_pb2.Filters) -> Any:
    kind = f.WhichOneof("test_value")
    if kind is None:
        raise _Refused("filter without a value")
    v = getattr(f, kind)
    if kind.endswith("_array"):
        return list(v.values)
    return v


def _filter_prop(f: base_pb2.Filters) -> str:
    if f.HasField("target"):
        if f.target.WhichOneof("target") != "property":
            raise _Refused("the stand-in implements filters on properties and ids only",
                           grpc.StatusCode.UNIMPLEMENTED)
        return str(f.target.property)
    if len(f.on) != 1:
        raise _Refused("filter path must name one property")
    return str(f.on[0])


def _like(pattern: str, value: str) -> bool:
    # Weaviate's Like: '*' any run, '?' one character; nothing else is special.
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.DOTALL) is not None


def _matches(cls: _Class, f: base_pb2.Filters, obj: _Object,
             memo: dict[int, Any] | None = None) -> bool:
    memo = {} if memo is None else memo
    op = f.operator
    Ops = base_pb2.Filters
    if op == Ops.OPERATOR_AND:
        return all(_matches(cls, c, obj, memo) for c in f.filters)
    if op == Ops.OPERATOR_OR:
        return any(_matches(cls, c, obj, memo) for c in f.filters)
    if op == Ops.OPERATOR_NOT:
        if len(f.filters) != 1:
            raise _Refused("Not takes exactly one filter")
        return not _matches(cls, f.filters[0], obj, memo)
    name = _filter_prop(f)
    if name in ("_id", "id"):
        values = memo.get(id(f))
        if values is None:  # parsed once per request, not once per object
            raw = _filter_value(f)
            values = memo[id(f)] = {str(uuidlib.UUID(v))
                                    for v in (raw if isinstance(raw, list) else [raw])}
        if op == Ops.OPERATOR_EQUAL:
            return obj.uuid in values
        if op == Ops.OPERATOR_NOT_EQUAL:
            return obj.uuid not in values
        if op == Ops.OPERATOR_CONTAINS_ANY:
            return obj.uuid in values
        if op == Ops.OPERATOR_CONTAINS_NONE:
            return obj.uuid not in values
        raise _Refused(f"operator {Ops.Operator.Name(op)} on the id", grpc.StatusCode.UNIMPLEMENTED)
    prop = cls.prop(name)
    dtype = str(prop["dataType"][0])
    tokenization = str(prop.get("tokenization") or "word")
    if dtype.startswith("text") and not prop.get("indexFilterable", True):
        raise _Refused(f"property '{name}' is not filterable")
    stored = obj.props.get(name)
    if op == Ops.OPERATOR_IS_NULL:
        want = _filter_value(f)
        missing = stored is None or stored == []
        return bool(missing == want)
    operand = _filter_value(f)
    if stored is None:
        # Missing values match nothing but the complement operators.
        return op in (Ops.OPERATOR_NOT_EQUAL, Ops.OPERATOR_CONTAINS_NONE)
    values = stored if isinstance(stored, list) else [stored]
    if dtype.startswith("text"):
        have = {t for v in values for t in _tokens(v, tokenization)}
        ops = operand if isinstance(operand, list) else [operand]
        if op == Ops.OPERATOR_LIKE:
            if tokenization != "field":
                raise _Refused("the stand-in implements Like on field tokenization only",
                               grpc.StatusCode.UNIMPLEMENTED)
            return any(_like(str(operand), v.strip()) for v in values)
        wanted = [t for o in ops for t in _tokens(str(o), tokenization)]
        if op == Ops.OPERATOR_EQUAL:
            return bool(wanted) and all(t in have for t in wanted)
        if op == Ops.OPERATOR_NOT_EQUAL:
            return not (bool(wanted) and all(t in have for t in wanted))
        if op == Ops.OPERATOR_CONTAINS_ANY:
            return any(t in have for t in wanted)
        if op == Ops.OPERATOR_CONTAINS_ALL:
            return all(t in have for t in wanted)
        if op == Ops.OPERATOR_CONTAINS_NONE:
            return not any(t in have for t in wanted)
        raise _Refused(f"operator {Ops.Operator.Name(op)} on a text property",
                       grpc.StatusCode.UNIMPLEMENTED)
    if dtype.startswith("boolean"):
        if not all(isinstance(o, bool) for o in (operand if isinstance(operand, list)
                                                  else [operand])):
            raise _Refused(f"data type filter cannot use a non-boolean value on '{name}'")
    elif isinstance(operand, bool) or (isinstance(operand, list) and any(
            isinstance(o, bool) for o in operand)):
        raise _Refused(f"data type filter cannot use a boolean value on '{name}'")
    ops = operand if isinstance(operand, list) else [operand]
    if op == Ops.OPERATOR_EQUAL:
        return any(v == ops[0] for v in values)
    if op == Ops.OPERATOR_NOT_EQUAL:
        return not any(v == ops[0] for v in values)
    if op == Ops.OPERATOR_CONTAINS_ANY:
        return any(v in ops for v in values)
    if op == Ops.OPERATOR_CONTAINS_ALL:
        return all(o in values for o in ops)
    if op == Ops.OPERATOR_CONTAINS_NONE:
        return not any(v in ops for v in values)
    if dtype.startswith("boolean"):
        raise _Refused("range operators on a boolean property")
    cmp = {
        Ops.OPERATOR_GREATER_THAN: lambda a, b: a > b,
        Ops.OPERATOR_GREATER_THAN_EQUAL: lambda a, b: a >= b,
        Ops.OPERATOR_LESS_THAN: lambda a, b: a < b,
        Ops.OPERATOR_LESS_THAN_EQUAL: lambda a, b: a <= b,
    }.get(op)
    if cmp is None:
        raise _Refused(f"operator {Ops.Operator.Name(op)}", grpc.StatusCode.UNIMPLEMENTED)
    return any(cmp(v, ops[0]) for v in values)


def _select(cls: _Class, filters: base_pb2.Filters | None) -> list[_Object]:
    objs = list(cls.objects.values())
    if filters is None:
        return objs
    memo: dict[int, Any] = {}
    return [o for o in objs if _matches(cls, filters, o, memo)]


# ================================================================== vectors and ranking
def _unpack_vector(vectors: Any, vector_bytes: bytes, plain: Any) -> list[float] | None:
    for v in vectors:
        if v.type not in (base_pb2.Vectors.VECTOR_TYPE_UNSPECIFIED,
                          base_pb2.Vectors.VECTOR_TYPE_SINGLE_FP32):
            raise _Refused("the stand-in implements single vectors only",
                           grpc.StatusCode.UNIMPLEMENTED)
        if v.name not in ("", "default"):
            raise _Refused(f"unknown target vector {v.name!r}")
        return list(struct.unpack(f"<{len(v.vector_bytes) // 4}f", v.vector_bytes))
    if vector_bytes:
        return list(struct.unpack(f"<{len(vector_bytes) // 4}f", vector_bytes))
    if len(plain):
        return [float(x) for x in plain]
    return None


def _f32(v: list[float]) -> list[float]:
    return list(struct.unpack(f"<{len(v)}f", struct.pack(f"<{len(v)}f", *v)))


def _distance(metric: str, a: list[float], b: list[float]) -> float:
    if len(a) != len(b):
        raise _Refused(f"vector lengths don't match: {len(a)} vs {len(b)}")
    if metric == "l2-squared":
        return sum((x - y) ** 2 for x, y in zip(a, b, strict=True))
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    if metric == "dot":
        return -dot
    if metric == "cosine":
        na = math.sqrt(sum(x * x for x in a))
        nb = math.sqrt(sum(y * y for y in b))
        return 1.0 - dot / (na * nb) if na and nb else 1.0
    raise _Refused(f"the stand-in does not implement the {metric} distance",
                   grpc.StatusCode.UNIMPLEMENTED)


def _near(cls: _Class, vec: list[float], objs: list[_Object]) -> list[tuple[_Object, float]]:
    metric = cls.metric()
    hits = [(o, _distance(metric, _f32(vec), o.vector)) for o in objs if o.vector is not None]
    hits.sort(key=lambda h: h[1])
    return hits


def _bm25(cls: _Class, query: str, props: list[str], objs: list[_Object],
          operator: base_search_pb2.SearchOperatorOptions | None) -> list[tuple[_Object, float]]:
    """BM25 as Weaviate documents it, over the whole class as one shard."""
    if not props:
        props = [p["name"] for p in cls.schema["properties"]
                 if p["dataType"][0] in ("text", "text[]") and p.get("indexSearchable", True)]
    query_terms: list[str] = []
    per_prop_tok: dict[str, str] = {}
    for name in props:
        p = cls.prop(name)
        if not p.get("indexSearchable", True):
            raise _Refused(f"property '{name}' is not searchable")
        per_prop_tok[name] = str(p.get("tokenization") or "word")
    for name in props:
        query_terms += _tokens(query, per_prop_tok[name])
    terms = list(dict.fromkeys(query_terms))
    if not terms:
        return []
    stop = ((cls.schema.get("invertedIndexConfig") or {}).get("stopwords") or {}).get(
        "preset", "en")
    if stop != "none":
        raise _Refused("the stand-in implements the 'none' stopword preset only",
                       grpc.StatusCode.UNIMPLEMENTED)
    every = list(cls.objects.values())  # statistics over the whole class
    docs = {o.uuid: [t for n in props for v in ([o.props[n]] if isinstance(o.props.get(n), str)
                                                 else o.props.get(n) or [])
                     for t in _tokens(v, per_prop_tok[n])] for o in every}
    n_docs = len(every)
    avgdl = (sum(len(d) for d in docs.values()) / n_docs) if n_docs else 0.0
    df = {t: sum(1 for d in docs.values() if t in d) for t in terms}
    Ops = base_search_pb2.SearchOperatorOptions
    need = 1
    if operator is not None and operator.operator == Ops.OPERATOR_AND:
        need = len(terms)
    elif operator is not None and operator.operator == Ops.OPERATOR_OR and \
            operator.minimum_or_tokens_match:
        need = operator.minimum_or_tokens_match
    elif operator is not None and operator.operator not in (Ops.OPERATOR_UNSPECIFIED,
                                                             Ops.OPERATOR_OR):
        raise _Refused("the stand-in implements the And and Or BM25 operators",
                       grpc.StatusCode.UNIMPLEMENTED)
    hits = []
    for o in objs:
        d = docs[o.uuid]
        present = [t for t in terms if t in d]
        if not present or len(present) < need:
            continue
        score = 0.0
        for t in present:
            tf = d.count(t)
            idf = math.log(1 + (n_docs - df[t] + 0.5) / (df[t] + 0.5))
            score += idf * tf * (K1 + 1) / (tf + K1 * (1 - B + B * len(d) / (avgdl or 1.0)))
        hits.append((o, score))
    hits.sort(key=lambda h: -h[1])
    return hits


def _relative_fusion(alpha: float, vec: list[tuple[_Object, float]],
                     kw: list[tuple[_Object, float]]) -> list[tuple[_Object, float]]:
    """Weaviate's relativeScoreFusion: min-max normalise each side, weight, add."""
    out: dict[str, tuple[_Object, float]] = {}
    for weight, hits in ((alpha, [(o, 1.0 - d) for o, d in vec]), (1.0 - alpha, kw)):
        if not hits:
            continue
        hi = max(s for _, s in hits)
        lo = min(s for _, s in hits)
        for o, s in hits:
            score = weight * ((s - lo) / (hi - lo) if hi != lo else 1.0)
            prev = out.get(o.uuid)
            out[o.uuid] = (o, score + (prev[1] if prev else 0.0))
    return sorted(out.values(), key=lambda h: (-h[1], h[0].uuid))


def _ranked_fusion(alpha: float, vec: list[tuple[_Object, float]],
                   kw: list[tuple[_Object, float]]) -> list[tuple[_Object, float]]:
    """Weaviate's rankedFusion: weight / (60 + rank) summed over both lists, ranks from 0."""
    out: dict[str, tuple[_Object, float]] = {}
    for weight, hits in ((alpha, vec), (1.0 - alpha, kw)):
        for rank, (o, _) in enumerate(hits):
            prev = out.get(o.uuid)
            out[o.uuid] = (o, weight / (60 + rank) + (prev[1] if prev else 0.0))
    return sorted(out.values(), key=lambda h: (-h[1], h[0].uuid))


# ================================================================== replies
def _value(dtype: str, v: Any) -> properties_pb2.Value:
    if dtype == "text":
        return properties_pb2.Value(text_value=v)
    if dtype == "int":
        return properties_pb2.Value(int_value=v)
    if dtype == "number":
        return properties_pb2.Value(number_value=v)
    if dtype == "boolean":
        return properties_pb2.Value(bool_value=v)
    if dtype == "text[]":
        return properties_pb2.Value(list_value=properties_pb2.ListValue(
            text_values=properties_pb2.TextValues(values=v)))
    if dtype == "int[]":
        return properties_pb2.Value(list_value=properties_pb2.ListValue(
            int_values=properties_pb2.IntValues(values=struct.pack(f"<{len(v)}q", *v))))
    if dtype == "number[]":
        return properties_pb2.Value(list_value=properties_pb2.ListValue(
            number_values=properties_pb2.NumberValues(values=struct.pack(f"<{len(v)}d", *v))))
    if dtype == "boolean[]":
        return properties_pb2.Value(list_value=properties_pb2.ListValue(
            bool_values=properties_pb2.BoolValues(values=v)))
    raise _Refused(f"cannot return data type {dtype}", grpc.StatusCode.UNIMPLEMENTED)


def _result(cls: _Class, req: search_get_pb2.SearchRequest, obj: _Object,
            distance: float | None = None, score: float | None = None
            ) -> search_get_pb2.SearchResult:
    pr = req.properties
    if pr.ref_properties or pr.object_properties:
        raise _Refused("the stand-in returns no references or nested objects",
                       grpc.StatusCode.UNIMPLEMENTED)
    names = list(pr.non_ref_properties)
    if pr.return_all_nonref_properties or (not names and not req.HasField("properties")):
        names = [p["name"] for p in cls.schema["properties"] if p["dataType"][0] != "blob"]
    fields = {n: _value(cls.data_type(n), obj.props[n]) for n in names if n in obj.props}
    md = req.metadata
    meta = search_get_pb2.MetadataResult()
    # The id is always sent: the client reads it whatever it asked for.
    meta.id = obj.uuid
    meta.id_as_bytes = uuidlib.UUID(obj.uuid).bytes
    if (md.vector or list(md.vectors)) and obj.vector is not None:
        packed = struct.pack(f"<{len(obj.vector)}f", *obj.vector)
        meta.vectors.append(base_pb2.Vectors(
            name="default", vector_bytes=packed, type=base_pb2.Vectors.VECTOR_TYPE_SINGLE_FP32))
    if md.distance and distance is not None:
        meta.distance = distance
        meta.distance_present = True
    if md.score and score is not None:
        meta.score = score
        meta.score_present = True
    if md.creation_time_unix:
        meta.creation_time_unix = obj.created
        meta.creation_time_unix_present = True
    return search_get_pb2.SearchResult(
        properties=search_get_pb2.PropertiesResult(
            non_ref_props=properties_pb2.Properties(fields=fields),
            target_collection=cls.name,
        ),
        metadata=meta,
    )


def _struct_to_python(s: struct_pb2.Struct) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in s.fields.items():
        kind = v.WhichOneof("kind")
        if kind == "null_value":
            out[k] = None
        elif kind == "number_value":
            out[k] = v.number_value
        elif kind == "string_value":
            out[k] = v.string_value
        elif kind == "bool_value":
            out[k] = v.bool_value
        else:
            raise _Refused(f"the stand-in implements scalar properties only (got {kind} "
                           f"for '{k}')", grpc.StatusCode.UNIMPLEMENTED)
    return out


# ================================================================== gRPC service
_UNSUPPORTED_SEARCH = ("group_by", "near_object", "near_text", "near_image", "near_audio",
                       "near_video", "near_depth", "near_thermal", "near_imu", "generative",
                       "rerank", "boost")


class _Servicer(weaviate_pb2_grpc.WeaviateServicer):
    def __init__(self, state: _State, api_key: str | None) -> None:
        self.state = state
        self.api_key = api_key

    def _guard(self, context: grpc.ServicerContext, name: str) -> None:
        self.state.requests.append(f"grpc {name}")
        if self.api_key is not None:
            md = dict(context.invocation_metadata())
            if md.get("authorization") != f"Bearer {self.api_key}":
                context.abort(grpc.StatusCode.UNAUTHENTICATED, "unauthorized: invalid api key")

    def _run(self, context: grpc.ServicerContext, name: str, fn: Any) -> Any:
        self._guard(context, name)
        try:
            with self.state.lock:
                return fn()
        except _Refused as exc:
            context.abort(exc.code, str(exc))

    # -------------------------------------------------------------- BatchObjects
    def BatchObjects(self, request: batch_pb2.BatchObjectsRequest, context: Any) -> Any:
        def run() -> batch_pb2.BatchObjectsReply:
            errors = []
            for i, o in enumerate(request.objects):
                try:
                    if o.tenant:
                        raise _Refused("the stand-in has no multi-tenancy",
                                       grpc.StatusCode.UNIMPLEMENTED)
                    cls = self.state.get_class(o.collection)
                    p = o.properties
                    if (p.single_target_ref_props or p.multi_target_ref_props
                            or p.object_properties or p.object_array_properties):
                        raise _Refused("references and nested objects are not implemented",
                                       grpc.StatusCode.UNIMPLEMENTED)
                    props = _struct_to_python(p.non_ref_properties)
                    for a in p.text_array_properties:
                        props[a.prop_name] = list(a.values)
                    for a in p.int_array_properties:
                        props[a.prop_name] = list(a.values)
                    for a in p.boolean_array_properties:
                        props[a.prop_name] = list(a.values)
                    for a in p.number_array_properties:
                        props[a.prop_name] = (
                            list(struct.unpack(f"<{len(a.values_bytes) // 8}d", a.values_bytes))
                            if a.values_bytes else list(a.values))
                    for name in p.empty_list_props:
                        props[name] = []
                    vec = _unpack_vector(o.vectors, o.vector_bytes, o.vector)
                    self.state.put_object(cls, o.uuid, props, vec)
                except _Refused as exc:
                    if exc.code == grpc.StatusCode.UNIMPLEMENTED:
                        raise
                    errors.append(batch_pb2.BatchObjectsReply.BatchError(index=i, error=str(exc)))
            return batch_pb2.BatchObjectsReply(took=0.001, errors=errors)

        return self._run(context, "BatchObjects", run)

    # -------------------------------------------------------------- Search
    def Search(self, request: search_get_pb2.SearchRequest, context: Any) -> Any:
        def run() -> search_get_pb2.SearchReply:
            for name in _UNSUPPORTED_SEARCH:
                if request.HasField(name):
                    raise _Refused(f"the stand-in does not implement {name}",
                                   grpc.StatusCode.UNIMPLEMENTED)
            if request.tenant or request.autocut:
                raise _Refused("tenant and autocut are not implemented",
                               grpc.StatusCode.UNIMPLEMENTED)
            cls = self.state.get_class(request.collection)
            limit = request.limit or QUERY_DEFAULTS_LIMIT
            if request.offset + limit > QUERY_MAXIMUM_RESULTS:
                raise _Refused(f"query maximum results exceeded: offset + limit "
                               f"({request.offset + limit}) > {QUERY_MAXIMUM_RESULTS}")
            filters = request.filters if request.HasField("filters") else None
            if request.after and (filters is not None or request.sort_by or
                                  request.HasField("near_vector") or request.HasField("bm25_search")
                                  or request.HasField("hybrid_search")):
                raise _Refused("cursor api (after) cannot be combined with where filters, "
                               "sorting or search operators")
            objs = _select(cls, filters)
            if request.HasField("near_vector"):
                nv = request.near_vector
                if nv.HasField("distance") or nv.HasField("certainty") or nv.targets.target_vectors:
                    raise _Refused("near_vector thresholds and targets are not implemented",
                                   grpc.StatusCode.UNIMPLEMENTED)
                vec = _unpack_vector(nv.vectors, nv.vector_bytes, nv.vector)
                if vec is None:
                    raise _Refused("near_vector without a vector")
                ranked = _near(cls, vec, objs)
                page = ranked[request.offset:request.offset + limit]
                results = [_result(cls, request, o, distance=d) for o, d in page]
            elif request.HasField("bm25_search"):
                b = request.bm25_search
                op = b.search_operator if b.HasField("search_operator") else None
                ranked = _bm25(cls, b.query, list(b.properties), objs, op)
                page = ranked[request.offset:request.offset + limit]
                results = [_result(cls, request, o, score=s) for o, s in page]
            elif request.HasField("hybrid_search"):
                h = request.hybrid_search
                if h.HasField("near_text") or h.targets.target_vectors or h.HasField(
                        "vector_distance"):
                    raise _Refused("hybrid near_text, targets and thresholds are not "
                                   "implemented", grpc.StatusCode.UNIMPLEMENTED)
                if h.HasField("near_vector"):
                    vec = _unpack_vector(h.near_vector.vectors, h.near_vector.vector_bytes,
                                         h.near_vector.vector)
                else:
                    vec = _unpack_vector(h.vectors, h.vector_bytes, h.vector)
                if vec is None:
                    raise _Refused("hybrid search without a vector needs a vectorizer")
                alpha = h.alpha_param if h.use_alpha_param else h.alpha
                fetch = max(request.offset + limit, HYBRID_DEFAULT_LIMIT)
                vec_hits = _near(cls, vec, objs)[:fetch]
                op = None
                if h.HasField("bm25_search_operator"):
                    op = h.bm25_search_operator
                kw_hits = _bm25(cls, h.query, list(h.properties), objs, op)[:fetch]
                ranked_fusion = h.fusion_type == base_search_pb2.Hybrid.FUSION_TYPE_RANKED
                fused = (_ranked_fusion if ranked_fusion else _relative_fusion)(
                    alpha, vec_hits, kw_hits)
                page = fused[request.offset:request.offset + limit]
                results = [_result(cls, request, o, score=s) for o, s in page]
            else:
                if request.sort_by:
                    for s in reversed(request.sort_by):
                        if len(s.path) != 1:
                            raise _Refused("sort path must name one property")
                        name = s.path[0]
                        if name in ("_id", "id"):
                            objs.sort(key=lambda o: o.uuid, reverse=not s.ascending)
                        else:
                            cls.prop(name)
                            present = [o for o in objs if o.props.get(name) is not None]
                            absent = [o for o in objs if o.props.get(name) is None]
                            present.sort(key=lambda o, n=name: o.props[n],
                                         reverse=not s.ascending)
                            # Weaviate sorts missing values first ascending, last descending.
                            objs = absent + present if s.ascending else present + absent
                else:
                    objs.sort(key=lambda o: o.uuid)  # Weaviate lists objects in id order
                if request.after:
                    after = str(uuidlib.UUID(request.after))
                    objs = [o for o in objs if o.uuid > after]
                page_objs = objs[request.offset:request.offset + limit]
                results = [_result(cls, request, o) for o in page_objs]
            return search_get_pb2.SearchReply(took=0.001, results=results)

        return self._run(context, "Search", run)

    # -------------------------------------------------------------- BatchDelete
    def BatchDelete(self, request: batch_delete_pb2.BatchDeleteRequest, context: Any) -> Any:
        def run() -> batch_delete_pb2.BatchDeleteReply:
            if request.tenant:
                raise _Refused("the stand-in has no multi-tenancy", grpc.StatusCode.UNIMPLEMENTED)
            cls = self.state.get_class(request.collection)
            if not request.HasField("filters"):
                raise _Refused("batch delete needs a where filter")
            matched = sorted(_select(cls, request.filters), key=lambda o: o.uuid)
            matched = matched[:QUERY_MAXIMUM_RESULTS]
            objects = []
            if not request.dry_run:
                for o in matched:
                    del cls.objects[o.uuid]
            if request.verbose:
                objects = [batch_delete_pb2.BatchDeleteObject(
                    uuid=uuidlib.UUID(o.uuid).bytes, successful=True) for o in matched]
            return batch_delete_pb2.BatchDeleteReply(
                took=0.001, failed=0, matches=len(matched),
                successful=0 if request.dry_run else len(matched), objects=objects)

        return self._run(context, "BatchDelete", run)

    # -------------------------------------------------------------- Aggregate
    def Aggregate(self, request: aggregate_pb2.AggregateRequest, context: Any) -> Any:
        def run() -> aggregate_pb2.AggregateReply:
            if request.aggregations or request.HasField("group_by") or request.tenant:
                raise _Refused("the stand-in aggregates object counts only",
                               grpc.StatusCode.UNIMPLEMENTED)
            search = request.WhichOneof("search")
            if search is not None:
                raise _Refused(f"aggregate over {search} is not implemented",
                               grpc.StatusCode.UNIMPLEMENTED)
            cls = self.state.get_class(request.collection)
            filters = request.filters if request.HasField("filters") else None
            n = len(_select(cls, filters))
            return aggregate_pb2.AggregateReply(
                took=0.001,
                single_result=aggregate_pb2.AggregateReply.Single(
                    objects_count=n if request.objects_count else None),
            )

        return self._run(context, "Aggregate", run)


def _health_handler() -> grpc.GenericRpcHandler:
    def check(request: Any, context: Any) -> Any:
        return health_weaviate_pb2.WeaviateHealthCheckResponse(
            status=health_weaviate_pb2.WeaviateHealthCheckResponse.SERVING)

    return grpc.method_handlers_generic_handler("grpc.health.v1.Health", {
        "Check": grpc.unary_unary_rpc_method_handler(
            check,
            request_deserializer=health_weaviate_pb2.WeaviateHealthCheckRequest.FromString,
            response_serializer=health_weaviate_pb2.WeaviateHealthCheckResponse.SerializeToString,
        )
    })


# ================================================================== REST
def _make_handler(state: _State, api_key: str | None, grpc_port: int) -> type:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            # Headers and body go out in two writes: without this, Nagle's algorithm and
            # delayed ACKs hold every kept-alive response back by ~40 ms.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _reply(self, status: int, body: Any = None) -> None:
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> Any:
            n = int(self.headers.get("Content-Length") or 0)
            return json.loads(self.rfile.read(n) or b"null")

        def _dispatch(self, method: str) -> None:
            path = self.path.split("?", 1)[0]
            state.requests.append(f"{method} {path}")
            body = self._body() if method in ("POST", "PUT", "PATCH") else None
            if path == "/v1/.well-known/openid-configuration":
                return self._reply(404)
            if api_key is not None and self.headers.get("Authorization") != f"Bearer {api_key}":
                return self._reply(401, {"code": 401, "message": "anonymous access not enabled"})
            try:
                with state.lock:
                    status, reply = self._route(method, path, body)
            except _Refused as exc:
                return self._reply(exc.http, {"error": [{"message": str(exc)}]})
            return self._reply(status, reply)

        def _route(self, method: str, path: str, body: Any) -> tuple[int, Any]:
            parts = [p for p in path.split("/") if p]
            if parts == ["v1", "meta"] and method == "GET":
                return 200, {"hostname": "http://[::]:8080", "version": VERSION, "modules": {},
                             "grpcMaxMessageSize": 104858000}
            if parts == ["v1", ".well-known", "ready"] or parts == ["v1", ".well-known", "live"]:
                return 200, None
            if parts == ["v1", "schema"]:
                if method == "GET":
                    return 200, {"classes": [c.schema for c in state.classes.values()]}
                if method == "POST":
                    return 200, state.create_class(body)
            if len(parts) == 3 and parts[:2] == ["v1", "schema"]:
                if method == "GET":
                    return 200, state.get_class(parts[2]).schema
                if method == "DELETE":
                    key = parts[2][:1].upper() + parts[2][1:]
                    state.classes.pop(key, None)
                    return 200, None
            if (len(parts) == 4 and parts[:2] == ["v1", "schema"] and parts[3] == "properties"
                    and method == "POST"):
                return 200, state.add_property(parts[2], body)
            if parts == ["v1", "objects"] and method == "POST":
                if body.get("tenant"):
                    raise _Refused("the stand-in has no multi-tenancy", http=501)
                cls = state.get_class(body["class"])
                oid = body.get("id") or str(uuidlib.uuid4())
                vec = body.get("vector")
                if body.get("vectors"):
                    raise _Refused("named vectors over REST are not implemented", http=501)
                state.put_object(cls, oid, body.get("properties") or {}, vec, create_only=True)
                return 200, {**body, "id": oid}
            raise _Refused(f"the stand-in does not implement {method} {path}", http=501)

        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_POST(self) -> None:
            self._dispatch("POST")

        def do_DELETE(self) -> None:
            self._dispatch("DELETE")

        def do_PUT(self) -> None:
            self._dispatch("PUT")

        def do_PATCH(self) -> None:
            self._dispatch("PATCH")

    return Handler


# ================================================================== the server
class WeaviateStandIn:
    """Serves Weaviate's REST and gRPC APIs from memory on two free local ports.

    Args:
        api_key: When set, every request must carry ``Authorization: Bearer <key>``.
    """

    def __init__(self, api_key: str | None = None) -> None:
        self.api_key = api_key
        self.state = _State()
        self.http_port = 0
        self.grpc_port = 0
        self._http: ThreadingHTTPServer | None = None
        self._grpc: grpc.Server | None = None

    @property
    def url(self) -> str:
        """The backend URL for this stand-in (the API key is passed separately)."""
        return f"weaviate://127.0.0.1:{self.http_port}?grpc_port={self.grpc_port}"

    def start(self) -> WeaviateStandIn:
        self.grpc_port = _free_port()
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        weaviate_pb2_grpc.add_WeaviateServicer_to_server(_Servicer(self.state, self.api_key),
                                                        server)
        server.add_generic_rpc_handlers((_health_handler(),))
        server.add_insecure_port(f"127.0.0.1:{self.grpc_port}")
        server.start()
        self._grpc = server
        self._http = ThreadingHTTPServer(
            ("127.0.0.1", 0), _make_handler(self.state, self.api_key, self.grpc_port))
        self._http.daemon_threads = True
        self.http_port = int(self._http.server_address[1])
        threading.Thread(target=self._http.serve_forever, name="weaviate-standin-http",
                         daemon=True).start()
        return self

    def stop(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        if self._grpc is not None:
            self._grpc.stop(grace=None).wait(5)
            self._grpc = None

    close = stop

    def __enter__(self) -> WeaviateStandIn:  # noqa: PYI034 (Self needs Python 3.11)
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


if __name__ == "__main__":  # pragma: no cover - manual use
    with WeaviateStandIn() as s:
        print(s.url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
