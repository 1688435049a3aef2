"""Fallback between stores (see :mod:`.backend` for the consistency rules)."""

from .backend import FallbackBackend, MemberStatus, create_with_fallback

__all__ = ["FallbackBackend", "MemberStatus", "create_with_fallback"]
