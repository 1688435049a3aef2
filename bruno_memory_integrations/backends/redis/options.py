"""Options of the Redis backend: names, defaults and checks (before any connection)."""

from __future__ import annotations

from typing import Any

from ...errors import ConfigurationError

__all__ = ["OUR_OPTIONS", "check_options", "split_options"]

#: Options the backend reads; every other keyword goes to redis-py.
OUR_OPTIONS = ("prefix", "algorithm", "hnsw_m", "ef_construction", "ef_runtime", "batch_size")


def check_options(**options: Any) -> None:
    """Refuse bad options before any connection is made."""
    algorithm = str(options.get("algorithm", "hnsw")).lower()
    if algorithm not in ("hnsw", "flat"):
        raise ConfigurationError(f"algorithm must be 'hnsw' or 'flat', got {algorithm!r}")
    prefix = options.get("prefix", "bruno")
    if not isinstance(prefix, str) or not prefix:
        raise ConfigurationError(f"prefix must be a non-empty string, got {prefix!r}")
    for name in ("batch_size", "hnsw_m", "ef_construction", "ef_runtime"):
        value = options.get(name)
        if value is None and name != "batch_size":
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigurationError(f"{name} must be a positive integer, got {value!r}")


def split_options(options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the backend's options, checked; the rest, for redis-py)."""
    ours = {k: options.pop(k) for k in OUR_OPTIONS if k in options}
    check_options(**{"batch_size": 100, **ours})
    return ours, options
