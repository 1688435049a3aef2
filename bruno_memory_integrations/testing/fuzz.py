"""Differential fuzzing of the filter language: every API against the reference evaluator.

A seeded generator writes records whose metadata holds the values that break
translations (big integers, floats beyond 2**53, ``-0.0``, booleans next to
0 and 1, ints next to equal floats, several types under one key, empty strings,
Unicode, wildcard characters, lists) and draws filters over them (every
operator, nesting up to :data:`~bruno_memory_integrations.filters.MAX_DEPTH`,
some malformed on purpose). For each filter the expected ids come from
:func:`~bruno_memory_integrations.filters.evaluate`; the store must return
exactly those through count, scan, vector search, delete-by-filter, keyword and
hybrid search (sync and async), or raise :class:`FilterError` where the
reference does, or where the backend declares that it refuses a feature
(``refused_filter_features``, see :data:`BIG_NUMBERS`, :data:`SUBSTRING`).

Runs :data:`DEFAULT_CASES` filters per backend; set ``BRUNO_FUZZ_CASES`` for a
large run and ``BRUNO_FUZZ_SEED`` for another seed (each failure message names
the seed and case number that reproduce it)::

    BRUNO_FUZZ_CASES=100000 ./dev test tests/ -k fuzz
"""

from __future__ import annotations

import math
import os
import random
import reprlib
import time
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import pytest

from .. import errors
from ..filters import (
    MAX_DEPTH,
    Comparison,
    FilterNode,
    Not,
    evaluate,
    parse_filter,
)
from ..store import Store
from ..types import Record
from .conformance import DIM, _Base
from .data import random_vector

__all__ = [
    "BIG_NUMBERS",
    "DEFAULT_CASES",
    "SUBSTRING",
    "FilterFuzzTests",
    "FilterOracle",
    "filter_features",
    "fuzz_filter",
    "fuzz_records",
    "write_with_churn",
]

#: Feature name: a filter number of magnitude 2**53 or more.
BIG_NUMBERS = "big-numbers"
#: Feature name: ``$substring`` / ``$isubstring``.
SUBSTRING = "substring"
#: Filters per backend in a normal run (each through count plus one other API).
DEFAULT_CASES = 2000
#: The word every fuzz record's text holds, so keyword and hybrid search see them all.
WORD = "fuzz"

_SHOW = reprlib.Repr()
_SHOW.maxlevel, _SHOW.maxdict, _SHOW.maxlist, _SHOW.maxstring = 6, 8, 12, 80


def show(spec: Any) -> str:
    """A filter for a failure message, shortened when it is huge."""
    return _SHOW.repr(spec)


CASES_ENV = "BRUNO_FUZZ_CASES"
SEED_ENV = "BRUNO_FUZZ_SEED"
DEFAULT_SEED = 20260517

# --------------------------------------------------------------------------- values
_BIG = [
    2**53 - 1, 2**53, 2**53 + 1, -(2**53) - 1, 2**62, 2**63 - 1, -(2**63 - 1),
    9123456789012344832, 9123456789012345000, 9.123456789012345e18, -9.123456789012345e18,
    float(2**53), float(2**53 + 2), 1e16, 1e17, 1.8446744073709552e19, 1e300, -1e300,
]
_SMALL = [
    0, -0.0, 0.0, 1, 1.0, -1, 2, 2.5, 0.1, 0.30000000000000004, 0.3, 1e-300, 5e-324, -7.25,
    1.5, 3, 10, 1e15, 4503599627370497,
]
NUMBERS: list[int | float] = _SMALL + _BIG
STRINGS = [
    "", " ", "red", "Red", "RED", "rEd", "re", "d", "1", "1.0", "true", "null",
    "%", "_", "a%b", "a_b", "*", "?", "[a]", "a*", "\\", "\\%", "x'y", 'q"k', "--",
    "ü", "Ü", "ä", "ß", "SS", "İ", "i", "I", "ﬁ", "K", "\u212a", "é", "e\u0301",
    "\U0001f600", "a\U0001f600b", "\u202eabc", "\u200b", "tab\there", "new\nline",
    "Robert'); DROP TABLE t;--", "@f:{x} | -y", "$x", "{a}", "(a)", "a:b", "a,b",
]
BOOLS = [True, False]
#: Metadata keys the generator uses; the odd ones need escaping or json_each in SQL.
KEYS = ["n", "m", "b", "s", "t", 'k"q', "a.b", "sp ace", "ü"]
ABSENT_KEY = "never"


def _choice(rng: random.Random, pool: Sequence[Any]) -> Any:
    return pool[rng.randrange(len(pool))]


def _scalar(rng: random.Random) -> Any:
    roll = rng.random()
    if roll < 0.45:
        return _choice(rng, NUMBERS)
    if roll < 0.85:
        return _choice(rng, STRINGS)
    return _choice(rng, BOOLS)


def _value_for(key: str, rng: random.Random, nested: bool) -> Any:
    if key == "n":
        return _choice(rng, NUMBERS)
    if key == "b":
        return _choice(rng, [True, False, 0, 1, 1.0, 0.0, -0.0, "1", "true"])
    if key == "s":
        return _choice(rng, STRINGS)
    if key == "t":
        return [_choice(rng, STRINGS) for _ in range(rng.randrange(4))]
    # "m" and the odd keys: anything, several types under one key
    roll = rng.random()
    if roll < 0.7:
        return _scalar(rng)
    if roll < 0.85 or not nested:
        return [_choice(rng, STRINGS) for _ in range(rng.randrange(3))]
    if roll < 0.95:
        return [_scalar(rng) for _ in range(rng.randrange(4))]
    return {"x": _scalar(rng)}


def fuzz_records(rng: random.Random, n: int, nested: bool, dim: int = DIM) -> list[Record]:
    """``n`` records whose metadata mixes the values above (``nested``: lists of any
    JSON and objects too, for backends that store nested metadata)."""
    out = []
    for i in range(n):
        md: dict[str, Any] = {}
        for key in KEYS:
            roll = rng.random()
            if roll < 0.2:
                continue  # missing
            md[key] = None if roll < 0.27 else _value_for(key, rng, nested)
        text = f"{WORD} record {i} " + " ".join(_choice(rng, STRINGS) for _ in range(2))
        out.append(Record(f"f{i:03d}", text, random_vector(rng, dim), md))
    return out


# --------------------------------------------------------------------------- filters
def _operand(rng: random.Random, key: str) -> Any:
    if key == "n" and rng.random() < 0.7:
        return _choice(rng, NUMBERS)
    if key in ("s", "t") and rng.random() < 0.7:
        return _choice(rng, STRINGS)
    return _scalar(rng)


def _same_kind(rng: random.Random, first: Any, n: int) -> list[Any]:
    if isinstance(first, bool):
        pool: Sequence[Any] = BOOLS
    elif isinstance(first, (int, float)):
        pool = NUMBERS
    else:
        pool = STRINGS
    return [first, *(_choice(rng, pool) for _ in range(n - 1))]


def _condition(rng: random.Random) -> dict[str, Any]:
    key = ABSENT_KEY if rng.random() < 0.05 else _choice(rng, KEYS)
    op = _choice(
        rng,
        ["$eq", "$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists",
         "$contains", "$substring", "$isubstring"],
    )
    if op in ("$gt", "$gte", "$lt", "$lte"):
        return {key: {op: _choice(rng, NUMBERS)}}
    if op in ("$in", "$nin"):
        return {key: {op: _same_kind(rng, _operand(rng, key), rng.randint(1, 4))}}
    if op == "$exists":
        return {key: {op: rng.random() < 0.5}}
    if op in ("$substring", "$isubstring"):
        return {key: {op: _choice(rng, STRINGS)}}
    value = _operand(rng, key)
    if op == "$eq" and rng.random() < 0.4:
        return {key: value}  # the shorthand
    if op in ("$eq", "$ne") and rng.random() < 0.05:
        value = None
    return {key: {op: value}}


_MALFORMED: list[Callable[[random.Random], dict[str, Any]]] = [
    lambda r: {"n": {"$in": [1, "a"]}},
    lambda r: {"n": {"$gt": "5"}},
    lambda r: {"n": math.nan},
    lambda r: {"n": 2**64},
    lambda r: {"s": "nul\x00"},
    lambda r: {"s": {"$in": ["ok", "lone\ud800"]}},
    lambda r: {"t": {"$contains": "\udfff"}},
    lambda r: {"s": {"$substring": 5}},
    lambda r: {"bad\x00key": 1},
    lambda r: {"$and": []},
    lambda r: {"n": {"$regex": "x"}},
    lambda r: _nest(r, {"n": 1}, MAX_DEPTH + 1),
]


def _nest(rng: random.Random, inner: dict[str, Any], levels: int) -> dict[str, Any]:
    for _ in range(levels):
        op = _choice(rng, ["$and", "$or", "$not"])
        if op == "$not":
            inner = {"$not": inner}
        else:
            others = [_condition(rng) for _ in range(rng.randrange(2))]
            inner = {op: [inner, *others]}
    return inner


def fuzz_filter(rng: random.Random, depth: int = 4) -> dict[str, Any]:
    """A random filter: mostly well formed, about 3 % malformed on purpose, and
    about 2 % nested to the language's depth limit."""
    roll = rng.random()
    if roll < 0.03:
        return _choice(rng, _MALFORMED)(rng)
    if roll < 0.05:
        return _nest(rng, _condition(rng), MAX_DEPTH)
    return _tree(rng, depth)


def _tree(rng: random.Random, depth: int) -> dict[str, Any]:
    roll = rng.random()
    if depth > 0 and roll < 0.25:
        op = _choice(rng, ["$and", "$or"])
        return {op: [_tree(rng, depth - 1) for _ in range(rng.randint(1, 3))]}
    if depth > 0 and roll < 0.35:
        return {"$not": _tree(rng, depth - 1)}
    if roll < 0.45:  # several conditions in one dict: an implicit AND
        spec: dict[str, Any] = {}
        for _ in range(rng.randint(2, 3)):
            for key, ops in _condition(rng).items():
                if key in spec and isinstance(spec[key], dict) and isinstance(ops, dict):
                    spec[key] = {**spec[key], **ops}
                else:
                    spec[key] = ops
        return spec
    return _condition(rng)


# --------------------------------------------------------------------------- checking
def filter_features(node: FilterNode | None) -> frozenset[str]:
    """The refusable features a parsed filter uses (:data:`BIG_NUMBERS`, :data:`SUBSTRING`)."""
    found: set[str] = set()
    stack: list[Any] = [node] if node is not None else []
    while stack:
        n = stack.pop()
        if isinstance(n, Comparison):
            if n.op in ("substring", "isubstring"):
                found.add(SUBSTRING)
            values = n.value if n.op == "in" else (n.value,)
            if any(
                isinstance(v, (int, float)) and not isinstance(v, bool) and abs(v) >= 2**53
                for v in values
            ):
                found.add(BIG_NUMBERS)
        elif isinstance(n, Not):
            stack.append(n.child)
        else:
            stack.extend(n.children)
    return frozenset(found)


class FilterOracle:
    """Checks one store's answers to filters against the reference evaluator.

    Args:
        store: The store under test; ``coll`` holds exactly ``records``.
        refused: Features this backend refuses with :class:`FilterError`.
        label: Reproduction hint added to every failure message.
    """

    def __init__(
        self,
        store: Store,
        coll: str,
        records: Sequence[Record],
        refused: frozenset[str],
        label: str = "",
    ) -> None:
        self.store, self.coll, self.records = store, coll, list(records)
        self.refused, self.label = refused, label
        self.query = list(records[0].vector or [])
        self.calls = 0
        self.refusals = 0

    def expected(self, spec: Any) -> tuple[list[str] | None, frozenset[str]]:
        """Matching ids (``None``: the filter is invalid) and the features it uses."""
        try:
            node = parse_filter(spec)
        except errors.FilterError:
            return None, frozenset()
        ids = sorted(r.id for r in self.records if evaluate(node, r.metadata))
        return ids, filter_features(node) & self.refused

    def _fail(self, api: str, spec: Any, got: Any, want: Any) -> None:
        extra = sorted(set(got) ^ set(want)) if isinstance(got, list) else []
        meta = {r.id: r.metadata for r in self.records if r.id in extra[:6]}
        pytest.fail(
            f"{api} with filter {show(spec)} on {self.store.backend_name}: got {got!r}, the "
            f"reference says {want!r}; differing records' metadata: {meta!r} {self.label}",
            pytrace=False,
        )

    def _expect_refusal(self, api: str, spec: Any, call: Callable[[], Any], why: str) -> None:
        try:
            got = call()
        except errors.FilterError:
            self.refusals += 1
            return
        pytest.fail(
            f"{api} with filter {show(spec)} on {self.store.backend_name}: expected FilterError "
            f"({why}), got {got!r} {self.label}",
            pytrace=False,
        )

    def _run(self, api: str, spec: Any) -> Callable[[], Any]:
        s, c, n = self.store, self.coll, len(self.records)
        if api == "count":
            return lambda: s.count(c, filter=spec)
        if api == "scan":
            return lambda: sorted(r.id for r in s.scan(c, filter=spec, limit=n + 1).records)
        if api == "scan-pages":
            return lambda: sorted(r.id for r in s.iter_records(c, filter=spec, batch_size=7))
        if api == "search":
            return lambda: sorted(h.record.id for h in s.search(c, self.query, k=n, filter=spec))
        if api == "keyword":
            return lambda: sorted(h.record.id for h in s.keyword_search(c, WORD, k=n, filter=spec))
        if api == "hybrid":
            return lambda: sorted(
                h.record.id
                for h in s.hybrid_search(c, WORD, self.query, k=n, fetch_k=n, filter=spec)
            )
        raise ValueError(api)  # pragma: no cover - callers pass known names

    def check(self, api: str, spec: Any) -> None:
        """One call of ``api`` with ``spec``; fails the test on any difference."""
        want, refused = self.expected(spec)
        self.calls += 1
        if api == "delete":
            return self._check_delete(spec, want, refused)
        call = self._run(api, spec)
        if want is None:
            return self._expect_refusal(api, spec, call, "the reference refuses it")
        if refused:
            return self._expect_refusal(api, spec, call, f"the backend refuses {set(refused)}")
        try:
            got = call()
        except errors.BrunoMemoryError as exc:
            pytest.fail(
                f"{api} with filter {show(spec)} on {self.store.backend_name} raised "
                f"{type(exc).__name__}: {exc} {self.label}",
                pytrace=False,
            )
        expect: Any = len(want) if api == "count" else want
        if got != expect:
            self._fail(api, spec, got, expect)
        return None

    async def acheck(self, api: str, spec: Any) -> None:
        """The async twin of count and scan."""
        want, refused = self.expected(spec)
        self.calls += 1
        s, c = self.store, self.coll
        try:
            if api == "acount":
                got: Any = await s.acount(c, filter=spec)
            else:
                page = await s.ascan(c, filter=spec, limit=len(self.records) + 1)
                got = sorted(r.id for r in page.records)
        except errors.FilterError:
            if want is None or refused:
                self.refusals += 1
                return
            raise
        if want is None or refused:
            pytest.fail(
                f"{api} with {show(spec)}: expected FilterError {self.label}", pytrace=False
            )
        expect: Any = len(want) if api == "acount" else want
        if got != expect:
            self._fail(api, spec, got, expect)

    def _check_delete(self, spec: Any, want: list[str] | None, refused: frozenset[str]) -> None:
        s, c = self.store, self.coll
        if want is None or refused:
            self._expect_refusal("delete", spec, lambda: s.delete(c, filter=spec), "refused")
            if s.count(c) != len(self.records):
                pytest.fail(f"a refused delete changed data: {show(spec)} {self.label}")
            return
        deleted = s.delete(c, filter=spec)
        left = sorted(r.id for r in s.iter_records(c, batch_size=500, include_vectors=False))
        all_ids = sorted(r.id for r in self.records)
        if deleted != len(want) or left != sorted(set(all_ids) - set(want)):
            self._fail("delete", spec, sorted(set(all_ids) - set(left)), want)
        if want:  # put them back for the next filters
            s.upsert(c, [r for r in self.records if r.id in set(want)])


def write_with_churn(store: Store, coll: str, records: Sequence[Record]) -> None:
    """Write ``records``, then delete and write a third of them again: real
    collections have replaced and deleted records, which leave holes in a store's
    indexes that a fresh collection lacks (and that some query engines mishandle)."""
    store.upsert(coll, records)
    again = list(records[1::3])
    store.delete(coll, [r.id for r in again])
    store.upsert(coll, again)


def fuzz_cases() -> int:
    """Filters per backend: ``BRUNO_FUZZ_CASES`` or :data:`DEFAULT_CASES`."""
    raw = os.environ.get(CASES_ENV, "").strip()
    return int(raw) if raw else DEFAULT_CASES


def fuzz_seed() -> int:
    raw = os.environ.get(SEED_ENV, "").strip()
    return int(raw) if raw else DEFAULT_SEED


class FilterFuzzTests(_Base):
    """Seeded random filters through every API, compared with the reference evaluator."""

    #: Records written for the fuzz run.
    fuzz_records_count: ClassVar[int] = 48

    async def test_filter_fuzz_matches_reference(self, store: Store, coll: str) -> None:
        seed, cases = fuzz_seed(), fuzz_cases()
        rng = random.Random(seed)
        records = fuzz_records(rng, self.fuzz_records_count, store.capabilities.nested_metadata)
        write_with_churn(store, coll, records)
        apis = ["scan", "search", "scan-pages"]
        if store.capabilities.keyword_search:
            apis.append("keyword")
        if store.capabilities.hybrid_search:
            apis.append("hybrid")
        oracle = FilterOracle(store, coll, records, self.refused_features(store))
        began = time.monotonic()
        for case in range(cases):
            spec = fuzz_filter(rng)
            oracle.label = f"({SEED_ENV}={seed}, case {case})"
            oracle.check("count", spec)
            if case % 40 == 39:
                oracle.check("delete", spec)
            elif case % 10 == 3:
                await oracle.acheck("acount" if case % 20 == 3 else "ascan", spec)
            else:
                oracle.check(apis[case % len(apis)], spec)
        elapsed = time.monotonic() - began
        # Printed with -s: the size of the run on this backend.
        print(
            f"\nfilter fuzz on {store.backend_name}: {cases} filters, {oracle.calls} calls, "
            f"{oracle.refusals} refusals checked, {elapsed:.1f}s (seed {seed})"
        )
        assert oracle.calls >= 2 * cases
