"""BrunoChatStore on every backend: exact round trips, LlamaIndex semantics, native async."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from typing import Any

import pytest

pytest.importorskip("llama_index.core", reason="llama-index-core is not installed")

from llama_index.core.base.llms.types import ImageBlock, TextBlock
from llama_index.core.llms import ChatMessage, MessageRole
from llama_index.core.memory import ChatMemoryBuffer

from bruno_memory_integrations import Store
from bruno_memory_integrations.llama_index import BrunoChatStore

try:
    from stores import forbid_sync, require_capability
except ImportError:  # tests/ imported as a package
    from tests.stores import forbid_sync, require_capability

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


@pytest.fixture
def store(store: Store) -> Store:
    """The shared ``store`` fixture, skipping backends without chat support."""
    return require_capability(store, "chat")


@pytest.fixture
def namespace() -> str:
    return f"li_chat_{uuid.uuid4().hex[:10]}"


@pytest.fixture
def chat(store: Store, namespace: str) -> BrunoChatStore:
    return BrunoChatStore(store, namespace=namespace)


def _msgs() -> list[ChatMessage]:
    return [
        ChatMessage(role=MessageRole.SYSTEM, content="be brief"),
        ChatMessage(role=MessageRole.USER, content='héllo "there" it\'s \U0001f600'),
        ChatMessage(
            role=MessageRole.ASSISTANT,
            content=None,
            additional_kwargs={
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "lookup", "arguments": '{"q": "x"}'},
                    }
                ],
                "nested": {"a": [1, 2.5, None, True]},
            },
        ),
        ChatMessage(
            role=MessageRole.TOOL,
            content="42",
            additional_kwargs={"tool_call_id": "call_1", "name": "lookup"},
        ),
        ChatMessage(
            role=MessageRole.USER,
            blocks=[
                TextBlock(text="what is in this picture?"),
                ImageBlock(url="https://example.com/cat.png", image_mimetype="image/png"),
                ImageBlock(image=PNG, image_mimetype="image/png"),
            ],
        ),
        ChatMessage(role=MessageRole.ASSISTANT, content="a cat"),
    ]


def _dump(messages: list[ChatMessage]) -> list[dict[str, Any]]:
    return [m.model_dump(mode="json") for m in messages]


def test_messages_round_trip_exactly(chat: BrunoChatStore) -> None:
    msgs = _msgs()
    chat.set_messages("s1", msgs)
    got = chat.get_messages("s1")
    assert _dump(got) == _dump(msgs)
    assert [m.role for m in got] == [m.role for m in msgs]
    assert got[2].additional_kwargs["tool_calls"][0]["function"]["name"] == "lookup"
    assert isinstance(got[4].blocks[1], ImageBlock)
    assert got[4].blocks[2].image == msgs[4].blocks[2].image  # type: ignore[union-attr]
    assert got[1].content == msgs[1].content


def test_set_messages_replaces(chat: BrunoChatStore) -> None:
    chat.set_messages("s", _msgs())
    chat.set_messages("s", [ChatMessage(role="user", content="only")])
    assert [m.content for m in chat.get_messages("s")] == ["only"]
    chat.set_messages("s", [])
    assert chat.get_messages("s") == []
    assert "s" not in chat.get_keys()


def test_add_message_appends_or_inserts(chat: BrunoChatStore) -> None:
    chat.add_message("s", ChatMessage(role="user", content="a"))
    chat.add_message("s", ChatMessage(role="user", content="c"))
    chat.add_message("s", ChatMessage(role="user", content="b"), idx=1)
    chat.add_message("s", ChatMessage(role="user", content="start"), idx=0)
    assert [m.content for m in chat.get_messages("s")] == ["start", "a", "b", "c"]


def test_delete_message_semantics(chat: BrunoChatStore) -> None:
    assert chat.delete_messages("nobody") is None
    assert chat.delete_message("nobody", 0) is None
    assert chat.delete_last_message("nobody") is None
    chat.set_messages("s", [ChatMessage(role="user", content=str(i)) for i in range(5)])
    removed = chat.delete_message("s", 1)
    assert removed is not None and removed.content == "1"
    assert chat.delete_message("s", 10) is None
    last = chat.delete_last_message("s")
    assert last is not None and last.content == "4"
    assert [m.content for m in chat.get_messages("s")] == ["0", "2", "3"]
    gone = chat.delete_messages("s")
    assert [m.content for m in gone or []] == ["0", "2", "3"]
    assert chat.get_messages("s") == []


def test_keys_and_namespaces(store: Store, chat: BrunoChatStore, namespace: str) -> None:
    other = BrunoChatStore(store, namespace=namespace + "_other")
    chat.add_message("b", ChatMessage(role="user", content="x"))
    chat.add_message("a", ChatMessage(role="user", content="y"))
    other.add_message("c", ChatMessage(role="user", content="z"))
    assert sorted(chat.get_keys()) == ["a", "b"]
    assert other.get_keys() == ["c"]
    assert other.get_messages("a") == []
    assert [m["blocks"][0]["text"] for m in store.get_messages("a", namespace=namespace)] == ["y"]


def test_persists_across_store_objects(make_store: Callable[[], Store], namespace: str) -> None:
    first = make_store()
    require_capability(first, "chat")
    BrunoChatStore(first, namespace=namespace).set_messages("s", _msgs())
    first.close()
    second = make_store()
    try:
        assert _dump(BrunoChatStore(second, namespace=namespace).get_messages("s")) == _dump(
            _msgs()
        )
    finally:
        second.close()


def test_chat_memory_buffer(chat: BrunoChatStore) -> None:
    memory = ChatMemoryBuffer.from_defaults(
        chat_store=chat, chat_store_key="user-1", token_limit=10_000
    )
    memory.put(ChatMessage(role="user", content="hi"))
    memory.put(ChatMessage(role="assistant", content="hello"))
    assert [m.content for m in memory.get_all()] == ["hi", "hello"]
    assert [m.content for m in chat.get_messages("user-1")] == ["hi", "hello"]
    memory.reset()
    assert chat.get_messages("user-1") == []


async def test_async_methods_are_native(
    store: Store, chat: BrunoChatStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    forbid_sync(store, monkeypatch)
    msgs = _msgs()
    await chat.aset_messages("s", msgs)
    assert _dump(await chat.aget_messages("s")) == _dump(msgs)
    await chat.async_add_message("s", ChatMessage(role="user", content="end"))
    await chat.async_add_message("s", ChatMessage(role="user", content="first"), idx=0)
    got = await chat.aget_messages("s")
    assert (got[0].content, got[-1].content, len(got)) == ("first", "end", len(msgs) + 2)
    removed = await chat.adelete_message("s", 0)
    assert removed is not None and removed.content == "first"
    last = await chat.adelete_last_message("s")
    assert last is not None and last.content == "end"
    assert await chat.adelete_message("s", 99) is None
    assert await chat.aget_keys() == ["s"]
    gone = await chat.adelete_messages("s")
    assert _dump(gone or []) == _dump(msgs)
    assert await chat.adelete_messages("s") is None
    assert await chat.adelete_last_message("s") is None
    assert await chat.aget_keys() == []


async def test_async_memory_buffer(
    store: Store, chat: BrunoChatStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    forbid_sync(store, monkeypatch)
    memory = ChatMemoryBuffer.from_defaults(chat_store=chat, chat_store_key="k", token_limit=10_000)
    await memory.aput(ChatMessage(role="user", content="hi"))
    assert [m.content for m in await memory.aget_all()] == ["hi"]
