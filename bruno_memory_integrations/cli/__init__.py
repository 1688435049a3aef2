"""The ``bruno-memory`` command line.

Commands (``bruno-memory COMMAND --help`` for each):

* ``demo``: the bundled corpus through LangChain and LlamaIndex, offline (module ``demo``).
* ``ls`` / ``info``: what a store holds (module ``browse``).
* ``inspect`` / ``drop``: records, sessions or keys; remove a collection (``browse``).
* ``export`` / ``import``: a collection as JSON Lines (module ``transfer``).
* ``migrate``: copy collections, chat sessions and key-value items between two stores
  (module ``migrate``).

Every command takes ``--json`` (machine-readable output) and ``--debug`` (full
tracebacks and debug logs). Errors print one line, ``bruno-memory: error: ...``,
and exit with status 1 (2 for a wrong command line, 130 when interrupted).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence

from .. import __version__
from ..errors import BrunoMemoryError
from ..logs import get_logger
from .browse import cmd_drop, cmd_info, cmd_inspect, cmd_ls
from .common import CommandError, one_line
from .demo import COLLECTION, DEFAULT_DB, load_corpus, run_demo
from .migrate import cmd_migrate
from .transfer import cmd_export, cmd_import

__all__ = ["COLLECTION", "DEFAULT_DB", "build_parser", "load_corpus", "main"]

PROG = "bruno-memory"
EXAMPLES = """\
examples:
  bruno-memory demo
  bruno-memory info sqlite:///bruno_demo.db
  bruno-memory inspect sqlite:///bruno_demo.db demo_docs --filter '{"topic": "history"}'
  bruno-memory export sqlite:///bruno_demo.db demo_docs -o docs.jsonl
  bruno-memory import postgresql://user@localhost/app docs.jsonl
  bruno-memory drop sqlite:///bruno_demo.db demo_docs
  bruno-memory migrate sqlite:///bruno_demo.db postgresql://user@localhost/app --verify

Store URLs: sqlite:///relative.db, sqlite:////absolute.db, memory://,
postgresql://user:password@host:5432/db, redis://host:6379/0.
Documentation: docs/cli.md
"""

Handler = Callable[[argparse.Namespace], int]


def _demo(args: argparse.Namespace) -> int:
    if args.json:
        raise CommandError("demo prints a walkthrough; --json applies to the other commands")
    return run_demo(args.url, args.reset)


def _common() -> argparse.ArgumentParser:
    """Options every command takes, before or after the command name."""
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: a subcommand's parser must not reset a value given before the command.
    common.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS,
        help="print machine-readable JSON on stdout",
    )
    common.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS,
        help="show full tracebacks and debug logs",
    )
    common.add_argument(
        "--progress", action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS,
        help="draw progress bars on stderr (default: only when stderr is a terminal)",
    )
    return common


def _url(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "url", metavar="URL",
        help="store URL, e.g. sqlite:///memory.db or postgresql://user@host/db",
    )


def _listing(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--namespace", action="append", metavar="NS",
        help="chat namespace to list sessions of (repeatable; default: default, "
        "langchain, llama_index)",
    )
    parser.add_argument(
        "--kv", action="append", metavar="NAME",
        help="also count the keys of this key-value collection (repeatable; "
        "key-value collections cannot be listed)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``bruno-memory`` (its help is the command's reference)."""
    common = _common()
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Look after the stores of bruno-memory-integrations: vector collections,\n"
        "chat sessions and key-value items in SQLite, PostgreSQL, Redis or memory;\n"
        "and run the offline demo.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, handler: Handler, help: str, description: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=description, parents=[common])
        p.set_defaults(handler=handler)
        return p

    p = add(
        "demo", _demo, "load the bundled corpus and query it from LangChain and LlamaIndex",
        "Load the bundled corpus (36 short documents) into a store and show, offline, "
        "a LangChain search with a filter, a chat history round trip and a LlamaIndex "
        "query over the same records. Needs the demo extra.",
    )
    p.add_argument(
        "--url", default=f"sqlite:///{DEFAULT_DB}",
        help="store URL to load the corpus into (default: %(default)s)",
    )
    p.add_argument("--reset", action="store_true", help="drop the demo collection first")

    p = add(
        "ls", cmd_ls, "list collections (records, dimension, metric, model) and chat sessions",
        "List the vector collections of a store with their record count, dimension, "
        "metric and embedding model, and the chat sessions of each namespace.",
    )
    _url(p)
    _listing(p)

    p = add(
        "info", cmd_info, "show a store's backend and capabilities, then what ls shows",
        "Show the backend and capabilities of a store, its vector collections "
        "(records, dimension, metric, model) and its chat sessions.",
    )
    _url(p)
    _listing(p)

    p = add(
        "inspect", cmd_inspect, "show records (by id or filter), a chat session or kv keys",
        "Show records of a vector collection, chosen by --id or --filter (the first "
        "--limit records otherwise); or the messages of a chat session (--session); "
        "or the keys of a key-value collection (--kv).",
    )
    _url(p)
    p.add_argument("collection", nargs="?", metavar="COLLECTION", help="vector collection")
    p.add_argument("--id", action="append", metavar="ID", help="record id (repeatable)")
    p.add_argument(
        "--filter", metavar="JSON",
        help="""metadata filter, e.g. '{"year": {"$gte": 2020}}' (see docs/filters.md)""",
    )
    p.add_argument(
        "--limit", type=int, default=10, metavar="N",
        help="show at most N records (default: %(default)s)",
    )
    p.add_argument("--vectors", action="store_true", help="show the vectors too")
    p.add_argument(
        "--width", type=int, default=100, metavar="N",
        help="cut texts to N characters, 0 for whole texts (default: %(default)s)",
    )
    p.add_argument("--session", metavar="ID", help="show this chat session's messages")
    p.add_argument(
        "--namespace", action="append", metavar="NS",
        help="namespace of --session (default: default)",
    )
    p.add_argument("--kv", action="append", metavar="NAME", help="list this kv collection's keys")
    p.add_argument("--prefix", metavar="P", help="with --kv: only keys starting with P")

    p = add(
        "drop", cmd_drop, "delete a vector collection and its records (asks first)",
        "Delete a vector collection with all its records. Asks for confirmation "
        "unless --yes is given; without a terminal, --yes is required.",
    )
    _url(p)
    p.add_argument("collection", metavar="COLLECTION", help="vector collection to delete")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")

    p = add(
        "export", cmd_export, "write a collection as JSON Lines",
        "Write a vector collection (or the records matching --filter) as JSON Lines: "
        "a header line with the collection's dimension, metric and model, then one "
        "record per line. Import it into any store with 'bruno-memory import'.",
    )
    _url(p)
    p.add_argument("collection", metavar="COLLECTION", help="vector collection to export")
    p.add_argument(
        "-o", "--output", default="-", metavar="FILE",
        help="file to write (default: standard output)",
    )
    p.add_argument("--filter", metavar="JSON", help="export only the records matching it")

    p = add(
        "import", cmd_import, "load a JSON Lines export into a store",
        "Load records from a JSON Lines file made by 'bruno-memory export' (or one "
        "record object per line with --collection). Every line is checked before "
        "anything is written; records with an existing id are replaced.",
    )
    _url(p)
    p.add_argument("file", metavar="FILE", help="JSON Lines file, or - for standard input")
    p.add_argument(
        "--collection", metavar="NAME", help="collection to load into (default: the file's)"
    )
    p.add_argument(
        "--batch-size", type=int, default=500, metavar="N",
        help="records per write (default: %(default)s)",
    )

    p = add(
        "migrate", cmd_migrate, "copy collections, chat sessions and kv items to another store",
        "Copy the vector collections (with their dimension, metric and model), the chat "
        "sessions and the key-value items of SRC_URL into DST_URL, page by page. An "
        "interrupted run (even killed) continues where it stopped when run again. Items "
        "with the same id, session or key in the destination are replaced.",
    )
    p.add_argument("source", metavar="SRC_URL", help="store to read")
    p.add_argument("destination", metavar="DST_URL", help="store to write")
    p.add_argument(
        "--collection", action="append", metavar="NAME",
        help="vector collection to copy (repeatable; default: all)",
    )
    p.add_argument(
        "--namespace", action="append", metavar="NS",
        help="chat namespace to copy (repeatable; default: default, langchain, llama_index)",
    )
    p.add_argument(
        "--kv", action="append", metavar="NAME",
        help="key-value collection to copy (repeatable; default: the LangChain and "
        "LlamaIndex adapters' own, which cannot be listed otherwise)",
    )
    p.add_argument("--no-records", action="store_true", help="copy no vector collection")
    p.add_argument("--no-chat", action="store_true", help="copy no chat session")
    p.add_argument("--no-kv", action="store_true", help="copy no key-value item")
    p.add_argument(
        "--batch-size", type=int, default=500, metavar="N",
        help="records, messages or keys per read and write (default: %(default)s)",
    )
    p.add_argument(
        "--dry-run", action="store_true",
        help="write nothing: count what would be copied and check every record "
        "against the destination",
    )
    p.add_argument(
        "--verify", action="store_true",
        help="afterwards compare counts and per-item checksums (exit status 1 if they differ)",
    )
    p.add_argument(
        "--restart", action="store_true",
        help="ignore the checkpoint of an interrupted run and copy everything again",
    )
    p.add_argument(
        "--state-file", metavar="FILE",
        help="keep the checkpoint in this local file (default: in the destination's "
        "key-value collection bruno_migrations)",
    )
    p.add_argument("--job", metavar="NAME", help="checkpoint name (default: from the options)")
    return parser


def _setup_logging(debug: bool) -> None:
    # Warnings (slow operations, retries) reach stderr; with --debug, everything the
    # package logs. basicConfig does nothing where logging is already set up (a
    # notebook calling main()), and the package logger is touched only for --debug.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if debug:
        get_logger().setLevel(logging.DEBUG)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``bruno-memory`` with ``argv`` (default: ``sys.argv[1:]``); returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.json = getattr(args, "json", False)
    args.debug = getattr(args, "debug", False) or os.environ.get("BRUNO_MEMORY_DEBUG") == "1"
    args.progress = getattr(args, "progress", None)
    _setup_logging(args.debug)
    handler: Handler = args.handler
    try:
        return handler(args)
    except KeyboardInterrupt:
        if args.debug:
            raise
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`bruno-memory export ... | head`): stop quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except (CommandError, BrunoMemoryError) as exc:
        if args.debug:
            raise
        print(f"{PROG}: error: {one_line(exc)}", file=sys.stderr)
        return 1
    except Exception as exc:
        if args.debug:
            raise
        print(
            f"{PROG}: error: {type(exc).__name__}: {one_line(exc)} "
            f"(run with --debug for the traceback)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
