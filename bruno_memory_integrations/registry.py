"""Backends chosen by URL scheme (or by the client object you already have).

The registry maps a scheme to a dotted path; the backend module, and with it its
driver, is imported only when that scheme is opened, so ``import
bruno_memory_integrations`` imports no driver. A missing driver gives a
:class:`~bruno_memory_integrations.errors.MissingDependencyError` naming the extra.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from typing import Any

from .backend import Backend
from .errors import ConfigurationError, MissingDependencyError, UnknownBackendError
from .store import Store

__all__ = [
    "DEFAULT_URL",
    "BackendEntry",
    "available_backends",
    "create_with_fallback",
    "default_url",
    "open_backend",
    "open_store",
    "register_backend",
]

#: Options that belong to the Store rather than to the backend.
_STORE_OPTIONS = ("default_metric", "default_ttl")


@dataclass(frozen=True)
class BackendEntry:
    """Where a backend lives and what it needs.

    Attributes:
        target: ``"package.module:ClassName"`` of the :class:`Backend` subclass.
        package: The driver's import name, checked before importing ``target``.
        extra: The pip extra that installs the driver.
        client_modules: Module prefixes of client objects this backend accepts.
    """

    target: str
    package: str | None = None
    extra: str | None = None
    client_modules: tuple[str, ...] = ()


_B = "bruno_memory_integrations.backends"
_REGISTRY: dict[str, BackendEntry] = {
    "memory": BackendEntry(f"{_B}.memory:MemoryBackend"),
    "sqlite": BackendEntry(f"{_B}.sqlite:SQLiteBackend", client_modules=("sqlite3", "pysqlite3")),
    "postgresql": BackendEntry(
        f"{_B}.postgres:PostgresBackend", "psycopg", "postgres", ("psycopg", "psycopg_pool")
    ),
    "redis": BackendEntry(f"{_B}.redis:RedisBackend", "redis", "redis", ("redis",)),
    "qdrant": BackendEntry(
        f"{_B}.qdrant:QdrantBackend", "qdrant_client", "qdrant", ("qdrant_client",)
    ),
    "weaviate": BackendEntry(
        f"{_B}.weaviate:WeaviateBackend", "weaviate", "weaviate", ("weaviate",)
    ),
    "pinecone": BackendEntry(
        f"{_B}.pinecone:PineconeBackend", "pinecone", "pinecone", ("pinecone",)
    ),
    "chroma": BackendEntry(f"{_B}.chroma:ChromaBackend", "chromadb", "chroma", ("chromadb",)),
    "milvus": BackendEntry(f"{_B}.milvus:MilvusBackend", "pymilvus", "milvus", ("pymilvus",)),
}
_ALIASES = {
    "postgres": "postgresql",
    "rediss": "redis",
    "qdrants": "qdrant",
    "weaviates": "weaviate",
    "milvuss": "milvus",
}


def register_backend(scheme: str, entry: BackendEntry) -> None:
    """Add or replace the backend for a URL scheme (for third-party backends)."""
    _REGISTRY[scheme.lower()] = entry


def available_backends() -> dict[str, BackendEntry]:
    """Registered schemes (aliases not included)."""
    return dict(_REGISTRY)


def _scheme(url: str) -> str:
    if "://" not in url:
        raise ConfigurationError(
            f"not a store URL: {url!r}; expected e.g. 'sqlite:///path.db', 'memory://', "
            f"'postgresql://user@host/db', 'redis://host:6379' or 'qdrant://host:6333'"
        )
    scheme = url.split("://", 1)[0].lower()
    scheme = scheme.split("+", 1)[0]  # "postgresql+psycopg" names store and driver
    return _ALIASES.get(scheme, scheme)


def _installed(package: str) -> bool:
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):  # blocked (sys.modules[name] = None) or broken
        return False


def load_backend_class(scheme: str) -> type[Backend]:
    """Import and return the backend class for ``scheme``."""
    entry = _REGISTRY.get(scheme)
    if entry is None:
        known = ", ".join(sorted(set(_REGISTRY) | set(_ALIASES)))
        raise UnknownBackendError(f"no backend for URL scheme {scheme!r}; known schemes: {known}")
    if entry.package and not _installed(entry.package):
        raise MissingDependencyError(entry.package, entry.extra or scheme, f"the {scheme} backend")
    module_name, _, cls_name = entry.target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        missing = getattr(exc, "name", None) or entry.package or scheme
        raise MissingDependencyError(
            missing, entry.extra or scheme, f"the {scheme} backend"
        ) from exc
    cls: type[Backend] = getattr(module, cls_name)
    return cls


def open_backend(target: Any, **options: Any) -> Backend:
    """A backend from a URL, a :class:`Store` (its backend), a :class:`Backend` or a client.

    Used for the parts of composite and fallback stores; ``options`` apply to a URL only.
    """
    if isinstance(target, Backend):
        return target
    if isinstance(target, Store):
        return target.backend
    return open_store(target, **options).backend


def create_with_fallback(stores: Any, **options: Any) -> Store:
    """One Store over stores that back each other up; see
    :func:`bruno_memory_integrations.backends.fallback.create_with_fallback`."""
    from .backends.fallback import create_with_fallback as create

    return create(stores, **options)  # type: ignore[no-any-return]


def _split(options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    store = {k: options.pop(k) for k in _STORE_OPTIONS if k in options}
    return store, options


#: Where ``open_store()`` with no argument and no ``BRUNO_MEMORY_URL`` keeps its data:
#: ``bruno_memory.db`` in the working directory (like ``git`` or a notebook's files),
#: so a project's memory stays with the project and is easy to find and delete.
DEFAULT_URL = "sqlite:///bruno_memory.db"
#: The environment variable ``open_store()`` reads when called with no target.
URL_ENV = "BRUNO_MEMORY_URL"


def default_url() -> str:
    """``BRUNO_MEMORY_URL`` when set (and not empty), else :data:`DEFAULT_URL`."""
    import os

    return os.environ.get(URL_ENV, "").strip() or DEFAULT_URL


def open_store(
    target: str | Any = None,
    *,
    records: str | Any = None,
    chat: str | Any = None,
    kv: str | Any = None,
    **options: Any,
) -> Store:
    """Open a :class:`Store` from a URL, a config, or a client object you already have.

    Args:
        target: A URL (``sqlite:///path.db``, ``sqlite://:memory:``, ``memory://``,
            ``postgresql://…``, ``redis://…``, ``qdrant://…``), a
            :class:`~bruno_memory_integrations.config.BackendConfig`, a driver
            client/connection/pool, a Store or a Backend. ``None`` (the default):
            ``BRUNO_MEMORY_URL``, else :data:`DEFAULT_URL` (``./bruno_memory.db``).
        records: Keep vector records in this store instead (URL, Store or Backend).
        chat: Keep chat messages in this store instead.
        kv: Keep key-value items in this store instead. With any of ``records``,
            ``chat``, ``kv`` the result is a composite store (docs/cookbook/composite.md):
            kinds not named live in ``target`` when given, else are absent.
        **options: Backend options (see each backend's docs page) and the store
            options ``default_metric`` and ``default_ttl``.

    Raises:
        UnknownBackendError: no backend for the URL scheme or client type.
        MissingDependencyError: the backend's driver is not installed.
    """
    store_opts, backend_opts = _split(dict(options))
    if records is not None or chat is not None or kv is not None:
        from .backends.composite import open_composite

        return Store(
            open_composite(target, records=records, chat=chat, kv=kv, **backend_opts),
            **store_opts,
        )
    if target is None:
        target = default_url()
    from .config import BackendConfig

    if isinstance(target, BackendConfig):
        if options:
            target = target.with_options(**options)
        return target.open()  # type: ignore[no-any-return]
    if isinstance(target, Store):
        return target
    if isinstance(target, Backend):
        return Store(target, **store_opts)
    if isinstance(target, str):
        cls = load_backend_class(_scheme(target))
        backend = cls.from_url(target, **backend_opts)  # type: ignore[attr-defined]
        return Store(backend, **store_opts)
    module = type(target).__module__ or ""
    for scheme, entry in _REGISTRY.items():
        if any(module == m or module.startswith(m + ".") for m in entry.client_modules):
            cls = load_backend_class(scheme)
            backend = cls.from_client(target, **backend_opts)  # type: ignore[attr-defined]
            return Store(backend, **store_opts)
    raise UnknownBackendError(
        f"cannot tell which backend a {type(target).__module__}.{type(target).__name__} "
        f"belongs to; pass a URL instead"
    )
