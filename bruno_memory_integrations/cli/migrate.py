"""``migrate``: copy a store into another (collections, chat sessions, key-value items).

A thin front for :func:`bruno_memory_integrations.migrate`: it parses the options,
opens both stores (a SQLite source must exist) and prints the report. Exit status 1
when ``--verify`` finds a difference.
"""

from __future__ import annotations

import argparse
import os
import sys

from ..migration import migrate
from .common import CommandError, open_existing, print_json, shown_url, sqlite_path


def _parts(args: argparse.Namespace, flag: str, names: list[str] | None) -> list[str] | None:
    if getattr(args, f"no_{flag}"):
        if names:
            raise CommandError(f"--no-{flag} leaves out what the other {flag} options name")
        return []
    return names


def cmd_migrate(args: argparse.Namespace) -> int:
    """Copy ``SRC_URL`` into ``DST_URL``; print what was copied (and verified)."""
    if args.batch_size < 1:
        raise CommandError(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.source == args.destination:
        raise CommandError("the source and the destination are the same URL")
    collections = _parts(args, "records", args.collection)
    namespaces = _parts(args, "chat", args.namespace)
    kv = _parts(args, "kv", args.kv)
    destination = args.destination
    path = sqlite_path(destination)
    if args.dry_run and path is not None and not os.path.exists(path):
        # A dry run must not create the file: an empty database stands in for it.
        destination = "sqlite://:memory:"
    with open_existing(args.source) as src, open_existing(destination, create=True) as dst:
        report = migrate(
            src,
            dst,
            collections=collections,
            namespaces=namespaces,
            kv_collections=kv,
            batch_size=args.batch_size,
            dry_run=args.dry_run,
            verify=args.verify,
            restart=args.restart,
            state_file=args.state_file,
            job=args.job,
            progress=args.progress,
        )
    report.source, report.destination = shown_url(args.source), shown_url(args.destination)
    if args.json:
        print_json(report.as_dict())
    else:
        print(report.summary())
    if not report.ok:
        print("bruno-memory: error: the destination differs from the source", file=sys.stderr)
        return 1
    return 0

