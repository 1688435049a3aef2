"""URL forms and options of the Weaviate backend, checked before anything connects.

``weaviate://host[:port]`` (plain HTTP and gRPC) and ``weaviates://host[:port]``
(TLS for both). The API key may be given as ``api_key=`` or as the URL's password
(``weaviate://:KEY@host``); it is never shown in messages or reprs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from ...errors import ConfigurationError

__all__ = ["Settings", "parse_settings"]

#: Default ports: Weaviate's own (8080 REST, 50051 gRPC), or 443 for both over TLS
#: (Weaviate Cloud serves gRPC on ``grpc-<host>``: pass ``grpc_host`` for it).
DEFAULT_PORTS = {"weaviate": (8080, 50051), "weaviates": (443, 443)}
_PREFIX = re.compile(r"^[A-Z][A-Za-z0-9]{0,30}$")
_INDEXES = ("hnsw", "flat")


@dataclass(frozen=True)
class Settings:
    """Everything the backend needs to connect and to name its collections."""

    http_host: str
    http_port: int
    secure: bool
    grpc_host: str
    grpc_port: int
    api_key: str | None = field(default=None, repr=False)
    prefix: str = "Bruno"
    index: str = "hnsw"
    batch_size: int = 1000
    timeout: float = 30.0
    init_timeout: float = 5.0
    headers: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def description(self) -> str:
        """The server, for messages: never the API key."""
        scheme = "weaviates" if self.secure else "weaviate"
        auth = " (API key ***)" if self.api_key else ""
        return (
            f"{scheme}://{self.http_host}:{self.http_port} "
            f"(gRPC {self.grpc_host}:{self.grpc_port}){auth}"
        )


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"{name} must be a positive integer, got {value!r}")
    return value


def _positive_float(name: str, value: Any) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        out = -1.0
    if isinstance(value, bool) or not out > 0:
        raise ConfigurationError(f"{name} must be a positive number of seconds, got {value!r}")
    return out


def _port(name: str, value: Any) -> int:
    port = _positive_int(name, value)
    if port > 65535:
        raise ConfigurationError(f"{name} must be a TCP port (1-65535), got {value!r}")
    return port


def check_common(options: dict[str, Any]) -> dict[str, Any]:
    """Check the options that do not concern the connection (also used with client objects)."""
    out: dict[str, Any] = {}
    prefix = options.pop("prefix", "Bruno")
    if not isinstance(prefix, str) or not _PREFIX.match(prefix):
        raise ConfigurationError(
            f"prefix must start with an upper-case letter followed by up to 30 letters or "
            f"digits (Weaviate collection names start with one), got {prefix!r}"
        )
    out["prefix"] = prefix
    index = str(options.pop("index", "hnsw")).lower()
    if index not in _INDEXES:
        raise ConfigurationError(f"index must be one of {_INDEXES}, got {index!r}")
    out["index"] = index
    out["batch_size"] = _positive_int("batch_size", options.pop("batch_size", 1000))
    return out


def parse_settings(url: str, options: dict[str, Any]) -> Settings:
    """Read a ``weaviate://`` / ``weaviates://`` URL and the options; refuse anything unknown.

    Raises:
        ConfigurationError: a malformed URL, a bad or unknown option.
    """
    opts = dict(options)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ConfigurationError(f"bad Weaviate URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise ConfigurationError(f"a Weaviate URL starts with weaviate:// or weaviates://, "
                                 f"got {scheme}://")
    host = parts.hostname
    if not host:
        raise ConfigurationError("a Weaviate URL needs a host: weaviate://localhost:8080")
    if parts.path not in ("", "/"):
        raise ConfigurationError(
            f"a Weaviate URL has no path (got {parts.path!r}); collections are named per call"
        )
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key in ("api_key", "apikey"):
            raise ConfigurationError(
                "do not put the API key in the query string (it ends up in logs): pass "
                "api_key= or use weaviate://:KEY@host"
            )
        opts.setdefault(key, value)
    http_default, grpc_default = DEFAULT_PORTS[scheme]
    api_key = opts.pop("api_key", None)
    if api_key is None and parts.password:
        api_key = unquote(parts.password)
    if api_key is not None and (not isinstance(api_key, str) or not api_key):
        raise ConfigurationError("api_key must be a non-empty string")
    grpc_host = opts.pop("grpc_host", None) or host
    if not isinstance(grpc_host, str):
        raise ConfigurationError(f"grpc_host must be a host name, got {grpc_host!r}")
    headers = opts.pop("headers", None) or {}
    if not isinstance(headers, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        raise ConfigurationError("headers must be a dict of strings (e.g. vectorizer API keys)")
    common = check_common(opts)
    settings = Settings(
        http_host=host,
        http_port=_port("port", port or http_default),
        secure=scheme == "weaviates",
        grpc_host=grpc_host,
        grpc_port=_port("grpc_port", opts.pop("grpc_port", grpc_default)),
        api_key=api_key,
        timeout=_positive_float("timeout", opts.pop("timeout", 30.0)),
        init_timeout=_positive_float("init_timeout", opts.pop("init_timeout", 5.0)),
        headers=dict(headers),
        **common,
    )
    if opts:
        raise ConfigurationError(
            f"unknown options for the weaviate backend: {sorted(opts)}; known: api_key, "
            f"grpc_port, grpc_host, prefix, index, batch_size, timeout, init_timeout, headers"
        )
    return settings
