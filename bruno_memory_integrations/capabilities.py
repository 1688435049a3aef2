"""What each backend can do, declared once, so callers and tests ask instead of guessing."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

__all__ = ["Capabilities"]


@dataclass(frozen=True)
class Capabilities:
    """Flags a backend declares; tests skip with the flag's name as the reason.

    Attributes:
        keyword_search: full-text search over record text.
        hybrid_search: vector + keyword search fused (the core fuses with reciprocal
            rank fusion when the backend has both searches).
        native_hybrid: the store fuses hybrid search itself, in one request, with
            scores already in [0, 1] (its own fusion, described on the backend's page);
            asking for ``rrf_k`` or ``fetch_k`` still gets the core's fusion.
        ttl: per-write expiry (``ttl=`` seconds) of records, messages and items.
        native_async: the ``a…`` methods use the driver's own async I/O; otherwise
            they run the sync ones in a worker thread, which never blocks the loop.
        nested_metadata: metadata values may be nested objects and lists of any JSON;
            when false only scalars, null and lists of strings are accepted.
        persistent: data outlives the process.
        chat: chat-message storage.
        kv: key-value storage.
        kv_ranges: key-value items are kept in key order, so a range read
            (``kv_scan``) costs the range it returns, not the whole collection.
        metrics: distance metrics the backend can index.
        releases_gil: the engine lets other Python threads run while it works. False
            for an in-process engine that holds the GIL for a whole call (embedded
            Chroma): its async calls run in a worker thread, yet stall the event loop
            for as long as one call lasts.
        refused_filters: parts of the filter language the backend refuses with
            ``FilterError`` because it cannot express them exactly:
            ``"big-numbers"`` (operands of magnitude 2**53 or more) and
            ``"substring"`` (``$substring`` / ``$isubstring``). Everything else is exact.
    """

    keyword_search: bool = False
    hybrid_search: bool = False
    native_hybrid: bool = False
    ttl: bool = False
    native_async: bool = False
    nested_metadata: bool = True
    persistent: bool = True
    chat: bool = True
    kv: bool = True
    kv_ranges: bool = False
    metrics: tuple[str, ...] = ("cosine", "euclidean", "dot")
    refused_filters: frozenset[str] = frozenset()
    releases_gil: bool = True

    def with_(self, **changes: object) -> Capabilities:
        """A copy with some flags changed."""
        return replace(self, **changes)  # type: ignore[arg-type]

    def as_dict(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self)}
