"""Options of the Milvus backend: URL forms, defaults and checks (before any connection).

URL forms (see docs/backends/milvus.md):

* ``milvus:///relative/file.db`` and ``milvus:////absolute/file.db``: a Milvus Lite
  file, opened in this process (``MilvusClient(path)``).
* ``milvus://host:19530`` (plain gRPC) and ``milvuss://host:19530`` (TLS): a Milvus
  server. Credentials come as ``token=`` or ``user=`` / ``password=`` options, or as
  the URL's user info (``milvus://user:password@host``).

Options may also be given as query parameters (``?db_name=app&prefix=app``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from ...errors import ConfigurationError

__all__ = ["INDEXES", "MilvusOptions", "MilvusTarget", "mask_url", "parse_options", "parse_url"]

DEFAULT_PORT = 19530
_SCHEMES = ("milvus", "milvuss")
#: Options the backend reads; for a server, the others go to ``MilvusClient``.
OUR_OPTIONS = (
    "prefix", "scope", "batch_size", "index", "index_params", "search_params", "consistency",
)
#: Consistency levels of reads (``consistency`` option).
CONSISTENCY = ("Session", "Strong", "Bounded", "Eventually")
#: Connection options read from a URL's query string.
_CLIENT_OPTIONS = ("token", "user", "password", "db_name", "timeout")
_SECRETS = ("token", "password")
#: Vector index types the backend can make (``index`` option).
INDEXES = ("FLAT", "HNSW", "IVF_FLAT", "AUTOINDEX")


@dataclass(frozen=True)
class MilvusTarget:
    """What a URL opens: ``mode`` is ``"server"`` or ``"lite"``."""

    mode: str
    uri: str  # server: http(s)://host:port, no credentials; lite: the file's path
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def description(self) -> str:
        return self.uri if self.mode == "server" else f"Milvus Lite at {self.uri}"


@dataclass(frozen=True)
class MilvusOptions:
    """The backend's own options, checked."""

    prefix: str = "bruno"
    scope: str = ""
    batch_size: int = 512
    index: str = "FLAT"
    index_params: dict[str, Any] = field(default_factory=dict)
    search_params: dict[str, Any] = field(default_factory=dict)
    consistency: str = "Session"


def mask_url(url: str) -> str:
    """``url`` with any password or token replaced by ``***``."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return "<unparsable URL>"
    query = parse_qsl(parts.query, keep_blank_values=True)
    if password is None and not any(k in _SECRETS for k, _ in query):
        return url
    netloc = parts.hostname or ""
    if parts.port is not None:
        netloc += f":{parts.port}"
    if parts.username or password is not None:
        netloc = f"{parts.username or ''}:***@{netloc}"
    text = "&".join(f"{k}=***" if k in _SECRETS else f"{k}={v}" for k, v in query)
    return f"{parts.scheme}://{netloc}{parts.path}" + (f"?{text}" if text else "")


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"{name} must be a positive integer, got {value!r}")
    return value


def parse_url(url: str) -> MilvusTarget:
    """Split a ``milvus://`` URL into what it opens and its query options.

    Raises:
        ConfigurationError: not a milvus URL, or a form it does not have.
    """
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in _SCHEMES:
        raise ConfigurationError(
            f"not a milvus URL: {mask_url(url)!r}; expected 'milvus://host:19530', "
            f"'milvuss://host:19530' or 'milvus:///path/to/file.db' (Milvus Lite)"
        )
    rest, _, query = rest.partition("?")
    options: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
    if rest.startswith("/"):
        if scheme != "milvus":
            raise ConfigurationError("Milvus Lite has no TLS: use 'milvus:///path/to/file.db'")
        path = unquote(rest[1:])
        if not path or path.endswith("/"):
            raise ConfigurationError(
                f"bad milvus URL {url!r}: name a file ('milvus:///relative/file.db', "
                f"'milvus:////absolute/file.db')"
            )
        return MilvusTarget("lite", os.path.abspath(path), options)
    try:
        parts = urlsplit(f"{scheme}://{rest}")
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise ConfigurationError(f"bad milvus URL {mask_url(url)!r}: {exc}") from None
    if not host:
        raise ConfigurationError(f"bad milvus URL {mask_url(url)!r}: it names no host")
    if parts.path not in ("", "/"):
        raise ConfigurationError(
            f"bad milvus URL {mask_url(url)!r}: a server URL has no path (for a Milvus Lite "
            f"file write 'milvus:///{parts.path.lstrip('/')}'; a database is db_name=)"
        )
    if parts.username:
        options.setdefault("user", unquote(parts.username))
    if parts.password:
        options.setdefault("password", unquote(parts.password))
    http = "https" if scheme == "milvuss" else "http"
    netloc = f"[{host}]" if ":" in host else host
    return MilvusTarget("server", f"{http}://{netloc}:{port or DEFAULT_PORT}", options)


def _dict(name: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigurationError(f"{name} must be a dict, got {value!r}")
    return dict(value)


def parse_options(options: dict[str, Any]) -> tuple[MilvusOptions, dict[str, Any]]:
    """(the backend's options, checked; the rest, for the client). ``options`` is consumed."""
    ours = {k: options.pop(k) for k in OUR_OPTIONS if k in options}
    prefix = ours.get("prefix", "bruno")
    if (
        not isinstance(prefix, str)
        or not prefix
        or not prefix.isascii()
        or not prefix.replace("_", "").isalnum()
        or not prefix[0].isalpha()
        or len(prefix) > 32
    ):
        raise ConfigurationError(
            f"prefix must be 1-32 ASCII letters, digits or '_', starting with a letter, got "
            f"{prefix!r} (it starts the name of every Milvus collection the store makes)"
        )
    scope = ours.get("scope", "")
    if not isinstance(scope, str) or "\x00" in scope or len(scope.encode("utf-8", "replace")) > 256:
        raise ConfigurationError(f"scope must be a string of at most 256 bytes, got {scope!r}")
    index = str(ours.get("index", "FLAT")).upper()
    if index not in INDEXES:
        raise ConfigurationError(f"index must be one of {', '.join(INDEXES)}, got {index!r}")
    consistency = str(ours.get("consistency", "Session")).capitalize()
    if consistency not in CONSISTENCY:
        raise ConfigurationError(
            f"consistency must be one of {', '.join(CONSISTENCY)}, got {ours['consistency']!r}"
        )
    opts = MilvusOptions(
        prefix=prefix,
        scope=scope,
        batch_size=_positive_int("batch_size", ours.get("batch_size", 512)),
        index=index,
        index_params=_dict("index_params", ours.get("index_params", {})),
        search_params=_dict("search_params", ours.get("search_params", {})),
        consistency=consistency,
    )
    return opts, options


def client_options(target: MilvusTarget, rest: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments for ``MilvusClient`` / ``AsyncMilvusClient`` from URL and options."""
    if target.mode == "lite":
        if rest:
            raise ConfigurationError(
                f"unknown options for Milvus Lite: {sorted(rest)}; a Lite file takes "
                f"{', '.join(OUR_OPTIONS)}"
            )
        return {"uri": target.uri}
    kwargs = dict(rest)
    for bad in ("uri", "host", "port", "path", "url"):
        if bad in kwargs:
            raise ConfigurationError(f"option {bad} comes from the URL; remove it")
    for name in ("token", "user", "password", "db_name"):
        if name in kwargs and not isinstance(kwargs[name], str):
            raise ConfigurationError(f"{name} must be a string")
    if "timeout" in kwargs:
        kwargs["timeout"] = float(_positive_int("timeout", kwargs["timeout"]))
    return {"uri": target.uri, **kwargs}
