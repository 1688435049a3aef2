"""The server broker that lets pytest-xdist workers share one set of test servers."""

from __future__ import annotations

import threading
from pathlib import Path

try:
    import shared_servers
except ImportError:  # tests/ imported as a package
    from tests import shared_servers  # type: ignore[no-redef]


class _FakeServer:
    made: list[_FakeServer] = []  # noqa: RUF012 - the instances a test made

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.started = 0
        self.closed = False
        self.url = f"fake://{len(self.made)}"
        self.made.append(self)

    def start(self) -> _FakeServer:
        self.started += 1
        if self.fail:
            raise RuntimeError("no such program")
        return self

    def close(self) -> None:
        self.closed = True


def test_each_kind_starts_once_for_every_worker_and_closes_at_the_end() -> None:
    _FakeServer.made.clear()
    broker = shared_servers.Broker({"Fake": _FakeServer}).start()
    try:
        directory = str(broker.directory)
        answers: list[tuple[str | None, str | None]] = []

        def ask() -> None:
            answers.append(shared_servers.request_url("Fake", directory, wait=30))

        workers = [threading.Thread(target=ask) for _ in range(4)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        assert answers == [("fake://0", None)] * 4
        assert len(_FakeServer.made) == 1 and _FakeServer.made[0].started == 1
        # A later request is answered from the file, with no new server.
        assert shared_servers.request_url("Fake", directory, wait=30) == ("fake://0", None)
        assert len(_FakeServer.made) == 1
    finally:
        broker.close()
    assert _FakeServer.made[0].closed
    assert not Path(directory).exists()


def test_a_server_that_cannot_start_is_reported_with_its_reason() -> None:
    _FakeServer.made.clear()
    broker = shared_servers.Broker(
        {"Broken": lambda: _FakeServer(fail=True), "Fake": _FakeServer}
    ).start()
    try:
        url, error = shared_servers.request_url("Broken", str(broker.directory), wait=30)
        assert url is None
        assert error == "Broken server could not start: no such program"
        url, error = shared_servers.request_url("Unknown", str(broker.directory), wait=30)
        assert url is None and error is not None and "no shared server" in error
        # The others still start.
        assert shared_servers.request_url("Fake", str(broker.directory), wait=30)[0]
    finally:
        broker.close()
    assert all(s.closed for s in _FakeServer.made)


def test_a_broker_that_never_answers_ends_the_wait_with_a_reason(tmp_path: Path) -> None:
    url, error = shared_servers.request_url("Silent", str(tmp_path), wait=0.3)
    assert url is None and error is not None and "no answer" in error
    assert (tmp_path / "Silent.want").exists()


def test_only_xdist_workers_use_the_broker(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv(shared_servers.BROKER_ENV, raising=False)
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw0")
    assert not shared_servers.brokered()
    monkeypatch.setenv(shared_servers.BROKER_ENV, "/somewhere")
    assert shared_servers.brokered()
    monkeypatch.delenv("PYTEST_XDIST_WORKER")
    assert not shared_servers.brokered()
