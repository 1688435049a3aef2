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
from ..encoding import metadata_json
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
        "m": _checked(metadata_json(rec.metadata), f"the metadata of {rec.id!r}"),
        # JSON text, not a dict: pymilvus checks text with one orjson.loads, where it
        # walks a dict value by value looking for numpy types (most of its time per row).
        "f": metadata_json(filter_fields(rec.metadata, tokenize(rec.text))),
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


def encode_value(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


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
    return json.dumps(message, ensure_ascii=False)


# ------------------------------------------------------------------ long bodies
#: Bytes of a body kept in one row (a VARCHAR holds 65 535; room for the part marker).
PART_BYTES = 65_000


def split_body(text: str) -> list[str]:
    """``text`` in pieces of at most :data:`PART_BYTES` UTF-8 bytes, cut between characters.

    A body of one piece is stored as is. A longer one is stored as its first piece
    prefixed with ``*<number of further pieces>*`` (bodies are base64 or JSON, which
    never start with ``*``), the further pieces in rows of their own
    (:func:`part_pk`).
    """
    data = text.encode("utf-8")
    if len(data) <= PART_BYTES:
        return [text]
    pieces: list[str] = []
    start = 0
    while start < len(data):
        end = min(start + PART_BYTES, len(data))
        while end < len(data) and (data[end] & 0xC0) == 0x80:  # inside a character
            end -= 1
        pieces.append(data[start:end].decode("utf-8"))
        start = end
    pieces[0] = f"*{len(pieces) - 1}*{pieces[0]}"
    return pieces


def part_pk(pk: str, i: int) -> str:
    return f"{pk}#{i}"


def extra_parts(body: str) -> int:
    """How many further pieces a stored body has (0: it is whole)."""
    if not body.startswith("*"):
        return 0
    return int(body[1 : body.index("*", 1)])


def first_part(body: str) -> str:
    return body[body.index("*", 1) + 1 :] if body.startswith("*") else body


def decode_message(body: str) -> Message:
    message: Message = json.loads(body)
    return message
