"""URL forms and options of the Pinecone backend, checked before anything connects.

* ``pinecone://INDEX_HOST`` - the index's host as the console shows it (HTTPS);
* ``pinecone+http://127.0.0.1:5081`` - plain HTTP, for Pinecone Local or a test server;
* ``pinecone://`` with ``index_host=`` or ``index_name=`` (a name costs one
  control-plane call to find the host).

The API key comes from ``api_key=``, the URL's password (``pinecone://:KEY@host``)
or the ``PINECONE_API_KEY`` environment variable, in that order; it is never
shown in messages or reprs.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from ...errors import ConfigurationError

__all__ = ["API_KEY_ENV", "Settings", "check_common", "parse_settings"]

API_KEY_ENV = "PINECONE_API_KEY"
_PREFIX = re.compile(r"^[a-z0-9][a-z0-9_]{0,30}$")


@dataclass(frozen=True)
class Settings:
    host: str | None  # with its scheme
    index_name: str | None
    api_key: str = field(repr=False)
    prefix: str = "bruno"

    @property
    def description(self) -> str:
        target = self.host or f"index {self.index_name!r}"
        return f"Pinecone {target} (API key ***)"


def check_common(options: dict[str, Any]) -> dict[str, Any]:
    """Options that do not concern the connection (also used with client objects)."""
    prefix = options.pop("prefix", "bruno")
    if not isinstance(prefix, str) or not _PREFIX.match(prefix):
        raise ConfigurationError(
            f"prefix must be 1-31 lower-case letters, digits or '_' (it starts every "
            f"Pinecone namespace the store uses), got {prefix!r}"
        )
    return {"prefix": prefix}


def _host(raw: str, secure: bool) -> str:
    if raw.startswith(("http://", "https://")):
        return raw.rstrip("/")
    return f"{'https' if secure else 'http'}://{raw.rstrip('/')}"


def parse_settings(url: str, options: dict[str, Any]) -> Settings:
    """Read a ``pinecone://`` URL and the options; refuse anything unknown.

    Raises:
        ConfigurationError: a malformed URL, no API key, a bad or unknown option.
    """
    opts = dict(options)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ConfigurationError(f"bad Pinecone URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("pinecone", "pinecone+https", "pinecone+http"):
        raise ConfigurationError(
            f"a Pinecone URL starts with pinecone:// (or pinecone+http:// for a local "
            f"server), got {scheme}://"
        )
    if parts.path not in ("", "/"):
        raise ConfigurationError(
            f"a Pinecone URL has no path (got {parts.path!r}): pinecone://INDEX_HOST; "
            f"collections are namespaces named per call"
        )
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key in ("api_key", "apikey"):
            raise ConfigurationError(
                "do not put the API key in the query string (it ends up in logs): pass "
                f"api_key=, set {API_KEY_ENV}, or use pinecone://:KEY@host"
            )
        opts.setdefault(key, value)
    api_key = opts.pop("api_key", None)
    if api_key is None and parts.password:
        api_key = unquote(parts.password)
    if api_key is None:
        api_key = os.environ.get(API_KEY_ENV) or None
    if api_key is None:
        raise ConfigurationError(
            f"Pinecone needs an API key: pass api_key=, set {API_KEY_ENV}, or use "
            f"pinecone://:KEY@host (a local server accepts any key)"
        )
    if not isinstance(api_key, str) or not api_key:
        raise ConfigurationError("api_key must be a non-empty string")
    secure = scheme != "pinecone+http"
    host: str | None = None
    if parts.hostname:
        host = _host(parts.hostname + (f":{port}" if port else ""), secure)
    index_host = opts.pop("index_host", None)
    index_name = opts.pop("index_name", None)
    if index_host is not None:
        if not isinstance(index_host, str) or not index_host or host:
            raise ConfigurationError(
                "index_host must be a host name, given once (in the URL or as index_host=)"
            )
        host = _host(index_host, secure)
    if index_name is not None and (not isinstance(index_name, str) or not index_name):
        raise ConfigurationError(f"index_name must be an index's name, got {index_name!r}")
    if host is None and index_name is None:
        raise ConfigurationError(
            "say which index: pinecone://INDEX_HOST, or index_host= / index_name= (the host "
            "is on the index's page in the Pinecone console)"
        )
    common = check_common(opts)
    if opts:
        raise ConfigurationError(
            f"unknown options for the pinecone backend: {sorted(opts)}; known: api_key, "
            f"index_host, index_name, prefix"
        )
    return Settings(host=host, index_name=None if host else index_name, api_key=api_key,
                    **common)
