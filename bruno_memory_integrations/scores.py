"""The one score rule: every backend, every metric, a score in [0, 1], higher is closer.

Backends report a *distance* in their collection's metric, in this canonical form:

========== ============================== ===================================
metric     distance a backend reports      score
========== ============================== ===================================
cosine     ``1 - cos(a, b)``, in [0, 2]     ``1 - distance / 2``
euclidean  ``||a - b||`` (not squared)      ``1 / (1 + distance)``
dot        ``-(a . b)``                     ``(1 + a . b) / 2``, clipped to [0, 1]
========== ============================== ===================================

For unit-length vectors (what OpenAI and most sentence models return) the cosine
and dot scores are equal. A backend whose engine reports something else (a
similarity, a squared distance) converts it to the canonical distance with the
helpers below, in one place, so ``score_threshold`` means the same everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from .errors import ConfigurationError
from .types import METRIC_ALIASES

__all__ = ["canonical_metric", "distance", "score_from_distance", "scorer"]


def canonical_metric(metric: str) -> str:
    """Our name for a metric given in any common spelling ("l2", "ip", "cos", ...)."""
    try:
        return METRIC_ALIASES[str(metric).lower()]
    except KeyError:
        raise ConfigurationError(
            f"unknown distance metric {metric!r}; use one of 'cosine', 'euclidean', 'dot'"
        ) from None


def score_from_distance(metric: str, dist: float) -> float:
    """Map a canonical distance to the [0, 1] score (see the module docstring)."""
    return scorer(metric)(dist)


def _cosine_score(dist: float) -> float:
    return min(1.0, max(0.0, 1.0 - dist / 2.0))


def _euclidean_score(dist: float) -> float:
    return min(1.0, max(0.0, 1.0 / (1.0 + max(dist, 0.0))))


def _dot_score(dist: float) -> float:
    return min(1.0, max(0.0, (1.0 - dist) / 2.0))


_SCORERS = {"cosine": _cosine_score, "euclidean": _euclidean_score, "dot": _dot_score}


def scorer(metric: str) -> Callable[[float], float]:
    """:func:`score_from_distance` for one metric, looked up once for many hits."""
    try:
        return _SCORERS[metric]
    except KeyError:  # pragma: no cover - metrics are checked when a collection is made
        raise ConfigurationError(f"unknown metric {metric!r}") from None


def distance(metric: str, a: list[float], b: list[float]) -> float:
    """The canonical distance between two vectors, in pure Python (the reference)."""
    # Not strict: callers pass ``record.vector or []`` for a record stored without one.
    if metric == "euclidean":
        return math.sqrt(sum((x - y) * (x - y) for x, y in zip(a, b, strict=False)))
    dot = sum(x * y for x, y in zip(a, b, strict=False))
    if metric == "dot":
        return -dot
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(y * y for y in b))
    if na == 0.0 or nb == 0.0:
        return 1.0
    return 1.0 - dot / (na * nb)
