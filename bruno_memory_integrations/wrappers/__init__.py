"""Backends made of other backends: composite stores and fallback between stores.

Both are ordinary :class:`~bruno_memory_integrations.backend.Backend` subclasses,
so a :class:`~bruno_memory_integrations.store.Store` over one checks input, scores
and fuses exactly as over a single store, and every adapter works on it unchanged.
Their operations yield :class:`~.delegate.Delegate` steps (a call on another
backend), run by the same sans-I/O drivers as every other backend's steps.
"""

from .composite import CompositeBackend
from .delegate import Delegate, DelegatingBackend
from .fallback import FallbackBackend, create_with_fallback

__all__ = [
    "CompositeBackend",
    "Delegate",
    "DelegatingBackend",
    "FallbackBackend",
    "create_with_fallback",
]
