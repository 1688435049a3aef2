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
from .fuzz import FilterFuzzTests
from .injection import InjectionTests
from .limits import LimitTests
from .tenants import TenantTests

__all__ = [
    "AsyncTests",
    "BadInputTests",
    "ChatTests",
    "ConformanceTests",
    "FilterFuzzTests",
    "FilterTests",
    "HybridTests",
    "InjectionTests",
    "KeyValueTests",
    "KeywordTests",
    "LimitTests",
    "RecordTests",
    "ScoreTests",
    "TTLTests",
    "TenantTests",
]
