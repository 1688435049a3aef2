"""The one error hierarchy every backend and adapter raises.

Every error says what was wrong and what to do about it. Errors raised for bad
input are raised *before* anything is written, so stored data is unchanged.

::

    BrunoMemoryError
    ├── InvalidInputError (also ValueError)
    │   ├── InvalidIdError
    │   ├── InvalidVectorError
    │   │   └── DimensionMismatchError
    │   ├── InvalidMetadataError
    │   ├── InvalidNameError
    │   └── FilterError
    ├── CollectionMismatchError (also ValueError): metric or embedding model differ
    ├── ConfigurationError (also ValueError)
    │   └── UnknownBackendError
    ├── MissingDependencyError (also ImportError)
    ├── NotSupportedError (also NotImplementedError): the backend lacks a capability
    ├── StoreClosedError
    └── BackendError: the store itself failed
        └── BackendUnavailableError (also ConnectionError)
"""

from __future__ import annotations

__all__ = [
    "BackendError",
    "BackendUnavailableError",
    "BrunoMemoryError",
    "CollectionMismatchError",
    "ConfigurationError",
    "DimensionMismatchError",
    "FilterError",
    "InvalidIdError",
    "InvalidInputError",
    "InvalidMetadataError",
    "InvalidNameError",
    "InvalidVectorError",
    "MissingDependencyError",
    "NotSupportedError",
    "StoreClosedError",
    "UnknownBackendError",
]


class BrunoMemoryError(Exception):
    """Base class of every error this package raises on purpose."""


class InvalidInputError(BrunoMemoryError, ValueError):
    """The caller passed something the store cannot accept; nothing was written."""


class InvalidIdError(InvalidInputError):
    """An id is empty, not a string, or repeated within one call."""


class InvalidVectorError(InvalidInputError):
    """A vector is empty, not numeric, or contains NaN or infinity."""


class DimensionMismatchError(InvalidVectorError):
    """A vector's length differs from the dimension recorded for its collection."""

    def __init__(self, collection: str, expected: int, got: int) -> None:
        self.collection = collection
        self.expected = expected
        self.got = got
        super().__init__(
            f"collection {collection!r} holds {expected}-dimensional vectors, got one of "
            f"{got}; use the same embedding model as the collection, or another collection"
        )


class InvalidMetadataError(InvalidInputError):
    """Metadata is not a JSON object of JSON values, or is nested where the store can't be."""


class InvalidNameError(InvalidInputError):
    """A collection, namespace, session or key name is empty or not a string."""


class FilterError(InvalidInputError):
    """A metadata filter is malformed, or the backend cannot express it exactly.

    A backend never drops or loosens a condition: it raises this instead.
    """


class CollectionMismatchError(BrunoMemoryError, ValueError):
    """The collection was created with another metric or embedding model."""


class ConfigurationError(BrunoMemoryError, ValueError):
    """A store URL or option is wrong."""


class UnknownBackendError(ConfigurationError):
    """No backend is registered for a URL scheme."""


class MissingDependencyError(BrunoMemoryError, ImportError):
    """An optional package is needed for the chosen feature and is not installed."""

    def __init__(self, package: str, extra: str, feature: str = "") -> None:
        self.package = package
        self.extra = extra
        what = f" for {feature}" if feature else ""
        super().__init__(
            f"the package {package!r} is needed{what} but is not installed; "
            f"install it with: pip install 'bruno-memory-integrations[{extra}]'"
        )


class NotSupportedError(BrunoMemoryError, NotImplementedError):
    """The backend does not have the capability an operation needs."""

    def __init__(self, backend: str, capability: str, hint: str = "") -> None:
        self.backend = backend
        self.capability = capability
        tail = f"; {hint}" if hint else ""
        super().__init__(f"the {backend} backend does not support {capability}{tail}")


class StoreClosedError(BrunoMemoryError):
    """The store was closed; open a new one."""


class BackendError(BrunoMemoryError):
    """The underlying store failed while carrying out a valid request."""


class BackendUnavailableError(BackendError, ConnectionError):
    """The store's server cannot be reached."""
