"""End to end: a LangChain agent with tools on BrunoCheckpointSaver + BrunoStore.

It is interrupted, resumed in a new process from the same store URL, travels back
in time through get_state_history, and finds in one thread by semantic search a
memory written in another. Runs on every backend whose data another process can
reach (the ``persistent`` capability).
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

pytest.importorskip("langchain.agents", reason="needs the test extra (langchain)")

from langchain_core.messages import HumanMessage, ToolMessage
from langgraph_agent_app import build_agent
from stores import require_capability, store_url_for

from bruno_memory_integrations import Store

APP = Path(__file__).with_name("langgraph_agent_app.py")


def _ask(text: str) -> dict:
    return {"messages": [HumanMessage(text)]}


def test_agent_interrupt_resume_elsewhere_time_travel_and_memory(
    store: Store, store_kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    require_capability(store, "persistent")
    if store_kind == "milvus-lite":
        pytest.skip(
            "Milvus Lite: one process at a time opens its file, and this session holds it "
            "(the milvus kind resumes in a new process on the real server)"
        )
    url = store_url_for(store_kind, request, tmp_path)
    assert url is not None
    prefix = f"e2e{uuid.uuid4().hex[:10]}"
    agent, saver, _ = build_agent(url, prefix)
    t1 = {"configurable": {"thread_id": "t1"}}

    agent.invoke(_ask("remember: my favourite colour is teal"), t1)
    agent.invoke(_ask("remember: I live in Porto"), t1)
    paused = agent.invoke(_ask("book a flight to Lisbon"), t1)
    assert paused["__interrupt__"][0].value == {"question": "Book a flight to Lisbon?"}
    assert agent.get_state(t1).next == ("tools",)

    # A new process opens the same URL and resumes the interrupted thread.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(APP.parent), *sys.path])}
    done = subprocess.run(
        [sys.executable, str(APP), "resume", url, prefix, "t1"],
        capture_output=True, text=True, env=env, timeout=240, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "Done. booked Lisbon"

    # This process sees what the other one wrote.
    state = agent.get_state(t1)
    assert state.next == ()
    assert state.values["messages"][-1].content == "Done. booked Lisbon"
    assert isinstance(state.values["messages"][-2], ToolMessage)

    # Time travel: go back to before the booking and take another path.
    history = list(agent.get_state_history(t1))
    assert [h.config["configurable"]["checkpoint_id"] for h in history] == sorted(
        (h.config["configurable"]["checkpoint_id"] for h in history), reverse=True
    )
    before_booking = next(
        h for h in history
        if h.next == () and h.values["messages"][-1].content.startswith("Done. saved: I live")
    )
    forked = agent.invoke(_ask("where do I live?"), before_booking.config)
    assert forked["messages"][-1].content == "Done. I live in Porto"
    assert not any("Lisbon" in str(m.content) for m in forked["messages"])
    old = agent.get_state(before_booking.config)  # the old checkpoint is unchanged
    assert old.values["messages"] == before_booking.values["messages"]
    assert len(list(agent.get_state_history(t1))) > len(history)
    # The fork's parent is the checkpoint travelled back to.
    fork_parent = agent.get_state(t1).parent_config
    chain = {h.config["configurable"]["checkpoint_id"]: h for h in agent.get_state_history(t1)}
    target = before_booking.config["configurable"]["checkpoint_id"]
    while fork_parent["configurable"]["checkpoint_id"] != target:
        fork_parent = chain[fork_parent["configurable"]["checkpoint_id"]].parent_config

    # Long-term memory written in t1 is found by meaning in another thread.
    t2 = {"configurable": {"thread_id": "t2"}}
    answer = agent.invoke(_ask("what colour do I like best?"), t2)
    assert answer["messages"][-1].content == "Done. my favourite colour is teal"
    answer = agent.invoke(_ask("which city is my home?"), t2)
    assert answer["messages"][-1].content == "Done. I live in Porto"
    asked = [m.content for m in agent.get_state(t2).values["messages"]
             if isinstance(m, HumanMessage)]
    assert asked == ["what colour do I like best?", "which city is my home?"]
    saver.close()
