"""The PostgreSQL boundary of the layers: psycopg connections and exception translation."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import psycopg
from psycopg import errors as pg_errors
from psycopg_pool import ConnectionPool

from etl_orchestrator.domain.errors import DataError, NetworkError, SourceTimeoutError


class GoldDatabaseError(NetworkError):
    """PostgreSQL failed in a way a retry may fix (connection lost, deadlock, serialization)."""


@contextlib.contextmanager
def translated(what: str, **context: object) -> Iterator[None]:
    """Re-raise psycopg errors as domain errors naming what was being done."""
    try:
        yield
    except pg_errors.QueryCanceled as exc:
        raise SourceTimeoutError(f"{what}: PostgreSQL cancelled the statement: {exc}", **context) from exc
    except (pg_errors.DataException, pg_errors.IntegrityError) as exc:
        raise DataError(f"{what}: PostgreSQL rejected the data: {exc}", **context) from exc
    except psycopg.OperationalError as exc:  # includes class 40 (deadlock, serialization failure)
        raise GoldDatabaseError(f"{what}: {exc}", **context) from exc
    except psycopg.Error as exc:
        # Programming errors (missing table, bad SQL) are bugs or an unmigrated database: retrying cannot help.
        raise DataError(f"{what}: {exc}", **context) from exc


_threads = threading.local()


@contextlib.contextmanager
def connect(conninfo: str, what: str, **context: object) -> Iterator[psycopg.Connection]:
    """This thread's connection to ``conninfo``: committed when the block ends, rolled back if it raises.

    The connection stays open for the thread's next block. Layers run on a fixed pool of threads,
    so that is a bounded number of connections, and it saves what a new one costs per Gold load
    (a forked backend and a cold catalog cache: several ms, three or four times per partition).
    A kept connection is pinged first (one empty round trip): one the server closed meanwhile (a
    restart, an idle timeout) is replaced before the block, not discovered by its first statement.
    """
    with translated(what, **context):
        connections: dict[str, psycopg.Connection] = _threads.__dict__.setdefault("connections", {})
        connection = connections.get(conninfo)
        if connection is not None and not _alive(connection):
            connections.pop(conninfo, None)
            connection = None
        if connection is None:
            connection = connections[conninfo] = psycopg.connect(conninfo, connect_timeout=10)
        try:
            yield connection
        except BaseException:
            _settle(connections, conninfo, connection, commit=False)
            raise
        _settle(connections, conninfo, connection, commit=True)


def _alive(connection: psycopg.Connection) -> bool:
    if connection.closed or connection.broken:
        return False
    try:
        ConnectionPool.check_connection(connection)  # an empty query outside any transaction
    except psycopg.Error:
        connection.close()
        return False
    return True


def _settle(connections: dict[str, psycopg.Connection], conninfo: str, connection: psycopg.Connection, *,
            commit: bool) -> None:
    """End the block's transaction; forget the connection if it is broken (or breaks now)."""
    try:
        if commit:
            connection.commit()
        else:
            connection.rollback()
    except psycopg.OperationalError:
        if commit:  # the block's work may be lost: the caller must know (a retryable error)
            raise
    finally:
        if connection.broken or connection.closed:
            connections.pop(conninfo, None)
            connection.close()
