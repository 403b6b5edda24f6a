"""The PostgreSQL boundary of the layers: psycopg connections and exception translation."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import psycopg
from psycopg import errors as pg_errors

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


@contextlib.contextmanager
def connect(conninfo: str, what: str, **context: object) -> Iterator[psycopg.Connection]:
    with translated(what, **context), psycopg.connect(conninfo, connect_timeout=10) as connection:
        yield connection
