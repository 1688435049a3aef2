"""``create_backend(name, **options)``: a store by backend name, with the guides' option names.

One entry per backend in :data:`FACTORY`, a small declarative table next to the
URL registry: which options build the URL (``database_path``, ``host``,
``port``…), which are renamed to the backend's own (Qdrant's ``collection_name``
is its ``prefix``), which belong to the Store (Redis' ``ttl`` is the Store's
``default_ttl``), and which go to the backend as they are. The factory only
builds the URL and calls :func:`~bruno_memory_integrations.open_store`, so
``create_backend("redis", host="h")`` and ``open_store("redis://h:6379/0")``
return the same kind of Store. Adding a backend is adding one entry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from .errors import ConfigurationError, UnknownBackendError

__all__ = ["FACTORY", "FactoryEntry", "create_backend", "factory_entry", "factory_names"]

#: Options every backend takes: they belong to the Store.
STORE_OPTIONS = ("default_metric", "default_ttl")

UrlBuilder = Callable[[dict[str, Any]], str]


@dataclass(frozen=True)
class FactoryEntry:
    """How ``create_backend(name, **options)`` becomes ``open_store(url, **rest)``.

    Attributes:
        scheme: The registry's URL scheme the entry opens.
        url: Builds the URL from the options named in ``url_options`` (a dict
            holding only those that were given).
        url_options: Options that make up the URL.
        backend_options: Options passed to the backend unchanged; ``None`` means
            any (the backend checks them itself).
        renamed: Guide option name -> the backend's option name.
        store_options: Guide option name -> Store option name.
        aliases: Other names for the backend (``"postgres"``, ``"chromadb"``).
        endpoint: Builds URL options from a ``BackendConfig.endpoint`` that is not
            a URL (a path, or ``host[:port]``).
        api_key_option: Where ``BackendConfig.api_key`` goes (``None``: refused).
        refused: Option -> value the backend cannot honour, with the reason.
    """

    scheme: str
    url: UrlBuilder
    url_options: tuple[str, ...] = ()
    backend_options: tuple[str, ...] | None = ()
    renamed: Mapping[str, str] = field(default_factory=dict)
    store_options: Mapping[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    endpoint: Callable[[str], dict[str, Any]] | None = None
    api_key_option: str | None = None
    refused: Mapping[str, tuple[Any, str]] = field(default_factory=dict)

    def valid_options(self) -> list[str]:
        names = [
            *self.url_options, *self.renamed, *self.store_options,
            *(self.backend_options or ()), *STORE_OPTIONS,
        ]
        return sorted(dict.fromkeys(names))


# ---------------------------------------------------------------- URL builders
def _hostport(o: dict[str, Any], default_host: str, default_port: int | None) -> str:
    host = str(o.get("host") or default_host)
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 literal
    port = o.get("port", default_port)
    if port is None:
        return host
    if isinstance(port, bool) or not str(port).isdigit() or not 0 < int(port) < 65536:
        raise ConfigurationError(f"port must be a TCP port number (1-65535), got {port!r}")
    return f"{host}:{int(port)}"


def _userinfo(o: dict[str, Any]) -> str:
    user, password = o.get("user") or o.get("username"), o.get("password")
    if user is None and password is None:
        return ""
    out = quote(str(user or ""), safe="")
    if password is not None:
        out += ":" + quote(str(password), safe="")
    return out + "@"


def _path_url(scheme: str, key: str, default: str | None = None) -> UrlBuilder:
    def build(o: dict[str, Any]) -> str:
        path = o.get(key, default)
        if path is None:
            raise ConfigurationError(f"the {scheme} backend needs {key}=")
        path = str(path)
        return f"{scheme}://:memory:" if path == ":memory:" else f"{scheme}:///{path}"

    return build


def _sqlite_url(o: dict[str, Any]) -> str:
    if o.get("enable_fts", True) is not True:
        raise ConfigurationError(
            "the sqlite backend always indexes text with FTS5 (it costs nothing until "
            "keyword search is used) and cannot turn it off; leave enable_fts out"
        )
    return _path_url("sqlite", "database_path", "bruno_memory.db")(o)


def _postgres_url(o: dict[str, Any]) -> str:
    if "connection_string" in o:
        extra = sorted(set(o) - {"connection_string"})
        if extra:
            raise ConfigurationError(
                f"give either connection_string or {', '.join(extra)}, not both"
            )
        return str(o["connection_string"])
    db = quote(str(o.get("database", "postgres")), safe="")
    return f"postgresql://{_userinfo(o)}{_hostport(o, 'localhost', 5432)}/{db}"


def _redis_url(o: dict[str, Any]) -> str:
    if "url" in o:
        return str(o["url"])
    scheme = "rediss" if o.get("ssl") is True else "redis"
    db = o.get("db", 0)
    if isinstance(db, bool) or not str(db).isdigit():
        raise ConfigurationError(f"db must be a database number (0, 1, …), got {db!r}")
    return f"{scheme}://{_userinfo(o)}{_hostport(o, 'localhost', 6379)}/{int(db)}"


def _qdrant_url(o: dict[str, Any]) -> str:
    if "url" in o:  # http(s)://host:port, as the Qdrant client takes it
        url = str(o["url"])
        for plain, ours in (("https://", "qdrants://"), ("http://", "qdrant://")):
            if url.startswith(plain):
                return ours + url[len(plain):].rstrip("/")
        return url
    if "path" in o:
        return _path_url("qdrant", "path")(o)
    if o.get("location") == ":memory:":
        return "qdrant://:memory:"
    scheme = "qdrants" if o.get("https") is True else "qdrant"
    return f"{scheme}://{_hostport(o, 'localhost', 6333)}"


def _weaviate_url(o: dict[str, Any]) -> str:
    if "url" in o:
        url = str(o["url"])
        for plain, ours in (("https://", "weaviates://"), ("http://", "weaviate://")):
            if url.startswith(plain):
                return ours + url[len(plain):].rstrip("/")
        return url
    scheme = "weaviates" if o.get("secure") is True else "weaviate"
    return f"{scheme}://{_hostport(o, 'localhost', 8080)}"


def _chroma_url(o: dict[str, Any]) -> str:
    if "persist_directory" in o:
        if "host" in o or "port" in o:
            raise ConfigurationError("give persist_directory or host/port, not both")
        return f"chroma:///{o['persist_directory']}"
    if "host" not in o:
        raise ConfigurationError(
            "the chromadb backend needs persist_directory= (embedded) or host= (a server)"
        )
    scheme = "chroma+https" if o.get("ssl") is True else "chroma+http"
    return f"{scheme}://{_hostport(o, 'localhost', 8000)}"


def _milvus_url(o: dict[str, Any]) -> str:
    uri = o.get("uri")
    if uri is not None:
        uri = str(uri)
        for plain, ours in (("https://", "milvuss://"), ("http://", "milvus://")):
            if uri.startswith(plain):
                return ours + uri[len(plain):].rstrip("/")
        return f"milvus:///{uri}"  # Milvus Lite: a local file
    return f"milvus://{_hostport(o, 'localhost', 19530)}"


def _pinecone_url(o: dict[str, Any]) -> str:
    host = o.get("host") or o.get("index_host")
    if not host:
        raise ConfigurationError(
            "the pinecone backend needs host= (the index host, from the Pinecone console)"
        )
    host = str(host)
    return "pinecone://" + host.split("://", 1)[-1].rstrip("/")


def _host_endpoint(endpoint: str) -> dict[str, Any]:
    host, sep, port = endpoint.rpartition(":")
    if sep and port.isdigit() and host and not host.endswith(":"):
        return {"host": host.strip("[]"), "port": int(port)}
    return {"host": endpoint}


# ---------------------------------------------------------------- the table
_PG_OPTIONS = (
    "schema", "pool_size", "pool_min_size", "pool_timeout", "connect_timeout",
    "check_connections", "index", "hnsw_m", "hnsw_ef_construction", "ef_search",
    "ivfflat_lists", "ivfflat_probes", "copy_threshold", "exact_filtered_search",
    "index_build_memory_mb",
)
_REDIS_OPTIONS = (
    "prefix", "algorithm", "hnsw_m", "ef_construction", "ef_runtime", "batch_size", "retries",
    "exact_below", "exact_filtered_search",
    "socket_timeout", "socket_connect_timeout", "max_connections", "health_check_interval",
    "client_name",
)

#: Backend name -> how its guide options become a store URL. One entry per backend.
FACTORY: dict[str, FactoryEntry] = {
    "memory": FactoryEntry("memory", lambda o: "memory://", backend_options=("name",)),
    "sqlite": FactoryEntry(
        "sqlite", _sqlite_url, ("database_path", "enable_fts"),
        ("timeout", "knn", "cache_vectors", "synchronous", "name"),
        aliases=("sqlite3",), endpoint=lambda e: {"database_path": e},
    ),
    "postgresql": FactoryEntry(
        "postgresql", _postgres_url,
        ("connection_string", "host", "port", "user", "password", "database"), _PG_OPTIONS,
        aliases=("postgres", "pgvector"), endpoint=_host_endpoint, api_key_option="password",
    ),
    "redis": FactoryEntry(
        "redis", _redis_url, ("url", "host", "port", "db", "username", "password", "ssl"),
        _REDIS_OPTIONS, store_options={"ttl": "default_ttl"},
        endpoint=_host_endpoint, api_key_option="password",
    ),
    "qdrant": FactoryEntry(
        "qdrant", _qdrant_url, ("url", "host", "port", "https", "path", "location"),
        ("prefix", "batch_size", "keyword_search", "payload_indexes", "exact", "hnsw_ef",
         "api_key", "prefer_grpc", "grpc_port", "timeout", "name"),
        renamed={"collection_name": "prefix"}, endpoint=_host_endpoint, api_key_option="api_key",
    ),
    "weaviate": FactoryEntry(
        "weaviate", _weaviate_url, ("url", "host", "port", "secure"),
        ("prefix", "index", "batch_size", "api_key", "grpc_host", "grpc_port", "headers",
         "timeout", "init_timeout"),
        renamed={"collection_name": "prefix"}, endpoint=_host_endpoint, api_key_option="api_key",
    ),
    "chroma": FactoryEntry(
        "chroma", _chroma_url, ("persist_directory", "host", "port", "ssl"), None,
        aliases=("chromadb",), endpoint=lambda e: (
            _host_endpoint(e) if ":" in e and not e.startswith((".", "/")) else
            {"persist_directory": e}
        ), api_key_option="api_key",
    ),
    "milvus": FactoryEntry(
        "milvus", _milvus_url, ("uri", "host", "port"), None,
        endpoint=lambda e: {"uri": e} if e.endswith(".db") else _host_endpoint(e),
        api_key_option="token",
    ),
    "pinecone": FactoryEntry(
        "pinecone", _pinecone_url, ("host", "index_host"), None,
        endpoint=lambda e: {"host": e}, api_key_option="api_key",
    ),
}


def factory_names() -> list[str]:
    """Every name ``create_backend`` takes (aliases included), sorted."""
    names = set(FACTORY)
    for entry in FACTORY.values():
        names.update(entry.aliases)
    return sorted(names)


def factory_entry(name: str) -> FactoryEntry:
    """The entry for a backend name or alias.

    Raises:
        UnknownBackendError: no such backend; the message lists the valid names.
    """
    if not isinstance(name, str):
        raise UnknownBackendError(f"a backend name is a string, got {type(name).__name__}")
    key = name.strip().lower()
    for canonical, entry in FACTORY.items():
        if key == canonical or key in entry.aliases:
            return entry
    raise UnknownBackendError(
        f"no backend named {name!r}; valid names: {', '.join(factory_names())}"
    )


def build_url(name: str, options: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """``(url, open_store options)`` for ``create_backend(name, **options)``.

    Raises:
        UnknownBackendError: an unknown backend name.
        ConfigurationError: an unknown option (the message lists the valid ones), or
            options that do not make a URL.
    """
    entry = factory_entry(name)
    opts = dict(options)
    valid = entry.valid_options()
    if entry.backend_options is not None:
        unknown = sorted(set(opts) - set(valid))
        if unknown:
            raise ConfigurationError(
                f"unknown option{'s' if len(unknown) > 1 else ''} for the {entry.scheme} "
                f"backend: {', '.join(unknown)}; valid options: {', '.join(valid)}"
            )
    url = entry.url({k: opts.pop(k) for k in entry.url_options if k in opts})
    rest: dict[str, Any] = {}
    for key, value in opts.items():
        target = entry.renamed.get(key) or entry.store_options.get(key) or key
        if target in rest:
            raise ConfigurationError(f"option {key} and {target} say the same thing: give one")
        rest[target] = value
    return url, rest


def create_backend(name: str, **options: Any) -> Any:
    """Open a store by backend name, with the guides' option names.

    Examples::

        create_backend("sqlite", database_path=":memory:")            # or "./memory.db"
        create_backend("postgresql", connection_string="postgresql://…", pool_size=20)
        create_backend("redis", host="localhost", port=6379, db=0, ttl=3600)
        create_backend("chromadb", persist_directory="./chroma")      # or host=, port=
        create_backend("qdrant", host="localhost", port=6333, collection_name="memories")

    Returns:
        The same :class:`~bruno_memory_integrations.store.Store` as
        ``open_store(url, …)`` for the URL these options make (see :func:`build_url`).

    Raises:
        UnknownBackendError: an unknown name (the valid ones are listed), or a backend
            this installation does not have.
        ConfigurationError: an unknown option (the valid ones are listed) or a bad value.
        MissingDependencyError: the backend's driver is not installed.
    """
    from .logs import redact_url
    from .registry import available_backends, open_store

    url, rest = build_url(name, options)
    scheme = factory_entry(name).scheme
    if scheme not in available_backends():
        raise UnknownBackendError(
            f"the {scheme} backend is not part of this installation (these options make "
            f"{redact_url(url)!r}); available backends: {', '.join(sorted(available_backends()))}"
        )
    return open_store(url, **rest)
