"""A LangChain agent (``create_agent``) with tools and a scripted chat model, on
BrunoCheckpointSaver + BrunoStore; run as a script it resumes a thread in a new
process::

    python tests/langgraph_agent_app.py resume URL PREFIX THREAD_ID

The model decides from the conversation alone (no hidden state), so another
process continues exactly where this one stopped.
"""

from __future__ import annotations

import re
import sys
import uuid
from collections.abc import Sequence
from typing import Any

from langchain.agents import create_agent
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import tool
from langgraph.config import get_store
from langgraph.types import interrupt

from bruno_memory_integrations.embeddings import OfflineEmbeddings
from bruno_memory_integrations.langgraph import BrunoCheckpointSaver, BrunoStore

USER = "user-1"


@tool
def save_memory(text: str) -> str:
    """Remember a fact about the user for later conversations."""
    get_store().put(("memories", USER), uuid.uuid4().hex, {"text": text})
    return f"saved: {text}"


@tool
def recall(query: str) -> str:
    """Find the remembered fact closest in meaning to the query."""
    hits = get_store().search(("memories", USER), query=query, limit=1)
    return hits[0].value["text"] if hits else "nothing remembered"


@tool
def book_flight(destination: str) -> str:
    """Book a flight, after a human approves it."""
    approved = interrupt({"question": f"Book a flight to {destination}?"})
    return f"booked {destination}" if approved else f"cancelled {destination}"


class ScriptedToolModel(BaseChatModel):
    """Picks a tool from the last human message; answers with the last tool result."""

    @property
    def _llm_type(self) -> str:
        return "scripted-tool-model"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ScriptedToolModel:  # type: ignore[override]
        return self

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        last = messages[-1]
        n = len(messages)
        if isinstance(last, ToolMessage):
            reply = AIMessage(f"Done. {last.content}", id=f"ai-{n}")
        elif isinstance(last, HumanMessage):
            text = str(last.content)
            if m := re.match(r"remember: (.+)", text):
                call = {"name": "save_memory", "args": {"text": m[1]}}
            elif m := re.match(r"book a flight to (.+)", text):
                call = {"name": "book_flight", "args": {"destination": m[1]}}
            else:
                call = {"name": "recall", "args": {"query": text}}
            reply = AIMessage("", id=f"ai-{n}", tool_calls=[{**call, "id": f"call-{n}"}])
        else:
            reply = AIMessage("How can I help?", id=f"ai-{n}")
        return ChatResult(generations=[ChatGeneration(message=reply)])


def build_agent(url: str, prefix: str) -> tuple[Any, BrunoCheckpointSaver, BrunoStore]:
    saver = BrunoCheckpointSaver(url, prefix=prefix)
    store = BrunoStore(
        url, prefix=prefix,
        index={"dims": 384, "embed": OfflineEmbeddings(), "fields": ["text"]},
    )
    agent = create_agent(
        ScriptedToolModel(), [save_memory, recall, book_flight],
        checkpointer=saver, store=store,
    )
    return agent, saver, store


def main(argv: list[str]) -> int:
    from langgraph.types import Command

    command, url, prefix, thread_id = argv
    if command != "resume":
        raise SystemExit(f"unknown command {command!r}")
    agent, saver, store = build_agent(url, prefix)
    config = {"configurable": {"thread_id": thread_id}}
    result = agent.invoke(Command(resume=True), config)
    print(result["messages"][-1].content)
    saver.close()
    store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
