"""LoopClients: one async client per event loop, closed with its loop (backends/loops.py)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from bruno_memory_integrations.backends.loops import LoopClients


class Client:
    made = 0

    def __init__(self) -> None:
        Client.made += 1
        self.closed = False
        self.forgotten = False
        self.loop = asyncio.get_running_loop()


async def close(client: Client) -> None:
    assert asyncio.get_running_loop() is client.loop  # closed on its own loop
    client.closed = True


def forget(client: Client) -> None:
    client.forgotten = True


async def make() -> Client:
    await asyncio.sleep(0.01)  # other tasks ask meanwhile
    return Client()


def test_one_client_per_loop_made_once_and_closed_when_the_loop_shuts_down() -> None:
    clients: LoopClients[Client] = LoopClients(close, forget)

    async def use() -> list[Client]:
        return list(await asyncio.gather(*(clients.get(make) for _ in range(10))))

    first = asyncio.run(use())
    assert len({id(c) for c in first}) == 1  # ten tasks, one client
    assert first[0].closed and not first[0].forgotten  # by the loop's shutdown
    assert len(clients) == 0
    second = asyncio.run(use())
    assert second[0] is not first[0] and second[0].closed


def test_a_failed_make_reaches_every_waiting_task_and_the_next_call_retries() -> None:
    clients: LoopClients[Client] = LoopClients(close)
    attempts = []

    async def failing() -> Client:
        attempts.append(1)
        await asyncio.sleep(0.01)
        if len(attempts) == 1:
            raise ConnectionError("no server")
        return Client()

    async def use() -> None:
        results = await asyncio.gather(*(clients.get(failing) for _ in range(3)),
                                       return_exceptions=True)
        assert all(isinstance(r, ConnectionError) for r in results), results
        assert len(clients) == 0
        client = await clients.get(failing)
        assert len(attempts) == 2 and len(clients) == 1
        await clients.aclose()
        assert client.closed and len(clients) == 0

    asyncio.run(use())


def test_close_from_another_thread_closes_each_client_on_its_running_loop() -> None:
    clients: LoopClients[Client] = LoopClients(close, forget)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        client = asyncio.run_coroutine_threadsafe(clients.get(make), loop).result(5)
        clients.close()
        asyncio.run_coroutine_threadsafe(asyncio.sleep(0.05), loop).result(5)
        assert client.closed and len(clients) == 0
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


def test_a_loop_closed_without_shutting_down_has_its_client_forgotten() -> None:
    clients: LoopClients[Client] = LoopClients(close, forget)
    loop = asyncio.new_event_loop()
    client = loop.run_until_complete(clients.get(make))
    loop.close()  # no shutdown_asyncgens: the guard never runs
    assert not client.closed
    clients.close()
    assert client.forgotten and len(clients) == 0


def test_close_on_an_idle_loop_runs_it_to_close_the_client() -> None:
    clients: LoopClients[Client] = LoopClients(close)
    loop = asyncio.new_event_loop()
    try:
        client = loop.run_until_complete(clients.get(make))
        clients.close()
        assert client.closed
    finally:
        loop.close()


@pytest.mark.parametrize("n", [1, 3])
def test_made_lists_the_clients_of_open_loops(n: int) -> None:
    clients: LoopClients[Client] = LoopClients(close)
    loops = [asyncio.new_event_loop() for _ in range(n)]
    try:
        made = [lp.run_until_complete(clients.get(make)) for lp in loops]
        assert {id(c) for c in clients.made()} == {id(c) for c in made}
        clients.close()
        assert all(c.closed for c in made)
    finally:
        for lp in loops:
            lp.close()
