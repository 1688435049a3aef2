"""BrunoChatMessageHistory: exact round trips, trimming, async, RunnableWithMessageHistory."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    ChatMessage,
    FunctionMessage,
    HumanMessage,
    HumanMessageChunk,
    SystemMessage,
    ToolMessage,
)
from langchain_core.prompt_values import PromptValue
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables import RunnableLambda
from langchain_core.runnables.history import RunnableWithMessageHistory

from bruno_memory_integrations import InvalidMetadataError, Store
from bruno_memory_integrations.langchain import BrunoChatMessageHistory
from bruno_memory_integrations.langchain.chat_history import TOKENS_PER_MESSAGE

try:
    from stores import forbid_sync
except ImportError:  # tests/ imported as a package
    from tests.stores import forbid_sync


def _session() -> str:
    return f"s-{uuid.uuid4().hex[:10]}"


def _history(store: Store, **kw: Any) -> BrunoChatMessageHistory:
    return BrunoChatMessageHistory(
        _session(), store=store, namespace=f"ns-{uuid.uuid4().hex[:8]}", **kw
    )


def _every_kind_of_message() -> list[BaseMessage]:
    return [
        SystemMessage(content="You are terse.", id="sys-1"),
        HumanMessage(content="What's 2+2? 'quotes' \"and\" ; DROP TABLE", name="ann", id="h-1"),
        HumanMessage(
            content=[
                {"type": "text", "text": "look at this"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
            ]
        ),
        AIMessage(
            content="",
            id="ai-1",
            tool_calls=[{"name": "add", "args": {"a": 2, "b": 2}, "id": "call-1"}],
            additional_kwargs={"refusal": None, "extra": {"nested": [1, "two"]}},
            response_metadata={"model_name": "fake", "finish_reason": "tool_calls"},
            usage_metadata={"input_tokens": 10, "output_tokens": 3, "total_tokens": 13},
        ),
        ToolMessage(content="4", tool_call_id="call-1", name="add", artifact={"raw": 4}),
        AIMessage(content="4, with unicode ✓ and emoji 🙂", name="bot"),
        AIMessageChunk(
            content="partial",
            tool_call_chunks=[{"name": "f", "args": '{"x": 1}', "id": "c2", "index": 0}],
        ),
        HumanMessageChunk(content="typing"),
        FunctionMessage(content="result", name="legacy_fn"),
        ChatMessage(content="hmm", role="critic"),
        ToolMessage(content=[{"type": "text", "text": "err"}], tool_call_id="c9", status="error"),
    ]


# --------------------------------------------------------------------------- round trips
def test_every_message_type_round_trips_exactly(open_new_store: Callable[[], Store]) -> None:
    history = _history(open_new_store())
    original = _every_kind_of_message()
    history.add_messages(original)
    again = BrunoChatMessageHistory(
        history.session_id, store=open_new_store(), namespace=history.namespace
    )
    got = again.messages
    assert got == original
    assert [type(m) for m in got] == [type(m) for m in original]
    assert got[3].tool_calls == original[3].tool_calls  # type: ignore[attr-defined]
    assert got[4].artifact == {"raw": 4}  # type: ignore[attr-defined]


async def test_async_round_trip_is_native(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    forbid_sync(store, monkeypatch)
    history = _history(store)
    original = _every_kind_of_message()
    await history.aadd_messages(original[:3])
    await history.aadd_messages(original[3:])
    assert await history.aget_messages() == original
    await history.aclear()
    assert await history.aget_messages() == []


def test_add_messages_is_one_write(store: Store) -> None:
    writes: list[int] = []

    class CountingStore(Store):
        def append_messages(self, session_id: str, messages: Sequence[Any], **kw: Any) -> None:
            writes.append(len(messages))
            super().append_messages(session_id, messages, **kw)

    history = _history(CountingStore(store.backend))
    history.add_messages([HumanMessage("a"), AIMessage("b"), HumanMessage("c")])
    history.add_user_message("d")
    history.add_ai_message("e")
    assert writes == [3, 1, 1]
    assert [m.content for m in history.messages] == ["a", "b", "c", "d", "e"]


def test_sessions_and_namespaces_are_isolated(store: Store) -> None:
    tricky = 'user\'); DELETE FROM messages; -- "x" % _ *'
    a = BrunoChatMessageHistory(tricky, store=store, namespace="ns-a")
    b = BrunoChatMessageHistory(tricky + " ", store=store, namespace="ns-a")
    c = BrunoChatMessageHistory(tricky, store=store, namespace="ns-b")
    a.clear(), b.clear(), c.clear()
    a.add_user_message("for a")
    b.add_user_message("for b")
    c.add_user_message("for c")
    assert [m.content for m in a.messages] == ["for a"]
    assert [m.content for m in b.messages] == ["for b"]
    assert [m.content for m in c.messages] == ["for c"]
    assert tricky in store.list_sessions(namespace="ns-a")
    a.clear()
    assert a.messages == []
    assert [m.content for m in b.messages] == ["for b"]
    assert [m.content for m in c.messages] == ["for c"]
    b.clear(), c.clear()


def test_non_json_message_is_refused_and_nothing_written(store: Store) -> None:
    history = _history(store)
    with pytest.raises(InvalidMetadataError):
        history.add_messages(
            [HumanMessage("ok"), AIMessage("bad", additional_kwargs={"obj": object()})]
        )
    assert history.messages == []


def test_invalid_limits_are_refused(store: Store) -> None:
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="max_messages"):
            BrunoChatMessageHistory("s", store=store, max_messages=bad)
        with pytest.raises(ValueError, match="max_tokens"):
            BrunoChatMessageHistory("s", store=store, max_tokens=bad)


# --------------------------------------------------------------------------- trimming
def test_max_messages_reads_the_last_n(store: Store) -> None:
    history = _history(store, max_messages=3)
    history.add_messages([HumanMessage(str(i)) for i in range(7)])
    assert [m.content for m in history.messages] == ["4", "5", "6"]
    full = BrunoChatMessageHistory(history.session_id, store=store, namespace=history.namespace)
    assert len(full.messages) == 7  # trimming never deletes


def test_max_tokens_keeps_recent_messages_and_the_system_message(store: Store) -> None:
    pytest.importorskip("tiktoken", reason="token trimming needs the 'tokens' extra")
    from bruno_memory_integrations.tokens import count_tokens

    history = _history(store, max_tokens=10_000)
    system = SystemMessage("You answer questions about fruit.")
    turns = [HumanMessage(f"question number {i} about apples") for i in range(6)]
    history.add_messages([system, *turns])
    cost = [history.count_tokens(m) for m in [system, *turns]]
    assert cost[1] == count_tokens(turns[0].content, "gpt-4o-mini") + TOKENS_PER_MESSAGE
    budget = cost[0] + cost[-1] + cost[-2]
    exact = BrunoChatMessageHistory(
        history.session_id, store=store, namespace=history.namespace, max_tokens=budget
    )
    assert exact.messages == [system, turns[-2], turns[-1]]
    one_short = BrunoChatMessageHistory(
        history.session_id, store=store, namespace=history.namespace, max_tokens=budget - 1
    )
    assert one_short.messages == [system, turns[-1]]
    tiny = BrunoChatMessageHistory(
        history.session_id, store=store, namespace=history.namespace, max_tokens=1
    )
    assert tiny.messages == [system]  # the system message stays even when over budget


def test_max_tokens_without_system_message(store: Store) -> None:
    pytest.importorskip("tiktoken", reason="token trimming needs the 'tokens' extra")
    history = _history(store, max_tokens=10_000)
    msgs = [HumanMessage("hello there"), AIMessage("general kenobi"), HumanMessage("bye")]
    history.add_messages(msgs)
    budget = history.count_tokens(msgs[1]) + history.count_tokens(msgs[2])
    history.max_tokens = budget
    assert history.messages == msgs[1:]
    history.max_tokens = budget - 1
    assert history.messages == msgs[2:]


def test_tool_calls_count_towards_tokens(store: Store) -> None:
    pytest.importorskip("tiktoken", reason="token trimming needs the 'tokens' extra")
    history = _history(store)
    plain = AIMessage("")
    calling = AIMessage(
        "", tool_calls=[{"name": "search", "args": {"query": "long " * 20}, "id": "1"}]
    )
    assert history.count_tokens(calling) > history.count_tokens(plain) + 20


def test_trimming_drops_tool_results_whose_call_was_cut(store: Store) -> None:
    pytest.importorskip("tiktoken", reason="token trimming needs the 'tokens' extra")
    history = _history(store, max_messages=3)
    call = AIMessage("", tool_calls=[{"name": "add", "args": {"a": 1}, "id": "t1"}])
    history.add_messages(
        [
            SystemMessage("sys"),
            HumanMessage("add"),
            call,
            ToolMessage("1", tool_call_id="t1"),
            AIMessage("it is 1"),
            HumanMessage("thanks"),
        ]
    )
    # The last 3 are tool result, answer, thanks: the orphaned tool result goes.
    assert [m.content for m in history.messages] == ["it is 1", "thanks"]
    history.max_messages = 4
    assert [type(m) for m in history.messages] == [AIMessage, ToolMessage, AIMessage, HumanMessage]
    history.max_messages = None
    history.max_tokens = sum(
        history.count_tokens(m) for m in history.messages[-3:]
    ) + history.count_tokens(SystemMessage("sys"))
    assert [m.content for m in history.messages] == ["sys", "it is 1", "thanks"]


async def test_async_trimming_matches_sync(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("tiktoken", reason="token trimming needs the 'tokens' extra")
    history = _history(store, max_messages=5, max_tokens=25)
    history.add_messages(
        [SystemMessage("be brief")] + [HumanMessage(f"message {i}") for i in range(8)]
    )
    expected = history.messages
    assert 1 <= len(expected) < 5
    forbid_sync(store, monkeypatch)
    ahistory = BrunoChatMessageHistory(
        history.session_id,
        store=store,
        namespace=history.namespace,
        max_messages=5,
        max_tokens=25,
    )
    assert await ahistory.aget_messages() == expected


# --------------------------------------------------------------------------- runnables
# RunnableWithMessageHistory is deprecated upstream in favour of LangGraph, yet still
# the way many applications use a chat history.
_deprecated_runnable = pytest.mark.filterwarnings("ignore:RunnableWithMessageHistory is deprecated")


def _chain_with_history(store: Store, namespace: str) -> RunnableWithMessageHistory:
    prompt = ChatPromptTemplate.from_messages(
        [("system", "You count."), MessagesPlaceholder("history"), ("human", "{question}")]
    )

    def model(value: PromptValue) -> AIMessage:
        # Answers with how many messages it was shown, so the test sees the history.
        return AIMessage(content=f"seen {len(value.to_messages())}")

    return RunnableWithMessageHistory(
        prompt | RunnableLambda(model),
        lambda session_id: BrunoChatMessageHistory(session_id, store=store, namespace=namespace),
        input_messages_key="question",
        history_messages_key="history",
    )


@_deprecated_runnable
def test_runnable_with_message_history_two_turns(store: Store) -> None:
    namespace, session = f"ns-{uuid.uuid4().hex[:8]}", _session()
    chain = _chain_with_history(store, namespace)
    config = {"configurable": {"session_id": session}}
    assert chain.invoke({"question": "one"}, config=config).content == "seen 2"
    assert chain.invoke({"question": "two"}, config=config).content == "seen 4"
    stored = BrunoChatMessageHistory(session, store=store, namespace=namespace).messages
    assert [(type(m), m.content) for m in stored] == [
        (HumanMessage, "one"),
        (AIMessage, "seen 2"),
        (HumanMessage, "two"),
        (AIMessage, "seen 4"),
    ]


@_deprecated_runnable
async def test_runnable_with_message_history_ainvoke(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    namespace, session = f"ns-{uuid.uuid4().hex[:8]}", _session()
    forbid_sync(store, monkeypatch)
    chain = _chain_with_history(store, namespace)
    config = {"configurable": {"session_id": session}}
    assert (await chain.ainvoke({"question": "one"}, config=config)).content == "seen 2"
    assert (await chain.ainvoke({"question": "two"}, config=config)).content == "seen 4"
    monkeypatch.undo()  # the sync read below checks what the async calls wrote
    stored = BrunoChatMessageHistory(session, store=store, namespace=namespace).messages
    assert [m.content for m in stored] == ["one", "seen 2", "two", "seen 4"]


@_deprecated_runnable
def test_fake_chat_model_with_message_list_input(store: Store) -> None:
    """The history-less input form: the whole message list goes to the model."""
    namespace, session = f"ns-{uuid.uuid4().hex[:8]}", _session()
    chain = RunnableWithMessageHistory(
        FakeListChatModel(responses=["first answer", "second answer"]),
        lambda sid: BrunoChatMessageHistory(sid, store=store, namespace=namespace),
    )
    config = {"configurable": {"session_id": session}}
    assert chain.invoke([HumanMessage("hi")], config=config).content == "first answer"
    assert chain.invoke([HumanMessage("again")], config=config).content == "second answer"
    stored = BrunoChatMessageHistory(session, store=store, namespace=namespace).messages
    assert [m.content for m in stored] == ["hi", "first answer", "again", "second answer"]


def test_store_argument_accepts_a_url() -> None:
    history = BrunoChatMessageHistory("s1", store="memory://")
    try:
        history.add_user_message("hi")
        assert [m.content for m in history.messages] == ["hi"]
        assert history.store.list_sessions(namespace="langchain") == ["s1"]
    finally:
        history.store.close()
