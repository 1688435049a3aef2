"""Chat sessions and key-value items on Redis, as sans-I/O operations (see :mod:`.ops`).

A session is a LIST of JSON messages (RPUSH appends a batch, LRANGE reads the
last n) plus its id in a SET per namespace; a key-value collection is one HASH
with a TTL per field (HPEXPIRE, Redis 7.4+).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from ...types import Message
from . import query as q
from .codec import Keyspace, b, s
from .ops import Batch, Op, call, ms, ok

__all__ = ["ChatKVOps"]

# Lists live sessions in one step and forgets the ones whose list expired or was
# deleted, atomically, so a session written concurrently is never dropped.
_LIVE_SESSIONS = """
local alive = {}
for _, sid in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', ARGV[1] .. sid) == 1 then
    alive[#alive + 1] = sid
  else
    redis.call('SREM', KEYS[1], sid)
  end
end
return alive
"""


class ChatKVOps:
    """Chat and key-value operations under one key space."""

    def __init__(self, keyspace: Keyspace) -> None:
        self.ks = keyspace

    # ------------------------------------------------------------ chat
    def append_messages(
        self, namespace: str, session_id: str, messages: Sequence[Message], ttl: float | None
    ) -> Op[None]:
        key = self.ks.chat(namespace, session_id)
        calls = [call("rpush", key, *[b(json.dumps(m, ensure_ascii=False)) for m in messages])]
        if ttl is not None:
            calls.append(
                call("pexpire", key, ms(ttl))
            )  # the session expires ttl after its last write
        calls.append(call("sadd", self.ks.sessions(namespace), b(session_id)))
        for reply in (yield Batch(calls, transaction=True)):
            ok(reply, "append chat messages")

    def get_messages(
        self, namespace: str, session_id: str, last_n: int | None
    ) -> Op[list[Message]]:
        start = -last_n if last_n is not None else 0
        (items,) = yield Batch([call("lrange", self.ks.chat(namespace, session_id), start, -1)])
        return [json.loads(s(m)) for m in ok(items, "read chat messages")]

    def clear_messages(self, namespace: str, session_id: str) -> Op[None]:
        for reply in (
            yield Batch(
                [
                    call("delete", self.ks.chat(namespace, session_id)),
                    call("srem", self.ks.sessions(namespace), b(session_id)),
                ],
                transaction=True,
            )
        ):
            ok(reply, "clear chat messages")

    def list_sessions(self, namespace: str) -> Op[list[str]]:
        (ids,) = yield Batch(
            [
                call(
                    "eval",
                    _LIVE_SESSIONS,
                    1,
                    self.ks.sessions(namespace),
                    self.ks.chat_prefix(namespace),
                )
            ]
        )
        return sorted(s(i) for i in ok(ids, "list chat sessions"))

    # ------------------------------------------------------------ key-value
    def kv_put(self, name: str, items: Sequence[tuple[str, bytes]], ttl: float | None) -> Op[None]:
        key = self.ks.kv(name)
        calls = [call("hset", key, mapping={b(k): v for k, v in items})]
        if ttl is not None:
            calls.append(call("hpexpire", key, ms(ttl), *[b(k) for k, _ in items]))
        for reply in (yield Batch(calls, transaction=True)):
            ok(reply, "write key-value items")

    def kv_get(self, name: str, keys: Sequence[str]) -> Op[list[bytes | None]]:
        (values,) = yield Batch([call("hmget", self.ks.kv(name), [b(k) for k in keys])])
        return [bytes(v) if v is not None else None for v in ok(values, "read key-value items")]

    def kv_delete(self, name: str, keys: Sequence[str]) -> Op[None]:
        (reply,) = yield Batch([call("hdel", self.ks.kv(name), *[b(k) for k in keys])])
        ok(reply, "delete key-value items")

    def kv_keys(self, name: str, prefix: str | None) -> Op[list[str]]:
        # MATCH narrows the scan on the server; the glob characters of the prefix are
        # escaped, and the Python check below is what decides.
        match = q.escape_glob(prefix) + "*" if prefix else None
        found: set[str] = set()
        cursor = 0
        while True:
            (reply,) = yield Batch(
                [
                    call(
                        "hscan",
                        self.ks.kv(name),
                        cursor,
                        match=b(match) if match else None,
                        count=1000,
                        no_values=True,
                    )
                ]
            )
            cursor, keys = ok(reply, "list key-value keys")
            found.update(s(k) for k in keys)
            if int(cursor) == 0:
                break
        return sorted(k for k in found if prefix is None or k.startswith(prefix))
