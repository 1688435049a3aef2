"""Options of the Chroma backend: URL forms, names, defaults and checks (before any connection).

URL forms (see docs/backends/chroma.md):

* ``chroma:///relative/dir`` and ``chroma:////absolute/dir``: the embedded engine
  (``chromadb.PersistentClient``) on that directory.
* ``chroma+http://host:8000`` and ``chroma+https://host:443``: a Chroma server
  (``HttpClient`` for sync calls, ``AsyncHttpClient`` for async ones). A token comes
  as ``token=`` or as the URL's password (``chroma+https://:TOKEN@host``); it is sent
  as ``Authorization: Bearer`` (or in ``X-Chroma-Token`` with ``token_header=``).

Options may also be given as query parameters (``?tenant=t&database=d&prefix=app``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from ...errors import ConfigurationError
from ...logs import redact_url

__all__ = ["ChromaOptions", "ChromaTarget", "mask_url", "parse_options", "parse_url"]

DEFAULT_PORTS = {"http": 8000, "https": 443}
#: Options the backend itself reads.
OUR_OPTIONS = ("prefix", "batch_size")
#: Options of a server connection.
SERVER_OPTIONS = ("token", "token_header", "tenant", "database", "ssl_verify", "headers")
_TOKEN_HEADERS = ("Authorization", "X-Chroma-Token")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


@dataclass(frozen=True)
class ChromaTarget:
    """What a URL opens: ``mode`` is ``"path"`` (embedded) or ``"server"``."""

    mode: str
    path: str | None = None
    host: str | None = None
    port: int | None = None
    ssl: bool = False
    options: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def description(self) -> str:
        if self.mode == "path":
            return f"embedded Chroma at {self.path}"
        scheme = "chroma+https" if self.ssl else "chroma+http"
        host = f"[{self.host}]" if self.host and ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"


@dataclass(frozen=True)
class ChromaOptions:
    """The backend's own options, checked."""

    prefix: str = "bruno"
    #: Records per request at most; the client's reported maximum caps it.
    batch_size: int | None = None


@dataclass(frozen=True)
class ServerOptions:
    """How to reach a server (never shown: the token)."""

    token: str | None = field(default=None, repr=False)
    token_header: str = "Authorization"
    tenant: str | None = None
    database: str | None = None
    ssl_verify: bool | str = True
    headers: dict[str, str] = field(default_factory=dict, repr=False)

    def all_headers(self) -> dict[str, str]:
        out = dict(self.headers)
        if self.token is not None:
            if self.token_header == "Authorization":
                out["Authorization"] = f"Bearer {self.token}"
            else:
                out["X-Chroma-Token"] = self.token
        return out


def mask_url(url: str) -> str:
    """``url`` with any password / token replaced by ``***``."""
    return redact_url(url)


def _bool_or_path(name: str, value: Any) -> bool | str:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in _TRUE + _FALSE:
        return value.lower() in _TRUE
    if isinstance(value, str) and value:
        return value  # a CA bundle
    raise ConfigurationError(f"{name} must be true, false or a CA bundle path, got {value!r}")


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"{name} must be a positive integer, got {value!r}")
    return value


def parse_url(url: str) -> ChromaTarget:
    """Split a ``chroma`` URL into what it opens and its query options.

    Raises:
        ConfigurationError: not a chroma URL, or a form it does not have.
    """
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    expected = (
        "expected 'chroma:///path/to/dir', 'chroma+http://host:8000' or "
        "'chroma+https://host:443'"
    )
    if not sep or scheme not in ("chroma", "chroma+http", "chroma+https"):
        raise ConfigurationError(f"not a chroma URL: {mask_url(url)!r}; {expected}")
    rest, _, query = rest.partition("?")
    options: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
    if scheme == "chroma":
        if not rest.startswith("/") or not rest.strip("/"):
            raise ConfigurationError(
                f"bad chroma URL {mask_url(url)!r}: 'chroma://' opens the embedded engine on a "
                f"directory ('chroma:///relative/dir', 'chroma:////absolute/dir'); for a "
                f"server write 'chroma+http://host:8000'"
            )
        return ChromaTarget("path", path=os.path.abspath(unquote(rest[1:])), options=options)
    ssl = scheme == "chroma+https"
    try:
        parts = urlsplit(f"http://{rest}")
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise ConfigurationError(f"bad chroma URL {mask_url(url)!r}: {exc}") from None
    if not host:
        raise ConfigurationError(f"bad chroma URL {mask_url(url)!r}: it names no host")
    if parts.path not in ("", "/"):
        raise ConfigurationError(
            f"bad chroma URL {mask_url(url)!r}: a server URL has no path (tenant and "
            f"database are options: '?tenant=t&database=d')"
        )
    if parts.password:
        options.setdefault("token", unquote(parts.password))
    return ChromaTarget(
        "server",
        host=host,
        port=port or DEFAULT_PORTS["https" if ssl else "http"],
        ssl=ssl,
        options=options,
    )


def parse_options(options: dict[str, Any]) -> ChromaOptions:
    """The backend's own options, checked (and removed from ``options``)."""
    ours = {k: options.pop(k) for k in OUR_OPTIONS if k in options}
    prefix = ours.get("prefix", "bruno")
    if (
        not isinstance(prefix, str)
        or not 1 <= len(prefix) <= 32
        or not prefix.isascii()
        or not prefix.replace("_", "").replace("-", "").isalnum()
        or not prefix[0].isalnum()
    ):
        raise ConfigurationError(
            f"prefix must be 1-32 ASCII letters, digits, '_' or '-' starting with a letter or "
            f"digit, got {prefix!r} (it starts the name of every Chroma collection the store "
            f"makes)"
        )
    batch = ours.get("batch_size")
    return ChromaOptions(
        prefix=prefix, batch_size=None if batch is None else _positive_int("batch_size", batch)
    )


def parse_server_options(target: ChromaTarget, rest: dict[str, Any]) -> ServerOptions:
    """Connection options of a server URL (consumes ``rest``; anything left is refused)."""
    unknown = sorted(set(rest) - set(SERVER_OPTIONS))
    if target.mode == "path":
        if rest:
            raise ConfigurationError(
                f"unknown options for embedded Chroma: {sorted(rest)}; it takes "
                f"{', '.join(OUR_OPTIONS)}"
            )
        return ServerOptions()
    if unknown:
        raise ConfigurationError(
            f"unknown options for a Chroma server: {unknown}; it takes "
            f"{', '.join(OUR_OPTIONS + SERVER_OPTIONS)}"
        )
    token = rest.get("token")
    if token is not None and (not isinstance(token, str) or not token):
        raise ConfigurationError("token must be a non-empty string")
    header = rest.get("token_header", "Authorization")
    if header not in _TOKEN_HEADERS:
        raise ConfigurationError(
            f"token_header must be one of {', '.join(_TOKEN_HEADERS)}, got {header!r}"
        )
    headers = rest.get("headers") or {}
    if not isinstance(headers, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        raise ConfigurationError("headers must be a dict of strings")
    for name in ("tenant", "database"):
        value = rest.get(name)
        if value is not None and (not isinstance(value, str) or not value):
            raise ConfigurationError(f"{name} must be a non-empty string")
    return ServerOptions(
        token=token,
        token_header=header,
        tenant=rest.get("tenant"),
        database=rest.get("database"),
        ssl_verify=_bool_or_path("ssl_verify", rest.get("ssl_verify", True)),
        headers=dict(headers),
    )
