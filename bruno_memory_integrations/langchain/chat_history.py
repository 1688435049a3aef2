"""LangChain ``BaseChatMessageHistory`` over a :class:`~bruno_memory_integrations.Store`.

Each message is stored as the JSON object LangChain's ``message_to_dict`` makes
(``{"type": ..., "data": {...}}``), so every message type comes back exactly:
tool calls, ``additional_kwargs``, names, ids, chunks.

Trimming rule (when ``max_messages`` and/or ``max_tokens`` is set):

1. Only the last ``max_messages`` stored messages are read.
2. Of those, the most recent messages whose tokens add up to at most
   ``max_tokens`` are kept. A system message at the start of the window is
   always kept and counts towards the budget (if it alone is over the budget,
   it is all that is returned).
3. Tool results left at the start of the window (after the system message,
   if any) are dropped: their tool call was cut off, and chat models refuse a
   tool result without its call.

A message's tokens are those of its text, its name and its tool calls (name
and JSON arguments), plus :data:`TOKENS_PER_MESSAGE` for the framing chat APIs
add. Trimming changes what is read, never what is stored.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

from langchain_core.chat_history import BaseChatMessageHistory
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    SystemMessage,
    ToolMessage,
    message_to_dict,
    messages_from_dict,
)

from ..adapters_common import StoreOwner, as_langchain_message
from ..store import Store
from ..validation import check_name

__all__ = ["TOKENS_PER_MESSAGE", "BrunoChatMessageHistory"]

DEFAULT_STORE = "sqlite:///bruno_memory.db"
#: Tokens added to each message for the role and separators chat APIs wrap it in.
TOKENS_PER_MESSAGE = 3


def _positive(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer or None, got {value!r}")
    return value


def _message_text(message: BaseMessage) -> str:
    text: Any = message.text
    if not isinstance(text, str) and callable(text):  # langchain-core < 0.3.x: a method
        text = text()
    parts = [str(text)]
    if message.name:
        parts.append(message.name)
    if isinstance(message, AIMessage):
        for call in message.tool_calls:
            parts.append(call["name"])
            parts.append(json.dumps(call["args"], ensure_ascii=False, sort_keys=True))
    return "\n".join(p for p in parts if p)


class BrunoChatMessageHistory(StoreOwner, BaseChatMessageHistory):
    """A chat session's messages in any backend, usable with ``RunnableWithMessageHistory``.

    Args:
        session_id: The session; any non-empty string, stored exactly.
        store: A :class:`~bruno_memory_integrations.Store`, a store URL or a
            driver client (see :func:`~bruno_memory_integrations.open_store`).
        namespace: Groups sessions, e.g. per application or user.
        max_messages: Read at most the last this-many messages.
        max_tokens: Read only the most recent messages that fit in this many
            tokens (see the module docstring for the exact rule). Needs the
            ``tokens`` extra (``tiktoken``).
        token_model: Model or tiktoken encoding name the tokens are counted for.
        ttl: Seconds after the last write when the session expires (backends
            with TTL only).

    Example:
        >>> history = BrunoChatMessageHistory("user-42", store="memory://")
        >>> history.add_user_message("hi")
        >>> [m.content for m in history.messages]
        ['hi']
    """

    def __init__(
        self,
        session_id: str,
        store: Store | str | Any = DEFAULT_STORE,
        namespace: str = "langchain",
        max_messages: int | None = None,
        max_tokens: int | None = None,
        token_model: str = "gpt-4o-mini",
        *,
        ttl: float | None = None,
        tenant: str | None = None,
    ) -> None:
        self.session_id = check_name(session_id, "session")
        self._attach_store(store, tenant=tenant)
        self.namespace = check_name(namespace, "namespace")
        self.max_messages = _positive(max_messages, "max_messages")
        self.max_tokens = _positive(max_tokens, "max_tokens")
        self.token_model = token_model
        self.ttl = ttl

    def __repr__(self) -> str:
        return (
            f"BrunoChatMessageHistory(session_id={self.session_id!r}, "
            f"namespace={self.namespace!r}, store={self.store!r})"
        )

    # ------------------------------------------------------------------ trimming
    def count_tokens(self, message: BaseMessage) -> int:
        """Tokens a message counts for in the ``max_tokens`` budget."""
        from ..tokens import count_tokens

        return count_tokens(_message_text(message), self.token_model) + TOKENS_PER_MESSAGE

    def _trim(self, messages: list[BaseMessage]) -> list[BaseMessage]:
        if self.max_tokens is None:
            kept = messages
            head: list[BaseMessage] = []
        else:
            head = messages[:1] if messages and isinstance(messages[0], SystemMessage) else []
            budget = self.max_tokens - sum(self.count_tokens(m) for m in head)
            kept = []
            for message in reversed(messages[len(head) :]):
                budget -= self.count_tokens(message)
                if budget < 0:
                    break
                kept.append(message)
            kept.reverse()
        if self.max_messages is not None or self.max_tokens is not None:
            start = 0
            while start < len(kept) and isinstance(kept[start], ToolMessage):
                start += 1
            kept = kept[start:]
        return head + kept

    def _from_stored(self, stored: list[dict[str, Any]]) -> list[BaseMessage]:
        return self._trim(messages_from_dict([as_langchain_message(m) for m in stored]))

    # ------------------------------------------------------------------ API
    @property
    def messages(self) -> list[BaseMessage]:  # type: ignore[override]
        """The session's messages, oldest first, trimmed as configured."""
        stored = self.store.get_messages(
            self.session_id, namespace=self.namespace, last_n=self.max_messages
        )
        return self._from_stored(stored)

    async def aget_messages(self) -> list[BaseMessage]:
        """Async :attr:`messages`."""
        stored = await self.store.aget_messages(
            self.session_id, namespace=self.namespace, last_n=self.max_messages
        )
        if self.max_tokens is None:
            return self._from_stored(stored)
        # Loading an encoding and counting tokens is CPU work: keep it off the loop.
        return await asyncio.to_thread(self._from_stored, stored)

    def add_messages(self, messages: Sequence[BaseMessage]) -> None:
        """Append messages to the session, in order, in one write."""
        self.store.append_messages(
            self.session_id,
            [message_to_dict(m) for m in messages],
            namespace=self.namespace,
            ttl=self.ttl,
        )

    async def aadd_messages(self, messages: Sequence[BaseMessage]) -> None:
        """Async :meth:`add_messages`."""
        await self.store.aappend_messages(
            self.session_id,
            [message_to_dict(m) for m in messages],
            namespace=self.namespace,
            ttl=self.ttl,
        )

    def clear(self) -> None:
        """Delete the session's messages."""
        self.store.clear_messages(self.session_id, namespace=self.namespace)

    async def aclear(self) -> None:
        """Async :meth:`clear`."""
        await self.store.aclear_messages(self.session_id, namespace=self.namespace)
