"""Test helpers shipped with the package: the conformance suite and its data.

Importing this package needs pytest; the rest of the package never imports it.
"""

from .conformance import (
    AsyncTests,
    BadInputTests,
    ChatTests,
    ConformanceTests,
    FilterTests,
    HybridTests,
    KeyValueTests,
    KeywordTests,
    RecordTests,
    ScoreTests,
    TTLTests,
)

__all__ = [
    "AsyncTests",
    "BadInputTests",
    "ChatTests",
    "ConformanceTests",
    "FilterTests",
    "HybridTests",
    "KeyValueTests",
    "KeywordTests",
    "RecordTests",
    "ScoreTests",
    "TTLTests",
]
