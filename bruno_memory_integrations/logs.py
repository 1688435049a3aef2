"""Standard :mod:`logging` for the package: logger names, slow operations, safe URLs.

Every part of the package logs through the standard library under one root name,
so an application turns it on or off like any other library::

    import logging
    logging.basicConfig(level=logging.INFO)                          # everything
    logging.getLogger("bruno_memory_integrations.backends.postgres").setLevel(logging.DEBUG)

Logger names:

* ``bruno_memory_integrations.backends.<backend>``: one per backend (``sqlite``,
  ``postgres``, ``redis``, ...): connections, retries and slow operations.
* ``bruno_memory_integrations.langchain`` / ``.llama_index``: the adapters (bulk adds).
* ``bruno_memory_integrations.cli``: the ``bruno-memory`` command.

Levels: ``DEBUG`` for every timed operation, ``INFO`` for connections opened and
closed, ``WARNING`` for retries and for operations slower than the threshold
(:func:`slow_threshold`: ``BRUNO_MEMORY_SLOW_SECONDS``, default 1 s). Nothing here
adds a handler: without logging configured, Python prints warnings and errors only.
Store URLs are logged through :func:`redact_url`, so passwords never reach a log.
See docs/logging.md.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = [
    "LOGGER_NAME",
    "SLOW_SECONDS_ENV",
    "backend_logger",
    "get_logger",
    "log_elapsed",
    "log_slow",
    "redact_url",
    "slow_threshold",
]

LOGGER_NAME = "bruno_memory_integrations"
#: Environment variable with the slow-operation threshold in seconds.
SLOW_SECONDS_ENV = "BRUNO_MEMORY_SLOW_SECONDS"
DEFAULT_SLOW_SECONDS = 1.0
#: Query parameters whose values are secrets (compared in lower case).
_SECRET_PARAMS = frozenset({"password", "passwd", "pwd", "api_key", "apikey", "token", "secret"})


def get_logger(component: str | None = None) -> logging.Logger:
    """The package's logger, or the logger of one component (``"langchain"``, ``"cli"``)."""
    return logging.getLogger(f"{LOGGER_NAME}.{component}" if component else LOGGER_NAME)


def backend_logger(backend: str) -> logging.Logger:
    """The logger of one backend: ``bruno_memory_integrations.backends.<backend>``."""
    return get_logger(f"backends.{backend}")


def slow_threshold() -> float:
    """Seconds above which an operation is logged as slow (``BRUNO_MEMORY_SLOW_SECONDS``).

    Read on every call, so a change of the variable at run time applies at once.
    An unreadable or negative value falls back to the default (1 s) rather than
    failing the operation being timed.
    """
    raw = _environ_value()
    parsed = _PARSED.get(raw)
    if parsed is None:
        parsed = _parse_threshold(raw)
        if len(_PARSED) < 64:
            _PARSED[raw] = parsed
    return parsed


def _parse_threshold(raw: Any) -> float:
    text = (os.fsdecode(raw) if isinstance(raw, bytes) else raw or "").strip()
    if not text:
        return DEFAULT_SLOW_SECONDS
    try:
        value = float(text)
    except ValueError:
        return DEFAULT_SLOW_SECONDS
    return value if value >= 0 else DEFAULT_SLOW_SECONDS


def _environ_lookup() -> Callable[[], Any]:
    """A cheap read of ``BRUNO_MEMORY_SLOW_SECONDS``: every backend call reads it.

    ``os.environ.get`` costs about a microsecond (key encoding, and a ``KeyError``
    caught when unset). ``os.environ`` keeps its items in ``_data`` under encoded
    keys, and every change made through it (``os.environ[...] =``, ``monkeypatch``)
    lands there; so the raw value is one dict lookup. Elsewhere, the plain read.
    """
    data = getattr(os.environ, "_data", None)
    encode = getattr(os.environ, "encodekey", None)
    if isinstance(data, dict) and callable(encode):
        return functools.partial(data.get, encode(SLOW_SECONDS_ENV))
    return functools.partial(os.environ.get, SLOW_SECONDS_ENV)


_environ_value = _environ_lookup()
#: Parsed thresholds by raw value (bytes or str, or None when unset).
_PARSED: dict[Any, float] = {}


def _details(details: dict[str, Any]) -> str:
    return "".join(f" {k}={v}" for k, v in details.items())


class log_slow:  # used as a function: ``with log_slow(...)``
    """Time the block; log a warning when it took ``threshold`` seconds or more.

    Faster blocks are logged at ``DEBUG``. A block that raises is logged the same
    way with ``failed`` added, and the exception goes on unchanged.

    Args:
        logger: Where to log (usually :func:`backend_logger`).
        operation: What the block does, e.g. ``"upsert"``.
        threshold: Seconds; default :func:`slow_threshold`.
        **details: ``key=value`` pairs added to the message (collection, count...).

    Example:
        >>> log = backend_logger("sqlite")
        >>> with log_slow(log, "upsert", collection="docs", records=3):
        ...     pass

    A class rather than a generator-based context manager: it wraps every backend
    call, and this form costs a third as much.
    """

    __slots__ = ("_details", "_limit", "_logger", "_operation", "_started")

    def __init__(
        self,
        logger: logging.Logger,
        operation: str,
        *,
        threshold: float | None = None,
        **details: Any,
    ) -> None:
        self._logger = logger
        self._operation = operation
        self._limit = slow_threshold() if threshold is None else threshold
        self._details = details
        self._started = 0.0

    def __enter__(self) -> None:
        self._started = time.perf_counter()

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        elapsed = time.perf_counter() - self._started
        log_elapsed(
            self._logger, self._operation, elapsed, exc_type is not None, self._limit,
            self._details,
        )


def log_elapsed(
    logger: logging.Logger,
    operation: str | Callable[[], str],
    elapsed: float,
    failed: bool = False,
    threshold: float | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Log one timed operation as :class:`log_slow` does (its message format).

    For callers that time with ``time.perf_counter()`` themselves, on paths where a
    context manager object per call costs more than the call it times (every backend
    call of a :class:`~bruno_memory_integrations.Store`). ``operation`` may be a
    function giving the name, called only when something is logged.
    """
    limit = slow_threshold() if threshold is None else threshold
    if elapsed >= limit:
        name = operation if isinstance(operation, str) else operation()
        logger.warning(
            "slow %s%s: %.3f s (threshold %.3f s)%s",
            name, " failed" if failed else "", elapsed, limit, _details(details or {}),
        )
    elif logger.isEnabledFor(logging.DEBUG):
        name = operation if isinstance(operation, str) else operation()
        logger.debug(
            "%s%s: %.3f s%s", name, " failed" if failed else "", elapsed, _details(details or {})
        )


def redact_url(url: str) -> str:
    """``url`` with its password (and secret query parameters) replaced by ``***``.

    For logs and messages: a store URL may carry credentials.

    Example:
        >>> redact_url("postgresql://app:secret@db:5432/app")
        'postgresql://app:***@db:5432/app'
        >>> redact_url("redis://db:6379/0?password=secret&ssl=true")
        'redis://db:6379/0?password=***&ssl=true'
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "<unparsable URL>"
    netloc = parts.netloc
    if parts.password is not None:
        host = parts.hostname or ""
        if ":" in host:  # an IPv6 literal
            host = f"[{host}]"
        netloc = f"{parts.username or ''}:***@{host}" + (f":{port}" if port is not None else "")
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(k.lower() in _SECRET_PARAMS for k, _ in pairs):
            query = urlencode(
                [(k, "***" if k.lower() in _SECRET_PARAMS else v) for k, v in pairs], safe="*"
            )
    if netloc == parts.netloc and query == parts.query:
        return url
    if "://" not in url:
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    # Rebuilt by hand: urlunsplit drops the "//" of an empty host (sqlite:///x.db).
    return (
        f"{parts.scheme}://{netloc}{parts.path}"
        + (f"?{query}" if query else "")
        + (f"#{parts.fragment}" if parts.fragment else "")
    )


def logger_for(backend: object) -> logging.Logger:
    """``bruno_memory_integrations.backends.<folder>``: where a backend's package logs."""
    module = type(backend).__module__
    package = module.rsplit(".", 1)[0] if module.endswith(".backend") else module
    return logging.getLogger(package)
