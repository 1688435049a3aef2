"""How records, chat messages and key-value items become Milvus rows, and back. Pure, no I/O.

* **Records** (one row in ``<prefix>_v<dim>_<metric>``): ``pk`` = the collection
  hash ``c`` (20 hex digits) followed by the caller's id, so the id comes back
  exactly and keys sort by id within a collection; ``t`` the text, ``m`` the
  metadata as JSON text (exactly as given: ``1.0`` stays a float), ``f`` the
  generated filter fields and words (``filters.py``), ``v`` the vector (Milvus
  keeps the float32 values as given, also for COSINE).
* **Auxiliary rows** (``<prefix>_aux``): ``kind`` is ``cat`` (a collection's
  info), ``kv`` (an item), ``head`` (a chat session's length) or ``msg`` (one
  message, number ``n``). Bodies are JSON text or base64.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from ...errors import InvalidInputError
from ...text import tokenize
from ...types import CollectionInfo, Message, Record
from .filters import filter_fields
from .query import AUX_DIM, MAX_VARCHAR, digest

__all__ = [
    "KEY_LEN",
    "aux_row",
    "chat_head_pk",
    "chat_message_pk",
    "decode_record",
    "info_from_body",
    "info_row",
    "kv_pk",
    "record_pk",
    "record_row",
]

#: Length of the collection hash that starts a record's primary key.
KEY_LEN = 20
_ZERO = [0.0] * AUX_DIM


def collection_key(scope: str, name: str) -> str:
    return digest("c", scope, name)


def record_pk(ckey: str, record_id: str) -> str:
    return ckey + record_id


def _checked(text: str, what: str) -> str:
    size = len(text.encode("utf-8"))
    if size > MAX_VARCHAR:
        raise InvalidInputError(
            f"{what} is {size} bytes; the milvus backend keeps at most {MAX_VARCHAR} bytes "
            f"there (Milvus' VARCHAR limit): shorten it or split it"
        )
    return text


def record_row(ckey: str, rec: Record) -> dict[str, Any]:
    """The row that stores one record."""
    return {
        "pk": record_pk(ckey, rec.id),
        "c": ckey,
        "v": rec.vector or [],
        "t": _checked(rec.text, f"the text of record {rec.id!r}"),
        "m": _checked(json.dumps(rec.metadata, ensure_ascii=False), f"the metadata of {rec.id!r}"),
        "f": filter_fields(rec.metadata, tokenize(rec.text)),
    }


def decode_record(row: dict[str, Any], include_vector: bool) -> Record:
    vector = None
    if include_vector and row.get("v") is not None:
        vector = [float(x) for x in row["v"]]
    return Record(str(row["pk"])[KEY_LEN:], str(row.get("t", "")), vector, json.loads(row["m"]))


# ------------------------------------------------------------------ auxiliary rows
def aux_row(pk: str, scope: str, kind: str, a: str, b: str, n: int, body: str) -> dict[str, Any]:
    return {"pk": pk, "s": scope, "kind": kind, "a": a, "b": b, "n": n, "body": body, "v": _ZERO}


def info_pk(scope: str, name: str) -> str:
    return "cat:" + digest("cat", scope, name)


def info_row(scope: str, info: CollectionInfo) -> dict[str, Any]:
    body = json.dumps(
        {
            "name": info.name,
            "dimension": info.dimension,
            "metric": info.metric,
            "embedding_model": info.embedding_model,
        },
        ensure_ascii=False,
    )
    return aux_row(info_pk(scope, info.name), scope, "cat", "", info.name, 0, body)


def info_from_body(body: str) -> CollectionInfo:
    d = json.loads(body)
    return CollectionInfo(
        str(d["name"]), int(d["dimension"]), str(d["metric"]), d.get("embedding_model")
    )


def kv_pk(scope: str, collection: str, key: str) -> str:
    return "kv:" + digest("kv", scope, collection) + ":" + key


def encode_value(key: str, value: bytes) -> str:
    return _checked(base64.b64encode(value).decode("ascii"), f"the value of key {key!r} (base64)")


def decode_value(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"))


def session_key(scope: str, namespace: str, session: str) -> str:
    return digest("chat", scope, namespace, session)


def chat_head_pk(skey: str) -> str:
    return "h:" + skey


def chat_message_pk(skey: str, seq: int) -> str:
    return f"m:{skey}:{seq:012d}"


def encode_message(message: Message) -> str:
    """A message as stored: JSON text, so it comes back exactly as given."""
    return _checked(json.dumps(message, ensure_ascii=False), "a chat message (as JSON)")


def decode_message(body: str) -> Message:
    message: Message = json.loads(body)
    return message
