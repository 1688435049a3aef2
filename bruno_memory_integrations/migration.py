"""Copy a store into another: vector collections, chat sessions and key-value items.

::

    from bruno_memory_integrations import migrate
    report = migrate("sqlite:///dev.db", "postgresql://app@db/prod", verify=True)
    print(report.summary())

Any two stores work (any registered backend, a URL or a :class:`Store`). What is copied:

* every vector collection (or those named), with its dimension, metric and embedding
  model; each record's id, text, vector and metadata;
* the chat sessions of the namespaces named (by default the package's adapters'),
  every message exactly as stored, in order;
* the key-value collections named (by default the adapters' own; the Store API
  cannot list key-value collections).

**Streaming.** Records are read a page at a time with scan cursors and written with
one upsert per page, so memory stays flat for any collection size. Chat sessions are
read one session at a time, key-value values one batch at a time (a key-value
collection's key list is read whole: the Store API has no paged key listing).

**Resumable.** After each page the migration records where it stands (the scan
cursor of the collection it copies, the last session or key done) in a checkpoint:
by default a key in the destination's key-value collection :data:`CHECKPOINTS`,
or a local JSON file (``state_file``). Rerunning the same migration after an
interruption, even ``kill -9``, starts from there. Nothing is duplicated: records
and key-value items are upserts by id and key, and a chat session is replaced as a
whole (cleared, then appended) until it is marked done. A migration that finishes
deletes its checkpoint, so the next run copies everything again.

**Same identity, source wins.** A record, session or key that exists in the
destination is replaced by the source's. Everything else in the destination is
left alone. Expiry times (TTL) are not copied: the Store API does not read them.

**Verify.** :func:`verify` compares counts and, item by item, checksums that do not
depend on the store (:func:`record_checksum`): the same record has the same
checksum in every backend.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import struct
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from .errors import (
    CollectionMismatchError,
    ConfigurationError,
    DimensionMismatchError,
    InvalidInputError,
    NotSupportedError,
)
from .logs import get_logger, redact_url
from .progress import progress_bar
from .store import DEFAULT_NAMESPACE, Store
from .types import Message, Record
from .validation import check_records

__all__ = [
    "CHECKPOINTS",
    "KNOWN_KV_COLLECTIONS",
    "KNOWN_NAMESPACES",
    "MigrationReport",
    "PartReport",
    "canonical_json",
    "messages_checksum",
    "migrate",
    "record_checksum",
    "value_checksum",
    "verify",
]

#: Key-value collection of the destination that holds the checkpoints of unfinished runs.
CHECKPOINTS = "bruno_migrations"
#: Chat namespaces copied by default: the Store's and the LangChain / LlamaIndex adapters'.
KNOWN_NAMESPACES: tuple[str, ...] = (DEFAULT_NAMESPACE, "langchain", "llama_index")
#: Key-value collections copied by default: the LangChain byte store's and the
#: LlamaIndex key-value, document and index stores' (default namespaces).
KNOWN_KV_COLLECTIONS: tuple[str, ...] = (
    "langchain_kv",
    "llama_index/data",
    "llama_index/docstore/data",
    "llama_index/docstore/metadata",
    "llama_index/docstore/ref_doc_info",
    "llama_index/index_store/data",
)
_STATE_VERSION = 1
_MAX_EXAMPLES = 10
_log = get_logger("migrate")


# ===================================================================== checksums
def _canonical(value: Any) -> Any:
    if isinstance(value, float):
        # 1.0 and 1 are one JSON number; stores may hand back either.
        if value.is_integer() and abs(value) < 2.0**63:
            return int(value)
        return value
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    return value


def canonical_json(value: Any) -> bytes:
    """``value`` as canonical JSON bytes: sorted keys, no spaces, UTF-8, whole floats as ints."""
    return json.dumps(
        _canonical(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False,
        allow_nan=False,
    ).encode("utf-8")


def _part(h: Any, data: bytes) -> None:
    h.update(len(data).to_bytes(8, "little"))
    h.update(data)


def record_checksum(record: Record) -> str:
    """SHA-256 of a record, the same in every store.

    Hashes the id, the text, the metadata as :func:`canonical_json` and the vector as
    little-endian float32 (every store keeps float32; ``-0.0`` counts as ``0.0``),
    each prefixed by its length. A record without a vector hashes an empty vector.
    """
    h = hashlib.sha256(b"bruno-record-1")
    _part(h, record.id.encode("utf-8"))
    _part(h, (record.text or "").encode("utf-8"))
    _part(h, canonical_json(record.metadata or {}))
    vector = record.vector or []
    _part(h, struct.pack(f"<{len(vector)}f", *(float(x) + 0.0 for x in vector)))
    return h.hexdigest()


def messages_checksum(messages: Sequence[Message]) -> str:
    """SHA-256 of a chat session's messages in order (each as :func:`canonical_json`)."""
    h = hashlib.sha256(b"bruno-chat-1")
    for m in messages:
        _part(h, canonical_json(m))
    return h.hexdigest()


def value_checksum(key: str, value: bytes | None) -> str:
    """SHA-256 of one key-value item."""
    h = hashlib.sha256(b"bruno-kv-1")
    _part(h, key.encode("utf-8"))
    _part(h, b"" if value is None else b"\x01" + value)
    return h.hexdigest()


# ===================================================================== reports
@dataclass
class PartReport:
    """What happened to one collection, chat namespace or key-value collection.

    Attributes:
        kind: ``"records"``, ``"chat"`` or ``"kv"``.
        name: The collection or namespace.
        source: Items in the source (records, messages or keys).
        copied: Items written by this run (a resumed run counts only its own).
        resumed: The run continued from a checkpoint.
        details: For records: ``dimension``, ``metric``, ``embedding_model``; for chat:
            ``sessions``.
        verified: ``None`` when not verified; else whether everything matched.
        destination: Items in the destination after the run (when verified).
        mismatched: How many items differ or are missing in the destination.
        examples: Up to ten ids, sessions or keys that differ.
    """

    kind: str
    name: str
    source: int = 0
    copied: int = 0
    resumed: bool = False
    details: dict[str, Any] = field(default_factory=dict)
    verified: bool | None = None
    destination: int | None = None
    mismatched: int = 0
    examples: list[str] = field(default_factory=list)


@dataclass
class MigrationReport:
    """The outcome of :func:`migrate` (or :func:`verify`): one :class:`PartReport` per part."""

    source: str
    destination: str
    dry_run: bool = False
    parts: list[PartReport] = field(default_factory=list)
    seconds: float = 0.0
    checkpoint: str | None = None

    @property
    def ok(self) -> bool:
        """No part failed verification (true when nothing was verified)."""
        return all(p.verified is not False for p in self.parts)

    @property
    def verified(self) -> bool:
        """Every part was verified and matched."""
        return bool(self.parts) and all(p.verified for p in self.parts)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["ok"] = self.ok
        return out

    def summary(self) -> str:
        """A few lines for people: one per part, then the verdict."""
        verb = "would copy" if self.dry_run else "copied"
        lines = []
        empty = [
            p for p in self.parts
            if p.kind != "records" and not p.source and p.verified is not False
        ]
        for p in self.parts:
            if p in empty:
                continue
            unit = {"records": "records", "chat": "messages", "kv": "keys"}[p.kind]
            what = {"records": "collection", "chat": "namespace", "kv": "kv collection"}[p.kind]
            extra = ""
            if p.kind == "records" and p.details:
                extra = (
                    f" (dimension {p.details.get('dimension')}, {p.details.get('metric')}"
                    f", model {p.details.get('embedding_model')})"
                )
            elif p.kind == "chat":
                n_s = p.details.get("sessions", 0)
                extra = f" in {n_s} session{'' if n_s == 1 else 's'}"
            n = p.source if self.dry_run else p.copied
            line = f"{what} {p.name!r}: {verb} {n} of {p.source} {unit}{extra}"
            if p.resumed:
                line += ", resumed"
            if p.verified is True:
                line += ", verified"
            elif p.verified is False:
                line += f", VERIFY FAILED: {p.mismatched} differ (e.g. {p.examples[:3]})"
            lines.append(line)
        if empty:
            shown = ", ".join(
                f"{'namespace' if p.kind == 'chat' else 'kv'} {p.name!r}" for p in empty
            )
            lines.append(f"empty in the source: {shown}")
        verdict = "ok" if self.ok else "verification failed"
        lines.append(f"{verdict} in {self.seconds:.1f} s")
        return "\n".join(lines)


# ===================================================================== checkpoints
class _Checkpoint:
    """Where a run stands, kept in the destination's key-value space or a local file."""

    def __init__(self, store: Store, job: str, state_file: str | None) -> None:
        self.key = job
        self.store = store
        self.path = state_file
        if self.path is None and not store.capabilities.kv:
            # No key-value space to keep it in: a local file named after the job.
            self.path = f".bruno-migrate-{job[:16]}.json"
        self.state: dict[str, Any] = {"version": _STATE_VERSION, "parts": {}}

    @property
    def where(self) -> str:
        return self.path or f"destination key-value collection {CHECKPOINTS!r}, key {self.key!r}"

    def load(self) -> bool:
        raw: bytes | None
        if self.path is not None:
            try:
                with open(self.path, "rb") as fh:
                    raw = fh.read()
            except FileNotFoundError:
                raw = None
        else:
            raw = self.store.kv_mget(CHECKPOINTS, [self.key])[0]
        if raw is None:
            return False
        try:
            state = json.loads(raw)
        except ValueError:
            raise ConfigurationError(
                f"the migration checkpoint at {self.where} is not JSON; delete it "
                f"(or pass restart=True / --restart) to copy everything again"
            ) from None
        if not isinstance(state, dict) or state.get("version") != _STATE_VERSION:
            raise ConfigurationError(
                f"the migration checkpoint at {self.where} has an unknown format; "
                f"pass restart=True (--restart) to copy everything again"
            )
        self.state = state
        return True

    def part(self, key: str) -> dict[str, Any]:
        parts: dict[str, Any] = self.state["parts"]
        return parts.setdefault(key, {})

    def save(self) -> None:
        data = json.dumps(self.state, ensure_ascii=False).encode("utf-8")
        if self.path is None:
            self.store.kv_mset(CHECKPOINTS, [(self.key, data)])
            return
        folder = os.path.dirname(os.path.abspath(self.path))
        fd, tmp = tempfile.mkstemp(prefix=".bruno-migrate-", dir=folder)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)  # atomic: a kill leaves the old or the new state
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def delete(self) -> None:
        if self.path is None:
            self.store.kv_mdelete(CHECKPOINTS, [self.key])
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)


def _job_id(source: str, plan: dict[str, Any]) -> str:
    blob = canonical_json({"source": source, **plan})
    return "migrate-" + hashlib.sha256(blob).hexdigest()[:32]


# ===================================================================== helpers
@contextlib.contextmanager
def _opened(target: Store | str) -> Iterator[Store]:
    if isinstance(target, Store):
        yield target
        return
    from .registry import open_store

    store = open_store(target)
    try:
        yield store
    finally:
        store.close()


def _label(target: Store | str) -> str:
    return redact_url(target) if isinstance(target, str) else repr(target)


def _names(value: Sequence[str] | str | None, default: Sequence[str]) -> list[str]:
    if value is None:
        return list(default)
    if isinstance(value, str):
        return [value]
    return list(dict.fromkeys(value))


@dataclass
class _Plan:
    collections: list[str]
    namespaces: list[str]
    kv: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {"collections": self.collections, "namespaces": self.namespaces, "kv": self.kv}


def _plan(
    src: Store,
    dst: Store,
    collections: Sequence[str] | str | None,
    namespaces: Sequence[str] | str | None,
    kv_collections: Sequence[str] | str | None,
) -> _Plan:
    available = src.list_collections()
    names = _names(collections, available)
    missing = [n for n in names if n not in available]
    if missing:
        raise InvalidInputError(
            f"the source has no vector collection {missing[0]!r}; it has {available}"
        )
    ns = _names(namespaces, KNOWN_NAMESPACES if src.capabilities.chat else ())
    kv = _names(kv_collections, KNOWN_KV_COLLECTIONS if src.capabilities.kv else ())
    kv = [k for k in kv if k != CHECKPOINTS]
    for what, wanted, cap in (("chat messages", ns, "chat"), ("key-value items", kv, "kv")):
        if not wanted:
            continue
        for side, store in (("source", src), ("destination", dst)):
            if not getattr(store.capabilities, cap):
                raise NotSupportedError(
                    f"{side} ({store.backend_name})", what,
                    f"pass {'namespaces' if cap == 'chat' else 'kv_collections'}=[] "
                    f"(--no-{'chat' if cap == 'chat' else 'kv'}) to leave them out",
                )
    return _Plan(names, ns, kv)


def _check_destination(src: Store, dst: Store, names: list[str]) -> list[PartReport]:
    """Every collection can be created in the destination, or matches the one there."""
    parts = []
    for name in names:
        info = src.collection_info(name)
        assert info is not None  # listed by the source just now
        if info.metric not in dst.capabilities.metrics:
            raise NotSupportedError(
                dst.backend_name, f"the {info.metric} metric of collection {name!r}",
                f"it supports {list(dst.capabilities.metrics)}",
            )
        there = dst.collection_info(name)
        if there is not None:
            if there.dimension != info.dimension:
                raise DimensionMismatchError(name, there.dimension, info.dimension)
            if (there.metric, there.embedding_model) != (info.metric, info.embedding_model):
                raise CollectionMismatchError(
                    f"the destination's collection {name!r} has metric {there.metric!r} and "
                    f"model {there.embedding_model!r}; the source's has {info.metric!r} and "
                    f"{info.embedding_model!r}: migrate into another store, or drop it first"
                )
        parts.append(
            PartReport(
                "records", name, source=src.count(name),
                details={
                    "dimension": info.dimension, "metric": info.metric,
                    "embedding_model": info.embedding_model,
                },
            )
        )
    return parts


# ===================================================================== copying
def _copy_records(
    src: Store, dst: Store, part: PartReport, ck: _Checkpoint | None, batch: int,
    progress: bool | None,
) -> None:
    name = part.name
    d = part.details
    state = ck.part(f"records:{name}") if ck else {}
    if state.get("done"):
        part.resumed = True
        return
    cursor = state.get("cursor")
    done_before = int(state.get("copied", 0))
    part.resumed = cursor is not None
    if ck is None:  # dry run: check every record against the destination's rules
        with progress_bar(part.source, f"check {name}", enabled=progress) as bar:
            for page in _pages(src, name, batch, None):
                check_records(page.records, dst.capabilities.nested_metadata, name, d["dimension"])
                bar.update(len(page.records))
        return
    dst.ensure_collection(name, d["dimension"], d["metric"], d["embedding_model"])
    with progress_bar(part.source, f"records {name}", enabled=progress) as bar:
        if done_before:
            bar.update(min(done_before, part.source))
        try:
            pages = _pages(src, name, batch, cursor)
            for page in pages:
                if page.records:
                    dst.upsert(name, page.records)
                    part.copied += len(page.records)
                    bar.update(len(page.records))
                state.update(cursor=page.cursor, copied=done_before + part.copied)
                if page.cursor is None:
                    state["done"] = True
                ck.save()
        except InvalidInputError as exc:
            if cursor is None or "cursor" not in str(exc):
                raise
            # The source no longer accepts the saved cursor: copy the collection again
            # (upserts make that safe).
            _log.warning("checkpoint cursor of %r refused (%s); copying it again", name, exc)
            state.clear()
            ck.save()
            part.copied = 0
            _copy_records(src, dst, part, ck, batch, progress)
            return
    state["done"] = True
    ck.save()


def _pages(src: Store, name: str, batch: int, cursor: str | None) -> Iterator[Any]:
    while True:
        page = src.scan(name, limit=batch, cursor=cursor, include_vectors=True)
        yield page
        if page.cursor is None:
            return
        cursor = page.cursor


def _copy_chat(
    src: Store, dst: Store, part: PartReport, ck: _Checkpoint | None, batch: int,
    progress: bool | None,
) -> None:
    ns = part.name
    sessions = sorted(src.list_sessions(namespace=ns))
    part.details["sessions"] = len(sessions)
    state = ck.part(f"chat:{ns}") if ck else {}
    if state.get("done"):
        part.resumed = True
        return
    after = state.get("after")
    part.resumed = after is not None
    todo = [s for s in sessions if after is None or s > after]
    shown = progress if todo else False
    with progress_bar(len(sessions), f"chat {ns}", enabled=shown, unit="session") as bar:
        bar.update(len(sessions) - len(todo))
        for session in todo:
            messages = src.get_messages(session, namespace=ns)
            part.source += len(messages)
            if ck is not None:
                # Replace the session whole: a run killed halfway through its appends
                # clears them again, so no message is ever stored twice.
                dst.clear_messages(session, namespace=ns)
                for i in range(0, len(messages), batch):
                    dst.append_messages(session, messages[i : i + batch], namespace=ns)
                part.copied += len(messages)
                state["after"] = session
                ck.save()
            bar.update(1)
    if ck is not None:
        state["done"] = True
        ck.save()


def _copy_kv(
    src: Store, dst: Store, part: PartReport, ck: _Checkpoint | None, batch: int,
    progress: bool | None,
) -> None:
    name = part.name
    keys = sorted(src.kv_keys(name))
    part.source = len(keys)
    state = ck.part(f"kv:{name}") if ck else {}
    if state.get("done"):
        part.resumed = True
        return
    after = state.get("after")
    part.resumed = after is not None
    todo = [k for k in keys if after is None or k > after]
    if ck is None:
        return
    shown = progress if todo else False
    with progress_bar(len(keys), f"kv {name}", enabled=shown, unit="key") as bar:
        bar.update(len(keys) - len(todo))
        for i in range(0, len(todo), batch):
            chunk = todo[i : i + batch]
            values = src.kv_mget(name, chunk)
            # A key that expired since it was listed has no value: nothing to copy.
            items = [(k, v) for k, v in zip(chunk, values, strict=True) if v is not None]
            if items:
                dst.kv_mset(name, items)
            part.copied += len(items)
            state["after"] = chunk[-1]
            ck.save()
            bar.update(len(chunk))
    state["done"] = True
    ck.save()


# ===================================================================== public API
def migrate(
    source: Store | str,
    destination: Store | str,
    *,
    collections: Sequence[str] | str | None = None,
    namespaces: Sequence[str] | str | None = None,
    kv_collections: Sequence[str] | str | None = None,
    batch_size: int = 500,
    dry_run: bool = False,
    verify: bool = False,
    restart: bool = False,
    state_file: str | None = None,
    job: str | None = None,
    progress: bool | None = False,
) -> MigrationReport:
    """Copy vector collections, chat sessions and key-value items from one store to another.

    Args:
        source: Store URL or :class:`Store` to read.
        destination: Store URL or :class:`Store` to write (created collections get the
            source's dimension, metric and embedding model).
        collections: Vector collections to copy (default: all of the source's; ``[]``: none).
        namespaces: Chat namespaces whose sessions to copy (default
            :data:`KNOWN_NAMESPACES`; ``[]``: no chat).
        kv_collections: Key-value collections to copy (default :data:`KNOWN_KV_COLLECTIONS`;
            ``[]``: none). Missing or empty ones copy nothing.
        batch_size: Records, messages or keys per read and write.
        dry_run: Write nothing; count what would be copied, check that the destination
            accepts every collection and record (metric, dimension, metadata rules).
        verify: Afterwards compare counts and per-item checksums (see :func:`verify`).
        restart: Ignore (and replace) the checkpoint of an interrupted run.
        state_file: Keep the checkpoint in this local JSON file instead of the
            destination's key-value collection :data:`CHECKPOINTS`.
        job: Name of the checkpoint (default: derived from the source URL and the
            parts chosen, so rerunning the same command resumes it). Give one when
            passing :class:`Store` objects of different sources to one destination.
        progress: Draw progress bars (rate and ETA) on stderr; ``None``: when stderr is
            a terminal.

    Returns:
        A :class:`MigrationReport` (``report.ok`` is false when verification failed).

    Raises:
        DimensionMismatchError, CollectionMismatchError: a collection exists in the
            destination with another dimension, metric or model (nothing is written).
        NotSupportedError: the destination lacks the metric, chat or key-value support
            that the chosen parts need (nothing is written).
        InvalidMetadataError: a record's metadata is more than the destination keeps
            (nested metadata into Redis); ``dry_run`` finds these first.
    """
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise InvalidInputError(f"batch_size must be a positive integer, got {batch_size!r}")
    started = time.perf_counter()
    report = MigrationReport(_label(source), _label(destination), dry_run=dry_run)
    with _opened(source) as src, _opened(destination) as dst:
        plan = _plan(src, dst, collections, namespaces, kv_collections)
        report.parts = _check_destination(src, dst, plan.collections)
        report.parts += [PartReport("chat", ns) for ns in plan.namespaces]
        report.parts += [PartReport("kv", k) for k in plan.kv]
        ck: _Checkpoint | None = None
        if not dry_run:
            # Named after what was asked (not what it resolved to), so a rerun of the
            # same command finds its checkpoint even if the source has changed since.
            asked = {"collections": collections, "namespaces": namespaces, "kv": kv_collections}
            job_id = job or _job_id(source if isinstance(source, str) else repr(src), asked)
            ck = _Checkpoint(dst, job_id, state_file)
            report.checkpoint = ck.where
            if restart:
                ck.delete()
            elif ck.load():
                _log.info("resuming the migration from %s", ck.where)
            ck.save()  # a checkpoint exists from the first write on
        for part in report.parts:
            copy = {"records": _copy_records, "chat": _copy_chat, "kv": _copy_kv}[part.kind]
            copy(src, dst, part, ck, batch_size, progress)
        if ck is not None:
            ck.delete()
        if verify:
            _verify_parts(src, dst, report.parts, batch_size, progress)
    report.seconds = time.perf_counter() - started
    log = _log.warning if not report.ok else _log.info
    log("migration %s -> %s: %s", report.source, report.destination, report.summary())
    return report


def verify(
    source: Store | str,
    destination: Store | str,
    *,
    collections: Sequence[str] | str | None = None,
    namespaces: Sequence[str] | str | None = None,
    kv_collections: Sequence[str] | str | None = None,
    batch_size: int = 500,
    progress: bool | None = False,
) -> MigrationReport:
    """Compare a destination with its source: counts, and every item's checksum.

    Records are compared by :func:`record_checksum` (reading the source a page at a
    time and fetching the same ids from the destination), chat sessions by
    :func:`messages_checksum`, key-value items by :func:`value_checksum`. A part
    matches when every source item is in the destination with the same checksum
    and the destination holds no more of them (same count). Writes nothing.
    """
    started = time.perf_counter()
    report = MigrationReport(_label(source), _label(destination))
    with _opened(source) as src, _opened(destination) as dst:
        plan = _plan(src, dst, collections, namespaces, kv_collections)
        parts = []
        for name in plan.collections:
            info = src.collection_info(name)
            assert info is not None
            parts.append(
                PartReport(
                    "records", name, source=src.count(name),
                    details={
                        "dimension": info.dimension, "metric": info.metric,
                        "embedding_model": info.embedding_model,
                    },
                )
            )
        parts += [PartReport("chat", ns) for ns in plan.namespaces]
        parts += [PartReport("kv", k) for k in plan.kv]
        _verify_parts(src, dst, parts, batch_size, progress)
        report.parts = parts
    report.seconds = time.perf_counter() - started
    return report


def _differ(part: PartReport, what: str) -> None:
    part.mismatched += 1
    if len(part.examples) < _MAX_EXAMPLES:
        part.examples.append(what)


def _verify_parts(
    src: Store, dst: Store, parts: list[PartReport], batch: int, progress: bool | None
) -> None:
    for part in parts:
        part.mismatched, part.examples = 0, []
        if part.kind == "records":
            _verify_records(src, dst, part, batch, progress)
        elif part.kind == "chat":
            _verify_chat(src, dst, part, progress)
        else:
            _verify_kv(src, dst, part, batch, progress)
        part.verified = part.mismatched == 0 and part.destination == part.source


def _verify_records(
    src: Store, dst: Store, part: PartReport, batch: int, progress: bool | None
) -> None:
    name = part.name
    info, there = src.collection_info(name), dst.collection_info(name)
    if there is None:
        part.destination = 0
        _differ(part, f"collection {name!r} is missing")
        return
    if info is not None and (info.dimension, info.metric, info.embedding_model) != (
        there.dimension, there.metric, there.embedding_model
    ):
        _differ(part, f"collection {name!r} was created with {there}")
    part.source = src.count(name)
    part.destination = dst.count(name)
    with progress_bar(part.source, f"verify {name}", enabled=progress) as bar:
        for page in _pages(src, name, batch, None):
            ids = [r.id for r in page.records]
            got = {r.id: r for r in dst.get(name, ids, include_vectors=True)} if ids else {}
            for rec in page.records:
                other = got.get(rec.id)
                if other is None or record_checksum(other) != record_checksum(rec):
                    _differ(part, rec.id)
            bar.update(len(ids))


def _verify_chat(src: Store, dst: Store, part: PartReport, progress: bool | None) -> None:
    ns = part.name
    sessions = sorted(src.list_sessions(namespace=ns))
    theirs = set(dst.list_sessions(namespace=ns))
    part.details["sessions"] = len(sessions)
    part.source = 0
    part.destination = 0
    shown = progress if sessions else False
    with progress_bar(len(sessions), f"verify chat {ns}", enabled=shown, unit="session") as bar:
        for session in sessions:
            mine = src.get_messages(session, namespace=ns)
            other = dst.get_messages(session, namespace=ns) if session in theirs else []
            part.source += len(mine)
            part.destination += len(other)
            if messages_checksum(mine) != messages_checksum(other):
                _differ(part, session)
            bar.update(1)
    for extra in sorted(theirs - set(sessions)):
        part.destination += len(dst.get_messages(extra, namespace=ns))
        _differ(part, f"{extra} (only in the destination)")


def _verify_kv(
    src: Store, dst: Store, part: PartReport, batch: int, progress: bool | None
) -> None:
    name = part.name
    keys = sorted(src.kv_keys(name))
    part.source = len(keys)
    part.destination = len(dst.kv_keys(name))
    shown = progress if keys else False
    with progress_bar(len(keys), f"verify kv {name}", enabled=shown, unit="key") as bar:
        for i in range(0, len(keys), batch):
            chunk = keys[i : i + batch]
            mine, theirs = src.kv_mget(name, chunk), dst.kv_mget(name, chunk)
            for k, a, b in zip(chunk, mine, theirs, strict=True):
                if value_checksum(k, a) != value_checksum(k, b):
                    _differ(part, k)
            bar.update(len(chunk))

