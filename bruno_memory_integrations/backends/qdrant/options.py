"""Options of the Qdrant backend: URL forms, names, defaults and checks (before any connection).

URL forms (see docs/backends/qdrant.md):

* ``qdrant://host:6333`` (HTTP) and ``qdrants://host:6333`` (HTTPS): a server.
  An API key comes as ``api_key=`` or as the URL's password
  (``qdrants://:KEY@host``); ``prefer_grpc=true`` talks gRPC on ``grpc_port``.
* ``qdrant:///relative/dir`` and ``qdrant:////absolute/dir``: local mode on disk.
* ``qdrant://:memory:``: local mode in memory (``name=`` shares one in-process
  database between stores, like ``sqlite://:memory:``).

Options may also be given as query parameters (``?prefer_grpc=true&prefix=app``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from ...errors import ConfigurationError

__all__ = ["QdrantOptions", "QdrantTarget", "mask_url", "parse_options", "parse_url"]

DEFAULT_PORT = 6333
_SCHEMES = ("qdrant", "qdrants")
#: Options the backend reads; for a server, other keywords go to ``QdrantClient``.
OUR_OPTIONS = ("prefix", "batch_size", "keyword_search", "payload_indexes", "exact", "hnsw_ef")
#: Connection options read from a server URL's query string.
_CLIENT_OPTIONS = ("api_key", "prefer_grpc", "grpc_port", "timeout", "https")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


@dataclass(frozen=True)
class QdrantTarget:
    """What a URL opens: ``mode`` is ``"server"``, ``"path"`` or ``"memory"``."""

    mode: str
    url: str | None = None  # server: scheme://host:port, no credentials
    path: str | None = None  # local mode on disk
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def description(self) -> str:
        if self.mode == "server":
            return str(self.url)
        if self.mode == "path":
            return f"qdrant local mode at {self.path}"
        return "qdrant local mode in memory"


@dataclass(frozen=True)
class QdrantOptions:
    """The backend's own options, checked."""

    prefix: str = "bruno"
    batch_size: int = 256
    keyword_search: bool = True
    payload_indexes: bool = True
    exact: bool = False
    hnsw_ef: int | None = None


def mask_url(url: str) -> str:
    """``url`` with any password / API key replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None and "api_key=" not in parts.query:
        return url
    netloc = parts.hostname or ""
    if parts.port is not None:
        netloc += f":{parts.port}"
    if parts.username or parts.password is not None:
        netloc = f"{parts.username or ''}:***@{netloc}"
    query = "&".join(
        f"{k}=***" if k == "api_key" else f"{k}={v}"
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
    )
    return f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")


def _bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in _TRUE + _FALSE:
        return value.lower() in _TRUE
    raise ConfigurationError(f"{name} must be true or false, got {value!r}")


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"{name} must be a positive integer, got {value!r}")
    return value


def parse_url(url: str) -> QdrantTarget:
    """Split a ``qdrant://`` URL into what it opens and its query options.

    Raises:
        ConfigurationError: not a qdrant URL, or a form it does not have.
    """
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in _SCHEMES:
        raise ConfigurationError(
            f"not a qdrant URL: {mask_url(url)!r}; expected 'qdrant://host:6333', "
            f"'qdrants://host:6333', 'qdrant:///path/to/dir' or 'qdrant://:memory:'"
        )
    rest, _, query = rest.partition("?")
    options: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
    if rest in (":memory:", "/:memory:"):
        if scheme != "qdrant":
            raise ConfigurationError("local mode has no TLS: use 'qdrant://:memory:'")
        return QdrantTarget("memory", options=options)
    if rest.startswith("/"):
        if scheme != "qdrant":
            raise ConfigurationError("local mode has no TLS: use 'qdrant:///path/to/dir'")
        path = unquote(rest[1:])
        if not path:
            raise ConfigurationError(
                f"bad qdrant URL {url!r}: name a directory ('qdrant:///relative/dir', "
                f"'qdrant:////absolute/dir') or use 'qdrant://:memory:'"
            )
        return QdrantTarget("path", path=os.path.abspath(path), options=options)
    try:
        parts = urlsplit(f"{scheme}://{rest}")
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise ConfigurationError(f"bad qdrant URL {mask_url(url)!r}: {exc}") from None
    if not host:
        raise ConfigurationError(f"bad qdrant URL {mask_url(url)!r}: it names no host")
    if parts.path not in ("", "/"):
        raise ConfigurationError(
            f"bad qdrant URL {mask_url(url)!r}: a server URL has no path (for local mode on "
            f"disk write 'qdrant:///{parts.path.lstrip('/')}')"
        )
    if parts.password:
        options.setdefault("api_key", unquote(parts.password))
    http = "https" if scheme == "qdrants" else "http"
    netloc = f"[{host}]" if ":" in host else host
    return QdrantTarget("server", url=f"{http}://{netloc}:{port or DEFAULT_PORT}", options=options)


def parse_options(options: dict[str, Any]) -> tuple[QdrantOptions, dict[str, Any]]:
    """(the backend's options, checked; the rest, for the client). ``options`` is consumed."""
    ours = {k: options.pop(k) for k in OUR_OPTIONS if k in options}
    prefix = ours.get("prefix", "bruno")
    if not isinstance(prefix, str) or not prefix or not prefix.replace("_", "").replace(
        "-", ""
    ).isalnum() or not prefix.isascii() or len(prefix) > 32:
        raise ConfigurationError(
            f"prefix must be 1-32 ASCII letters, digits, '_' or '-', got {prefix!r} "
            f"(it starts the name of every Qdrant collection the store makes)"
        )
    hnsw_ef = ours.get("hnsw_ef")
    opts = QdrantOptions(
        prefix=prefix,
        batch_size=_positive_int("batch_size", ours.get("batch_size", 256)),
        keyword_search=_bool("keyword_search", ours.get("keyword_search", True)),
        payload_indexes=_bool("payload_indexes", ours.get("payload_indexes", True)),
        exact=_bool("exact", ours.get("exact", False)),
        hnsw_ef=None if hnsw_ef is None else _positive_int("hnsw_ef", hnsw_ef),
    )
    return opts, options


def client_options(target: QdrantTarget, rest: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments for ``QdrantClient`` / ``AsyncQdrantClient`` from URL and options."""
    if target.mode != "server":
        if rest:
            raise ConfigurationError(
                f"unknown options for qdrant local mode: {sorted(rest)}; local mode takes "
                f"{', '.join(OUR_OPTIONS)} and name (in memory)"
            )
        return {}
    kwargs = dict(rest)
    if "prefer_grpc" in kwargs:
        kwargs["prefer_grpc"] = _bool("prefer_grpc", kwargs["prefer_grpc"])
    if "https" in kwargs:
        kwargs["https"] = _bool("https", kwargs["https"])
    if "grpc_port" in kwargs:
        kwargs["grpc_port"] = _positive_int("grpc_port", kwargs["grpc_port"])
    if "timeout" in kwargs:
        kwargs["timeout"] = _positive_int("timeout", kwargs["timeout"])
    api_key = kwargs.get("api_key")
    if api_key is not None and (not isinstance(api_key, str) or not api_key):
        raise ConfigurationError("api_key must be a non-empty string")
    for bad in ("location", "url", "host", "port", "path"):
        if bad in kwargs:
            raise ConfigurationError(f"option {bad} comes from the URL; remove it")
    return {"url": target.url, **kwargs}
