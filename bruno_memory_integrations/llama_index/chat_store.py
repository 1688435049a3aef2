"""``BrunoChatStore``: LlamaIndex chat history in any :class:`~bruno_memory_integrations.Store`.

A chat key is a session id in the store; each ``ChatMessage`` is stored as its
JSON form (``model_dump(mode="json")``), so roles, content blocks and
``additional_kwargs`` come back exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llama_index.core.bridge.pydantic import PrivateAttr
from llama_index.core.llms import ChatMessage
from llama_index.core.storage.chat_store.base import BaseChatStore

from ..adapters_common import StoreOwner, as_llama_index_message
from ..registry import open_store
from ..store import Store
from ..types import Message
from ..validation import check_name

__all__ = ["BrunoChatStore"]


def _to_dicts(messages: Sequence[ChatMessage]) -> list[Message]:
    return [m.model_dump(mode="json") for m in messages]


def _to_messages(dicts: Sequence[Message]) -> list[ChatMessage]:
    return [ChatMessage.model_validate(as_llama_index_message(d)) for d in dicts]


class BrunoChatStore(StoreOwner, BaseChatStore):
    """LlamaIndex chat store backed by any ``Store``; every async method is native.

    Use it with LlamaIndex memory, e.g.
    ``ChatMemoryBuffer.from_defaults(chat_store=BrunoChatStore(store), chat_store_key="user-1")``.

    Args:
        store: A :class:`~bruno_memory_integrations.Store`, a store URL or a driver client.
        namespace: Store namespace the chat keys live in, so other chat histories
            in the same store (e.g. LangChain's) are kept apart.

    Note:
        ``set_messages``, ``delete_message``, ``delete_last_message`` and
        ``add_message`` with ``idx`` rewrite the whole session (clear, then append);
        two writers changing one session at the same moment can interleave.
    """

    namespace: str = "llama_index"
    tenant: str | None = None

    _store: Store = PrivateAttr()
    _owns_store: bool = PrivateAttr(default=False)

    def __init__(
        self,
        store: Store | str | Any,
        *,
        namespace: str = "llama_index",
        tenant: str | None = None,
        **kwargs: Any,
    ):
        check_name(namespace, "namespace")
        opened = open_store(store)
        fields: dict[str, Any] = {"namespace": namespace, "tenant": tenant}
        super().__init__(**fields, **kwargs)
        self._attach_store(store, opened, tenant)

    @classmethod
    def class_name(cls) -> str:
        """Name LlamaIndex uses when serializing this component."""
        return "BrunoChatStore"

    # ------------------------------------------------------------------ sync
    def set_messages(self, key: str, messages: list[ChatMessage]) -> None:
        """Replace the messages of ``key``."""
        batch = _to_dicts(messages)
        self._store.clear_messages(key, namespace=self.namespace)
        self._store.append_messages(key, batch, namespace=self.namespace)

    def get_messages(self, key: str) -> list[ChatMessage]:
        """The messages of ``key``, oldest first (``[]`` for an unknown key)."""
        return _to_messages(self._store.get_messages(key, namespace=self.namespace))

    def add_message(self, key: str, message: ChatMessage, idx: int | None = None) -> None:
        """Append ``message``, or insert it at position ``idx`` (as ``list.insert``)."""
        if idx is None:
            self._store.append_messages(key, _to_dicts([message]), namespace=self.namespace)
            return
        messages = self.get_messages(key)
        messages.insert(idx, message)
        self.set_messages(key, messages)

    def delete_messages(self, key: str) -> list[ChatMessage] | None:
        """Delete every message of ``key``; returns them, or ``None`` if there were none."""
        messages = self.get_messages(key)
        if not messages:
            return None
        self._store.clear_messages(key, namespace=self.namespace)
        return messages

    def delete_message(self, key: str, idx: int) -> ChatMessage | None:
        """Delete the message at ``idx``; returns it, or ``None`` if there is none."""
        messages = self.get_messages(key)
        if not -len(messages) <= idx < len(messages):
            return None
        removed = messages.pop(idx)
        self.set_messages(key, messages)
        return removed

    def delete_last_message(self, key: str) -> ChatMessage | None:
        """Delete the last message of ``key``; returns it, or ``None`` if there is none."""
        return self.delete_message(key, -1)

    def get_keys(self) -> list[str]:
        """Keys (session ids) that have messages, sorted."""
        return self._store.list_sessions(namespace=self.namespace)

    # ------------------------------------------------------------------ async
    async def aset_messages(self, key: str, messages: list[ChatMessage]) -> None:
        """Async :meth:`set_messages`."""
        batch = _to_dicts(messages)
        await self._store.aclear_messages(key, namespace=self.namespace)
        await self._store.aappend_messages(key, batch, namespace=self.namespace)

    async def aget_messages(self, key: str) -> list[ChatMessage]:
        """Async :meth:`get_messages`."""
        return _to_messages(await self._store.aget_messages(key, namespace=self.namespace))

    async def async_add_message(
        self, key: str, message: ChatMessage, idx: int | None = None
    ) -> None:
        """Async :meth:`add_message`."""
        if idx is None:
            await self._store.aappend_messages(key, _to_dicts([message]), namespace=self.namespace)
            return
        messages = await self.aget_messages(key)
        messages.insert(idx, message)
        await self.aset_messages(key, messages)

    async def adelete_messages(self, key: str) -> list[ChatMessage] | None:
        """Async :meth:`delete_messages`."""
        messages = await self.aget_messages(key)
        if not messages:
            return None
        await self._store.aclear_messages(key, namespace=self.namespace)
        return messages

    async def adelete_message(self, key: str, idx: int) -> ChatMessage | None:
        """Async :meth:`delete_message`."""
        messages = await self.aget_messages(key)
        if not -len(messages) <= idx < len(messages):
            return None
        removed = messages.pop(idx)
        await self.aset_messages(key, messages)
        return removed

    async def adelete_last_message(self, key: str) -> ChatMessage | None:
        """Async :meth:`delete_last_message`."""
        return await self.adelete_message(key, -1)

    async def aget_keys(self) -> list[str]:
        """Async :meth:`get_keys`."""
        return await self._store.alist_sessions(namespace=self.namespace)
