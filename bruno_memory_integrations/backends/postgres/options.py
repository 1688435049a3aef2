"""Options of the PostgreSQL backend: defaults, checks, URL parsing and password masking.

Options come as keyword arguments to ``open_store`` / ``from_url`` / ``from_client``,
or as query parameters of the URL (``postgresql://h/db?schema=app&pool_size=5``),
which is handy when the whole configuration lives in one environment variable.
Keyword arguments win over URL parameters; URL parameters that are not ours
(``sslmode``, ``application_name``, ...) are left for libpq.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from ...errors import ConfigurationError

__all__ = ["INDEX_KINDS", "PostgresOptions", "mask_url", "split_url_options"]

INDEX_KINDS = ("hnsw", "ivfflat", "none")
_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg", "postgres+psycopg")


@dataclass(frozen=True)
class PostgresOptions:
    """Every tunable of the backend, with its default.

    Attributes:
        schema: PostgreSQL schema holding the tables (created when missing); use one
            per deployment or application to keep their data apart.
        pool_size: Most connections each pool (sync and async) opens.
        pool_min_size: Connections each pool keeps open while idle.
        pool_timeout: Seconds a call waits for a free connection, or for a restarting
            server to answer again, before failing.
        connect_timeout: Seconds to wait for the server when connecting.
        check_connections: Check a pooled connection before each use, so a server
            restart is noticed and the connection replaced (one tiny round trip).
        index: Vector index of new collections: ``"hnsw"``, ``"ivfflat"`` or ``"none"``
            (exact search only).
        hnsw_m: HNSW graph degree of new collections.
        hnsw_ef_construction: HNSW build-time candidate list size.
        ef_search: HNSW query-time candidate list size (raised to ``k`` per query).
        ivfflat_lists: IVFFlat list count of new collections.
        ivfflat_probes: IVFFlat lists probed per query.
        copy_threshold: Batches of at least this many records are written with
            binary ``COPY`` into a staging table (and may defer the vector index
            build, see ``PostgresBackend.upsert``); smaller ones with one ``INSERT``.
        exact_filtered_search: Searches with a filter scan the matching rows exactly
            (recall 1.0); ``False`` lets them use the vector index with an iterative
            scan (faster on big collections with broad filters, approximate).
        index_build_memory_mb: ``maintenance_work_mem`` (MB) for building a vector
            index a bulk load deferred, for that transaction only, when the server's
            own setting is lower (pgvector builds an HNSW graph that fits in it several
            times faster); ``0`` keeps the server's setting.
    """

    schema: str = "public"
    pool_size: int = 10
    pool_min_size: int = 1
    pool_timeout: float = 10.0
    connect_timeout: float = 10.0
    check_connections: bool = True
    index: str = "hnsw"
    hnsw_m: int = 16
    hnsw_ef_construction: int = 64
    ef_search: int = 40
    ivfflat_lists: int = 100
    ivfflat_probes: int = 10
    copy_threshold: int = 64
    exact_filtered_search: bool = True
    index_build_memory_mb: int = 512

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def build(cls, given: Mapping[str, Any]) -> PostgresOptions:
        """Options from keyword arguments (or URL strings), checked.

        Raises:
            ConfigurationError: an unknown option or a bad value.
        """
        unknown = sorted(set(given) - set(cls.names()))
        if unknown:
            raise ConfigurationError(
                f"unknown options for the postgresql backend: {unknown}; "
                f"known: {', '.join(cls.names())}"
            )
        defaults = cls()
        values = {
            name: _convert(name, value, getattr(defaults, name)) for name, value in given.items()
        }
        opts = replace(defaults, **values)
        opts._check()
        return opts

    def _check(self) -> None:
        if not self.schema or "\x00" in self.schema or len(self.schema.encode("utf-8")) > 63:
            raise ConfigurationError(
                f"schema must be a non-empty name of at most 63 bytes without NUL, got "
                f"{self.schema!r} (PostgreSQL silently cuts longer names)"
            )
        if self.index not in INDEX_KINDS:
            raise ConfigurationError(f"index must be one of {INDEX_KINDS}, got {self.index!r}")
        for name in (
            "pool_size",
            "hnsw_m",
            "hnsw_ef_construction",
            "ef_search",
            "ivfflat_lists",
            "ivfflat_probes",
            "copy_threshold",
        ):
            if getattr(self, name) < 1:
                raise ConfigurationError(f"{name} must be at least 1, got {getattr(self, name)!r}")
        if not 0 <= self.index_build_memory_mb <= 2_097_151:
            raise ConfigurationError(
                f"index_build_memory_mb must be between 0 (the server's setting) and "
                f"2097151, got {self.index_build_memory_mb!r}"
            )
        if not 0 <= self.pool_min_size <= self.pool_size:
            raise ConfigurationError(
                f"pool_min_size must be between 0 and pool_size ({self.pool_size}), got "
                f"{self.pool_min_size!r}"
            )
        for name in ("pool_timeout", "connect_timeout"):
            if not getattr(self, name) > 0:
                raise ConfigurationError(f"{name} must be a positive number of seconds")
        if not 2 <= self.hnsw_m <= 100:
            raise ConfigurationError(f"hnsw_m must be between 2 and 100, got {self.hnsw_m}")
        if self.hnsw_ef_construction < 2 * self.hnsw_m:
            raise ConfigurationError("hnsw_ef_construction must be at least twice hnsw_m")
        if self.ef_search > 1000:
            raise ConfigurationError(f"ef_search must be at most 1000, got {self.ef_search}")


def _convert(name: str, value: Any, default: Any) -> Any:
    """Coerce a URL string to the option's type; check the type of a Python value."""
    kind = type(default)
    if isinstance(value, str) and kind is not str:
        text = value.strip().lower()
        try:
            if kind is bool:
                if text not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                    raise ValueError(text)
                return text in ("1", "true", "yes", "on")
            return kind(text)
        except ValueError:
            raise ConfigurationError(
                f"option {name}={value!r} is not a valid {kind.__name__}"
            ) from None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigurationError(
            f"option {name} takes a {kind.__name__}, got {type(value).__name__} {value!r}"
        )
    return value


def split_url_options(url: str) -> tuple[str, dict[str, str]]:
    """Split our options out of a URL's query string.

    Returns:
        The URL libpq should see (scheme ``postgresql://``, our parameters removed)
        and our parameters as strings.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES:
        raise ConfigurationError(
            f"not a PostgreSQL URL: {mask_url(url)!r}; expected "
            "postgresql://user:password@host:5432/db"
        )
    ours: dict[str, str] = {}
    theirs: list[tuple[str, str]] = []
    known = PostgresOptions.names()
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key in known:
            ours[key] = value
        else:
            theirs.append((key, value))
    # quote, not quote_plus: libpq reads "+" as a plus sign, not a space
    # (``options=-c%20statement_timeout%3D5s`` must stay two words).
    query = urlencode(theirs, quote_via=quote)
    clean = urlunsplit(("postgresql", parts.netloc, parts.path, query, parts.fragment))
    return clean, ours


_PASSWORD_KV = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)


def mask_url(url: str) -> str:
    """The URL (or key=value conninfo) with any password replaced by ``***``."""
    if "://" not in url:
        return _PASSWORD_KV.sub(r"\1***", url)
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, _, hostport = netloc.rpartition("@")
            if ":" in userinfo:
                userinfo = userinfo.split(":", 1)[0] + ":***"
            netloc = f"{userinfo}@{hostport}"
        query = "&".join(
            f"{k}=***" if k.lower() == "password" else f"{k}={v}"
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
        )
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:
        return "<unparsable URL>"
