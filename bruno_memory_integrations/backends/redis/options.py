"""Options of the Redis backend: names, defaults and checks (before any connection)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ...errors import ConfigurationError

__all__ = [
    "DEFAULT_EF_RUNTIME",
    "DEFAULT_EXACT_BELOW",
    "OUR_OPTIONS",
    "check_options",
    "split_options",
    "split_url_options",
]

#: Options the backend reads; every other keyword goes to redis-py.
OUR_OPTIONS = (
    "prefix",
    "algorithm",
    "hnsw_m",
    "ef_construction",
    "ef_runtime",
    "batch_size",
    "exact_below",
    "exact_filtered_search",
)
_INTS = ("hnsw_m", "ef_construction", "ef_runtime", "batch_size", "exact_below")
_BOOLS = ("exact_filtered_search",)

#: Index of new collections: FLAT (exact brute force), as langchain-redis and
#: LlamaIndex's Redis store create by default; "hnsw" for large collections.
DEFAULT_ALGORITHM = "flat"
#: HNSW candidates per query when ``ef_runtime`` is not given (Redis' own default, 10,
#: found the true top 10 in only a few percent of queries on 384-d vectors).
DEFAULT_EF_RUNTIME = 100
#: Collections with fewer records are searched exactly (brute force over all vectors).
DEFAULT_EXACT_BELOW = 10_000


def check_options(**options: Any) -> None:
    """Refuse bad options before any connection is made."""
    algorithm = str(options.get("algorithm", DEFAULT_ALGORITHM)).lower()
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
    below = options.get("exact_below", 0)
    if isinstance(below, bool) or not isinstance(below, int) or below < 0:
        raise ConfigurationError(f"exact_below must be an integer >= 0, got {below!r}")
    exact = options.get("exact_filtered_search", True)
    if not isinstance(exact, bool):
        raise ConfigurationError(f"exact_filtered_search must be true or false, got {exact!r}")


def split_options(options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the backend's options, checked; the rest, for redis-py)."""
    ours = {k: options.pop(k) for k in OUR_OPTIONS if k in options}
    check_options(**{"batch_size": 100, **ours})
    return ours, options


def _from_text(name: str, text: str) -> Any:
    if name in _INTS:
        try:
            return int(text)
        except ValueError:
            raise ConfigurationError(f"option {name}={text!r} is not an integer") from None
    if name in _BOOLS:
        low = text.strip().lower()
        if low not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
            raise ConfigurationError(f"option {name}={text!r} is not true or false")
        return low in ("1", "true", "yes", "on")
    return text


def split_url_options(url: str) -> tuple[str, dict[str, Any]]:
    """Our options out of a URL's query string (``redis://h:6379/0?algorithm=flat``).

    Returns:
        The URL redis-py should see (our parameters removed, its own such as
        ``socket_timeout`` kept) and our options, converted to their types.
    """
    parts = urlsplit(url)
    if not parts.query:
        return url, {}
    ours: dict[str, Any] = {}
    theirs: list[tuple[str, str]] = []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key in OUR_OPTIONS:
            ours[key] = _from_text(key, value)
        else:
            theirs.append((key, value))
    return urlunsplit(parts._replace(query=urlencode(theirs))), ours
