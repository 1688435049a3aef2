"""One memory core for LangChain, LlamaIndex and notebooks, over many stores.

Quick start::

    from bruno_memory_integrations import open_store, Record
    store = open_store("sqlite:///memory.db")      # or "postgresql://…", "redis://…"
    store.upsert("docs", [Record("a", "hello", [0.1, 0.2], {"lang": "en"})])
    store.search("docs", [0.1, 0.2], k=1, filter={"lang": "en"})

Importing this package imports no database driver: a backend's driver is
imported when a URL with its scheme is opened.
"""

from .capabilities import Capabilities
from .config import BackendConfig
from .errors import (
    BackendError,
    BackendUnavailableError,
    BrunoMemoryError,
    CollectionMismatchError,
    ConfigurationError,
    DimensionMismatchError,
    FilterError,
    InvalidIdError,
    InvalidInputError,
    InvalidMetadataError,
    InvalidNameError,
    InvalidVectorError,
    MissingDependencyError,
    NotSupportedError,
    StoreClosedError,
    UnknownBackendError,
)
from .factory import create_backend
from .filters import matches, parse_filter
from .migration import MigrationReport, migrate
from .migration import verify as verify_migration
from .registry import available_backends, create_with_fallback, open_store, register_backend
from .store import DEFAULT_NAMESPACE, Store
from .types import CollectionInfo, Page, Record, SearchResult
from .validation import new_id

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_NAMESPACE",
    "BackendConfig",
    "BackendError",
    "BackendUnavailableError",
    "BrunoMemoryError",
    "Capabilities",
    "CollectionInfo",
    "CollectionMismatchError",
    "ConfigurationError",
    "DimensionMismatchError",
    "FilterError",
    "InvalidIdError",
    "InvalidInputError",
    "InvalidMetadataError",
    "InvalidNameError",
    "InvalidVectorError",
    "MigrationReport",
    "MissingDependencyError",
    "NotSupportedError",
    "Page",
    "Record",
    "SearchResult",
    "Store",
    "StoreClosedError",
    "UnknownBackendError",
    "available_backends",
    "create_backend",
    "create_with_fallback",
    "matches",
    "migrate",
    "new_id",
    "open_store",
    "parse_filter",
    "register_backend",
    "verify_migration",
]
