"""PostgreSQL + pgvector backend (``postgresql://``, ``postgres://``, ``postgresql+psycopg://``).

Needs ``psycopg`` 3 and ``psycopg_pool`` (``pip install 'bruno-memory-integrations[postgres]'``)
and a server with the pgvector extension. See docs/backends/postgres.md.
"""

from .backend import PostgresBackend

__all__ = ["PostgresBackend"]
