"""Conventions both framework adapters share, so each sees the other's records.

A LangChain ``Document`` and a LlamaIndex ``TextNode`` both become a
:class:`~bruno_memory_integrations.Record`: id, text, vector and the user's
metadata as given. What only one framework needs (a node's ``ref_doc_id`` and
relationships) goes into metadata keys starting with :data:`RESERVED_PREFIX`;
both adapters hide those keys from the user's view, and filters can use them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["REF_DOC_KEY", "NODE_KEY", "RESERVED_PREFIX", "is_reserved", "user_metadata"]

RESERVED_PREFIX = "_bruno_"
#: The LlamaIndex source-document id of a node (filterable; used by delete(ref_doc_id)).
REF_DOC_KEY = "_bruno_ref_doc_id"
#: A JSON string with what else a LlamaIndex node carries (type, relationships, ...).
NODE_KEY = "_bruno_node"


def is_reserved(key: str) -> bool:
    return key.startswith(RESERVED_PREFIX)


def user_metadata(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """The metadata a user wrote, without the adapters' reserved keys."""
    return {k: v for k, v in metadata.items() if not is_reserved(k)}
