"""Conventions both framework adapters share, so each sees the other's records.

A LangChain ``Document`` and a LlamaIndex ``TextNode`` both become a
:class:`~bruno_memory_integrations.Record`: id, text, vector and the user's
metadata as given. What only one framework needs (a node's ``ref_doc_id`` and
relationships) goes into metadata keys starting with :data:`RESERVED_PREFIX`;
both adapters hide those keys from the user's view, and filters can use them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .store import Store

__all__ = [
    "NODE_KEY",
    "REF_DOC_KEY",
    "RESERVED_PREFIX",
    "StoreOwner",
    "as_langchain_message",
    "as_llama_index_message",
    "is_reserved",
    "user_metadata",
]

RESERVED_PREFIX = "_bruno_"
#: The LlamaIndex source-document id of a node (filterable; used by delete(ref_doc_id)).
REF_DOC_KEY = "_bruno_ref_doc_id"
#: A JSON string with what else a LlamaIndex node carries (type, relationships, ...).
NODE_KEY = "_bruno_node"


class StoreOwner:
    """``store``, ``close()`` and ``aclose()`` for every adapter.

    An adapter takes a :class:`Store`, a URL or a driver client; it closes the
    store only when it opened it itself (from a URL or client), never a Store the
    caller passed in and may still be using. (Pydantic-based adapters declare
    ``_store`` and ``_owns_store`` as private attributes.)
    """

    def _attach_store(
        self, store: Any, opened: Store | None = None, tenant: str | None = None
    ) -> Store:
        """Keep ``opened`` (or ``open_store(store)``); own it unless ``store`` was a Store.

        With ``tenant``, keep the store's view of that tenant (``Store.tenant``);
        closing an adapter that opened the store closes it through the view.
        """
        from .registry import open_store

        opened = opened if opened is not None else open_store(store)
        owns = opened is not store
        if tenant is not None:
            opened = opened._tenant_view(tenant, owns=owns)
        self._store = opened
        self._owns_store = owns
        return opened

    @property
    def store(self) -> Store:
        """The underlying :class:`~bruno_memory_integrations.Store`."""
        return self._store

    def close(self) -> None:
        """Close the store if this adapter opened it from a URL or client."""
        if self._owns_store:
            self._store.close()

    async def aclose(self) -> None:
        """Async :meth:`close`."""
        if self._owns_store:
            await self._store.aclose()


def is_reserved(key: str) -> bool:
    return key.startswith(RESERVED_PREFIX)


def user_metadata(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """The metadata a user wrote, without the adapters' reserved keys."""
    return {k: v for k, v in metadata.items() if not is_reserved(k)}


# ---------------------------------------------------------------- chat messages
# Each adapter stores its framework's own message JSON, so its messages round-trip
# exactly. When it reads a message the *other* framework wrote, it converts: text,
# role, name and tool calls carry over; framework-only details may not.

_LC_TO_ROLE = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool",
               "function": "function", "chat": "user", "developer": "developer"}
_ROLE_TO_LC = {"user": "human", "assistant": "ai", "system": "system", "tool": "tool",
               "function": "function", "chatbot": "ai", "model": "ai", "developer": "system"}


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # LangChain content parts or LlamaIndex blocks
        parts = []
        for p in content:
            if isinstance(p, str):
                parts.append(p)
            elif isinstance(p, Mapping) and isinstance(p.get("text"), str):
                parts.append(p["text"])
        return "".join(parts)
    return "" if content is None else str(content)


def is_langchain_message(message: Mapping[str, Any]) -> bool:
    return isinstance(message.get("type"), str) and isinstance(message.get("data"), Mapping)


def is_llama_index_message(message: Mapping[str, Any]) -> bool:
    return isinstance(message.get("role"), str)


def as_langchain_message(message: Mapping[str, Any]) -> dict[str, Any]:
    """A stored message in LangChain's ``message_to_dict`` form (converted if needed)."""
    if is_langchain_message(message) or not is_llama_index_message(message):
        return dict(message)
    kwargs = dict(message.get("additional_kwargs") or {})
    kind = _ROLE_TO_LC.get(str(message["role"]), "chat")
    content = message.get("content", message.get("blocks"))
    data: dict[str, Any] = {"content": _text_of(content), "additional_kwargs": {}}
    if kind == "chat":
        data["role"] = message["role"]
    if kind == "tool":
        data["tool_call_id"] = str(kwargs.pop("tool_call_id", ""))
    if kind == "ai" and isinstance(kwargs.get("tool_calls"), list):
        calls = []
        for c in kwargs.pop("tool_calls"):
            fn = c.get("function", c) if isinstance(c, Mapping) else {}
            args = fn.get("arguments", fn.get("args", {}))
            if isinstance(args, str):
                try:
                    args = json.loads(args)
                except ValueError:
                    args = {"input": args}
            calls.append(
                {"name": fn.get("name", ""), "args": args, "id": c.get("id"), "type": "tool_call"}
            )
        data["tool_calls"] = calls
    for key in ("name", "id"):
        if key in kwargs:
            data[key] = kwargs.pop(key)
    data["additional_kwargs"] = kwargs
    return {"type": kind, "data": data}


def as_llama_index_message(message: Mapping[str, Any]) -> dict[str, Any]:
    """A stored message in LlamaIndex's ``ChatMessage`` JSON form (converted if needed)."""
    if not is_langchain_message(message):
        return dict(message)
    data = message["data"]
    kwargs = dict(data.get("additional_kwargs") or {})
    role = _LC_TO_ROLE.get(str(message["type"]), str(data.get("role") or "user"))
    if data.get("tool_calls"):
        kwargs["tool_calls"] = [
            {"id": c.get("id"), "type": "function",
             "function": {"name": c.get("name"), "arguments": json.dumps(c.get("args", {}))}}
            for c in data["tool_calls"]
        ]
    for key in ("tool_call_id", "name", "id"):
        if data.get(key) is not None:
            kwargs[key] = data[key]
    return {"role": role, "content": _text_of(data.get("content")), "additional_kwargs": kwargs}
