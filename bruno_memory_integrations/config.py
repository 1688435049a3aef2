"""``BackendConfig``: a store's configuration as data (a dict, a TOML file, the environment).

A config names the backend (``type``, any name :func:`create_backend` takes), an
``endpoint`` (a store URL, a file path, or ``host[:port]``), an optional API key
and backend options. Builders return new configs (it is immutable), ``open()``
gives the Store, and ``repr`` never shows a secret: the API key, passwords in the
endpoint URL and options whose name says they are secret all print as ``***``.

::

    config = BackendConfig("qdrant", "qdrant.internal:6333").with_api_key(key)
    store = config.with_option("collection_name", "memories").open()
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .errors import ConfigurationError
from .factory import build_url, create_backend, factory_entry

__all__ = ["ENV_PREFIX", "BackendConfig"]

#: Environment variables read by :meth:`BackendConfig.from_env`:
#: ``BRUNO_MEMORY_BACKEND``, ``…_ENDPOINT``, ``…_API_KEY``, ``…_OPTION_<NAME>``
#: (or ``BRUNO_MEMORY_URL`` alone).
ENV_PREFIX = "BRUNO_MEMORY_"
_SECRET = re.compile(r"pass|secret|token|api_?key|credential|auth", re.IGNORECASE)
_FIELDS = ("type", "endpoint", "api_key", "options")


def _mask(name: str, value: Any) -> Any:
    from .logs import redact_url

    if _SECRET.search(name):
        return "***"
    if isinstance(value, str) and "://" in value:
        return redact_url(value)
    return value


@dataclass(frozen=True)
class BackendConfig:
    """Which store to open and how.

    Attributes:
        type: Backend name (``"sqlite"``, ``"postgresql"``, ``"redis"``, ``"qdrant"``…).
        endpoint: A store URL, a file path (SQLite, Chroma, Milvus Lite) or
            ``host[:port]`` (servers); ``None`` for the backend's default.
        api_key: Secret for the server; goes where the backend takes it (``api_key``,
            or the password for PostgreSQL and Redis).
        options: The backend's options, in the guides' names (``pool_size``, ``ttl``…).
    """

    type: str
    endpoint: str | None = None
    api_key: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        factory_entry(self.type)  # an unknown name fails here, listing the valid ones
        if self.endpoint is not None and (not isinstance(self.endpoint, str) or not self.endpoint):
            raise ConfigurationError(f"endpoint must be a non-empty string, got {self.endpoint!r}")
        if self.endpoint is not None and "://" in self.endpoint:
            scheme = self.endpoint.split("://", 1)[0].split("+", 1)[0].lower()
            scheme = {"rediss": "redis", "qdrants": "qdrant", "weaviates": "weaviate",
                      "postgres": "postgresql", "milvuss": "milvus"}.get(scheme, scheme)
            if scheme != factory_entry(self.type).scheme:
                from .logs import redact_url

                raise ConfigurationError(
                    f"the endpoint {redact_url(self.endpoint)!r} is not a "
                    f"{factory_entry(self.type).scheme} URL (type={self.type!r})"
                )
        if self.api_key is not None and (not isinstance(self.api_key, str) or not self.api_key):
            raise ConfigurationError("api_key must be a non-empty string")
        if not isinstance(self.options, Mapping) or not all(
            isinstance(k, str) for k in self.options
        ):
            raise ConfigurationError("options must be a mapping of option names to values")
        object.__setattr__(self, "options", dict(self.options))

    # ------------------------------------------------------------ builders
    def with_api_key(self, api_key: str) -> BackendConfig:
        """A copy with this API key."""
        return replace(self, api_key=api_key)

    def with_endpoint(self, endpoint: str) -> BackendConfig:
        """A copy with this endpoint."""
        return replace(self, endpoint=endpoint)

    def with_option(self, name: str, value: Any) -> BackendConfig:
        """A copy with one option set."""
        return replace(self, options={**self.options, name: value})

    def with_options(self, **options: Any) -> BackendConfig:
        """A copy with these options set."""
        return replace(self, options={**self.options, **options})

    # ------------------------------------------------------------ opening
    def create_options(self) -> dict[str, Any]:
        """The keyword arguments for :func:`create_backend` (endpoint and key placed)."""
        entry = factory_entry(self.type)
        opts = dict(self.options)
        if self.endpoint is not None and "://" not in self.endpoint:
            if entry.endpoint is None:
                raise ConfigurationError(f"the {entry.scheme} backend takes no endpoint")
            for key, value in entry.endpoint(self.endpoint).items():
                opts.setdefault(key, value)
        if self.api_key is not None:
            if entry.api_key_option is None:
                raise ConfigurationError(f"the {entry.scheme} backend takes no API key")
            opts[entry.api_key_option] = self.api_key
        return opts

    def url(self) -> str:
        """The store URL this config opens (may hold a password: don't log it)."""
        if self.endpoint is not None and "://" in self.endpoint:
            return self.endpoint
        return build_url(self.type, self.create_options())[0]

    def open(self) -> Any:
        """Open the :class:`~bruno_memory_integrations.store.Store`."""
        if self.endpoint is not None and "://" in self.endpoint:
            from .registry import open_store

            opts = dict(self.options)
            if self.api_key is not None:
                entry = factory_entry(self.type)
                if entry.api_key_option is None or entry.api_key_option == "password":
                    raise ConfigurationError(
                        f"put the {entry.scheme} password in the endpoint URL, not api_key"
                    )
                opts[entry.api_key_option] = self.api_key
            store_opts = factory_entry(self.type).store_options
            return open_store(self.endpoint, **{store_opts.get(k, k): v for k, v in opts.items()})
        return create_backend(self.type, **self.create_options())

    # ------------------------------------------------------------ loading
    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BackendConfig:
        """From ``{"type": …, "endpoint": …, "api_key": …, "options": {…}}``.

        Keys other than those four are taken as options too, so a flat
        ``{"type": "redis", "host": "h", "ttl": 60}`` works.
        """
        if not isinstance(data, Mapping):
            raise ConfigurationError(f"a backend config is a mapping, got {type(data).__name__}")
        if "type" not in data:
            raise ConfigurationError("a backend config needs a type (the backend's name)")
        nested = data.get("options") or {}
        if not isinstance(nested, Mapping):
            raise ConfigurationError("options must be a table / mapping")
        flat = {k: v for k, v in data.items() if k not in _FIELDS}
        return cls(
            str(data["type"]), data.get("endpoint"), data.get("api_key"), {**flat, **nested}
        )

    @classmethod
    def from_toml(cls, path: str | os.PathLike[str], table: str | None = "store") -> BackendConfig:
        """From a TOML file; ``table`` names the table holding the config (``None``: top level).

        ::

            [store]
            type = "postgresql"
            endpoint = "postgresql://app@db.internal/app"
            [store.options]
            pool_size = 20
        """
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover - Python 3.10
            import tomli as tomllib
        try:
            data: Any = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigurationError(f"cannot read the config file {str(path)!r}: {exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigurationError(f"{str(path)!r} is not valid TOML: {exc}") from None
        if table is not None:
            for part in table.split("."):
                if not isinstance(data, dict) or part not in data:
                    raise ConfigurationError(f"{str(path)!r} has no [{table}] table")
                data = data[part]
        return cls.from_dict(data)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, prefix: str = ENV_PREFIX
    ) -> BackendConfig:
        """From ``BRUNO_MEMORY_BACKEND``, ``_ENDPOINT``, ``_API_KEY`` and ``_OPTION_<NAME>``.

        ``BRUNO_MEMORY_URL`` alone also works (the type is its scheme). Option
        values are read as JSON when they parse (``20``, ``true``), else as strings.
        """
        env = os.environ if environ is None else environ
        options: dict[str, Any] = {}
        for key, raw in env.items():
            if key.startswith(prefix + "OPTION_") and len(key) > len(prefix) + 7:
                try:
                    value: Any = json.loads(raw)
                except ValueError:
                    value = raw
                options[key[len(prefix) + 7:].lower()] = value
        kind = env.get(prefix + "BACKEND")
        endpoint = env.get(prefix + "ENDPOINT") or env.get(prefix + "URL") or None
        if kind is None:
            if endpoint is None or "://" not in endpoint:
                raise ConfigurationError(
                    f"set {prefix}BACKEND (a backend name) or {prefix}URL (a store URL)"
                )
            kind = endpoint.split("://", 1)[0].split("+", 1)[0]
            kind = {"rediss": "redis", "qdrants": "qdrant", "weaviates": "weaviate"}.get(
                kind, kind
            )
        return cls(kind, endpoint, env.get(prefix + "API_KEY") or None, options)

    # ------------------------------------------------------------ display
    def __repr__(self) -> str:
        options = {k: _mask(k, v) for k, v in self.options.items()}
        endpoint = None if self.endpoint is None else _mask("endpoint", self.endpoint)
        api_key = None if self.api_key is None else "***"
        return (
            f"BackendConfig(type={self.type!r}, endpoint={endpoint!r}, api_key={api_key!r}, "
            f"options={options!r})"
        )

    __str__ = __repr__
