"""One autocommit PostgreSQL connection kept across uses by a long-running loop (relay, dispatcher).

Why not a pool or the SQLAlchemy engine: these loops issue one small statement at a time, many
times a second under load; a checkout with its ping and SQLAlchemy's async bridge cost more than
the statement. A connection that failed is dropped and the next use opens a new one.
"""

from __future__ import annotations

import contextlib

import psycopg

CONNECT_TIMEOUT_S = 5


class KeptConnection:
    """A connection opened on first use and reopened after ``drop``; not for concurrent use."""

    def __init__(self, conninfo: str, *, application_name: str) -> None:
        self.conninfo = conninfo
        self.application_name = application_name
        self._conn: psycopg.AsyncConnection | None = None

    async def get(self) -> psycopg.AsyncConnection:
        """The kept connection, (re)opened if needed; raises psycopg's error when the server is unreachable."""
        if self._conn is None or self._conn.closed:
            self._conn = await psycopg.AsyncConnection.connect(
                self.conninfo, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S,
                application_name=self.application_name)
        return self._conn

    async def drop(self) -> None:
        """Close and forget the connection (after a failure, or when done)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()
