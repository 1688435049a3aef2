"""Store.upsert_stream: records from any iterable, written page by page in flat memory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bruno_memory_integrations import Record, Store, open_store
from bruno_memory_integrations.errors import InvalidInputError, InvalidVectorError


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path}/s.db"
    with open_store(url) as s:
        yield s


class Counted:
    """A one-pass generator of records that counts how many it has handed out."""

    def __init__(self, n: int, bad_at: int | None = None) -> None:
        self.n, self.bad_at, self.pulled = n, bad_at, 0

    def __iter__(self) -> Iterator[Record]:
        for i in range(self.n):
            self.pulled += 1
            vector = [float("nan"), 1.0] if i == self.bad_at else [1.0, float(i + 1)]
            yield Record(f"r{i}", f"text {i}", vector, {"i": i})


def _spy(store: Store, source: Counted) -> list[tuple[int, int]]:
    """Record (batch length, records pulled so far) at every backend upsert."""
    calls: list[tuple[int, int]] = []
    original = store.backend.upsert

    def upsert(collection: str, records: Any, ttl: Any = None) -> Any:
        calls.append((len(records), source.pulled))
        return original(collection, records, ttl)

    store.backend.upsert = upsert  # type: ignore[method-assign]
    return calls


def test_pages_are_written_while_the_stream_is_read(store: Store) -> None:
    source = Counted(2_345)
    calls = _spy(store, source)
    assert store.upsert_stream("c", iter(source), batch_size=500) == 2_345
    assert [size for size, _ in calls] == [500, 500, 500, 500, 345]
    # Each page is written after reading only that page: never the whole stream first.
    assert [pulled for _, pulled in calls] == [500, 1000, 1500, 2000, 2345]
    assert store.count("c") == 2_345
    assert store.get("c", ["r2344"])[0].metadata == {"i": 2344}


async def test_async_form_streams_the_same_way(store: Store) -> None:
    source = Counted(1_050)
    calls = _spy(store, source)
    assert await store.aupsert_stream("c", iter(source), batch_size=100) == 1_050
    assert max(pulled - 100 * k for k, (_, pulled) in enumerate(calls, start=1)) <= 0
    assert await store.acount("c") == 1_050


def test_a_bad_page_is_refused_whole_and_earlier_pages_stay(store: Store) -> None:
    source = Counted(1_000, bad_at=250)
    with pytest.raises(InvalidVectorError):
        store.upsert_stream("c", iter(source), batch_size=100)
    # Pages 0-199 were written; the page holding record 250 was refused before any write.
    assert store.count("c") == 200
    assert source.pulled == 300


@pytest.mark.parametrize("size", [0, -1, 1.5, True, "10"])
def test_bad_batch_size_is_refused_before_reading(store: Store, size: Any) -> None:
    source = Counted(10)
    with pytest.raises(InvalidInputError):
        store.upsert_stream("c", iter(source), batch_size=size)
    assert source.pulled == 0
    assert "c" not in store.list_collections()


def test_an_empty_stream_writes_nothing(store: Store) -> None:
    assert store.upsert_stream("c", iter(())) == 0
    assert "c" not in store.list_collections()
