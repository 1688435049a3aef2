"""``ls``, ``info``, ``inspect`` and ``drop``: look at a store, and remove a collection.

Everything goes through the public :class:`~bruno_memory_integrations.Store` API.
Two things it cannot list: key-value collections (there is no call that names
them; inspect one by name with ``--kv``) and chat namespaces (sessions are listed
per namespace: the ones the package's adapters use, or those given with
``--namespace``).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..store import DEFAULT_NAMESPACE, Store
from .common import (
    CommandError,
    confirm,
    open_existing,
    print_json,
    print_table,
    record_to_json,
    shown_url,
)

__all__ = ["KNOWN_NAMESPACES", "cmd_drop", "cmd_info", "cmd_inspect", "cmd_ls", "describe"]

#: Chat namespaces listed by default: the Store's default and those of the
#: LangChain (``BrunoChatMessageHistory``) and LlamaIndex (``BrunoChatStore``) adapters.
KNOWN_NAMESPACES = (DEFAULT_NAMESPACE, "langchain", "llama_index")
KV_NOTE = (
    "key-value collections cannot be listed through the Store API; "
    "inspect one by name: bruno-memory inspect URL --kv NAME"
)


def _collections(store: Store) -> list[dict[str, Any]]:
    out = []
    for name in store.list_collections():
        info = store.collection_info(name)
        out.append(
            {
                "name": name,
                "count": store.count(name),
                "dimension": info.dimension if info else None,
                "metric": info.metric if info else None,
                "embedding_model": info.embedding_model if info else None,
            }
        )
    return out


def _sessions(store: Store, namespaces: list[str]) -> dict[str, list[str]] | None:
    if not store.capabilities.chat:
        return None
    return {ns: store.list_sessions(namespace=ns) for ns in namespaces}


def _kv(store: Store, names: list[str]) -> list[dict[str, Any]] | None:
    if not store.capabilities.kv:
        return None
    return [{"name": n, "keys": len(store.kv_keys(n))} for n in names]


def describe(store: Store, url: str, namespaces: list[str], kv: list[str]) -> dict[str, Any]:
    """What ``info --json`` prints: backend, capabilities, collections, sessions, kv."""
    return {
        "url": shown_url(url),
        "backend": store.backend_name,
        "capabilities": store.capabilities.as_dict(),
        "collections": _collections(store),
        "chat_sessions": _sessions(store, namespaces),
        "kv_collections": _kv(store, kv),
        "notes": [KV_NOTE] if not kv else [],
    }


def _print_contents(data: dict[str, Any]) -> None:
    cols = data["collections"]
    print(f"vector collections ({len(cols)}):")
    if cols:
        print_table(
            ["NAME", "RECORDS", "DIM", "METRIC", "MODEL"],
            [
                [c["name"], c["count"], c["dimension"], c["metric"], c["embedding_model"] or "-"]
                for c in cols
            ],
        )
    sessions = data["chat_sessions"]
    if sessions is None:
        print("chat sessions: this backend does not store chat messages")
    else:
        print("chat sessions (by namespace):")
        for ns, ids in sessions.items():
            shown = ", ".join(ids) if ids else "(none)"
            print(f"  {ns}: {shown}")
    kv = data["kv_collections"]
    if kv is None:
        print("key-value collections: this backend does not store key-value items")
    elif kv:
        print("key-value collections:")
        print_table(["NAME", "KEYS"], [[k["name"], k["keys"]] for k in kv])
    for note in data["notes"]:
        print(f"note: {note}")


def _namespaces(args: argparse.Namespace) -> list[str]:
    return list(dict.fromkeys(args.namespace)) if args.namespace else list(KNOWN_NAMESPACES)


def cmd_ls(args: argparse.Namespace) -> int:
    """Collections with count, dimension, metric and model; chat sessions."""
    with open_existing(args.url) as store:
        data = describe(store, args.url, _namespaces(args), args.kv or [])
    if args.json:
        data.pop("capabilities")
        print_json(data)
    else:
        _print_contents(data)
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    """What ``ls`` shows, after the backend and its capabilities."""
    with open_existing(args.url) as store:
        data = describe(store, args.url, _namespaces(args), args.kv or [])
    if args.json:
        print_json(data)
        return 0
    caps = data["capabilities"]
    flags = [k for k, v in caps.items() if v is True]
    print(f"store        : {data['url']}")
    print(f"backend      : {data['backend']}")
    print(f"capabilities : {', '.join(flags) or '-'}; metrics: {', '.join(caps['metrics'])}")
    _print_contents(data)
    return 0


def _parse_filter(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CommandError(
            f"--filter is not JSON ({exc.msg} at column {exc.colno}); "
            """write it like '{"topic": {"$in": ["a", "b"]}}' (see docs/filters.md)"""
        ) from None
    if not isinstance(value, dict):
        raise CommandError(f"--filter must be a JSON object, got {type(value).__name__}")
    return value


def _require_collection(store: Store, name: str) -> None:
    if store.collection_info(name) is None:
        known = ", ".join(store.list_collections()) or "none"
        raise CommandError(f"no vector collection {name!r} in this store (collections: {known})")


def _clip(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if width <= 0 or len(text) <= width else text[: width - 1] + "…"


def _inspect_records(store: Store, args: argparse.Namespace) -> int:
    name = args.collection
    _require_collection(store, name)
    flt = _parse_filter(args.filter)
    if args.id:
        from ..filters import matches

        found = store.get(name, args.id, include_vectors=args.vectors)
        records = [r for r in found if flt is None or matches(flt, r.metadata)]
        total = len(records)
        missing = [i for i in args.id if i not in {r.id for r in found}]
    else:
        total = store.count(name, filter=flt)
        page = store.scan(name, filter=flt, limit=args.limit, include_vectors=args.vectors)
        records, missing = page.records, []
    if args.json:
        print_json(
            {
                "collection": name,
                "matched": total,
                "records": [record_to_json(r, vectors=args.vectors) for r in records],
                "missing_ids": missing,
            }
        )
        return 0
    for r in records:
        print(f"{r.id}")
        print(f"  text     : {_clip(r.text, args.width)}")
        print(f"  metadata : {json.dumps(r.metadata, ensure_ascii=False, sort_keys=True)}")
        if args.vectors and r.vector is not None:
            head = ", ".join(f"{x:.4f}" for x in r.vector[:4])
            print(f"  vector   : [{head}{', …' if len(r.vector) > 4 else ''}] ({len(r.vector)})")
    shown = f"{len(records)} of {total}" if total > len(records) else f"{len(records)}"
    print(f"-- {shown} record(s) in {name!r}", file=sys.stderr)
    if missing:
        print(f"-- not found: {', '.join(missing)}", file=sys.stderr)
    return 0


def _inspect_session(store: Store, args: argparse.Namespace) -> int:
    ns = args.namespace[0] if args.namespace else DEFAULT_NAMESPACE
    messages = store.get_messages(args.session, namespace=ns)
    if args.json:
        print_json({"namespace": ns, "session": args.session, "messages": messages})
        return 0
    for m in messages:
        print(json.dumps(m, ensure_ascii=False, sort_keys=True))
    print(f"-- {len(messages)} message(s) in session {args.session!r} ({ns})", file=sys.stderr)
    return 0


def _inspect_kv(store: Store, args: argparse.Namespace) -> int:
    name = args.kv[0]
    keys = store.kv_keys(name, prefix=args.prefix)
    if args.json:
        print_json({"collection": name, "keys": keys})
        return 0
    for key in keys:
        print(key)
    print(f"-- {len(keys)} key(s) in key-value collection {name!r}", file=sys.stderr)
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    """Records of a collection (by id or filter), a chat session, or a kv collection's keys."""
    chosen = [bool(args.collection), bool(args.session), bool(args.kv)]
    if sum(chosen) != 1:
        raise CommandError(
            "inspect takes one of: a COLLECTION name, --session ID or --kv NAME"
        )
    if args.kv and len(args.kv) > 1:
        raise CommandError("inspect takes one --kv NAME at a time")
    with open_existing(args.url) as store:
        if args.collection:
            return _inspect_records(store, args)
        if args.session:
            return _inspect_session(store, args)
        return _inspect_kv(store, args)


def cmd_drop(args: argparse.Namespace) -> int:
    """Delete a vector collection and all its records, after confirmation."""
    with open_existing(args.url) as store:
        name = args.collection
        _require_collection(store, name)
        count = store.count(name)
        if not args.yes:
            if not sys.stdin.isatty():
                raise CommandError(
                    f"dropping {name!r} ({count} records) needs confirmation: "
                    "run it in a terminal, or pass --yes"
                )
            question = (
                f"Drop collection {name!r} with {count} records from {shown_url(args.url)}? "
                "This cannot be undone."
            )
            if not confirm(question):
                raise CommandError(f"not dropped: {name!r} is unchanged")
        store.drop_collection(name)
    if args.json:
        print_json({"dropped": name, "records": count})
    else:
        print(f"dropped collection {name!r} ({count} records)")
    return 0
