"""Errors the service layer adds to the domain taxonomy, and the one mapping of infrastructure
exceptions (SQLAlchemy/psycopg, Temporal RPC) that escaped an operation onto that taxonomy.

Both adapters use ``as_domain_error`` at their boundary, so REST and gRPC answer the same thing:
a unique violation is a conflict, a value PostgreSQL refuses is invalid input, an unreachable
database or Temporal is transient. Anything else is a bug and stays a 500 / INTERNAL.
"""

from __future__ import annotations

import psycopg
from psycopg_pool import PoolTimeout
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from temporalio.service import RPCError, RPCStatusCode

from etl_orchestrator.domain.errors import (
    ConflictError,
    EtlError,
    NetworkError,
    NotFoundError,
    ValidationFailed,
)
from etl_orchestrator.service.context import Principal

# What ``as_domain_error`` knows how to read: adapters register their handlers for exactly these.
INFRASTRUCTURE_ERRORS: tuple[type[Exception], ...] = (DBAPIError, psycopg.Error, PoolTimeoutError, PoolTimeout,
                                                      RPCError)


class AlreadyExists(ConflictError):
    """A create or rename collides with an existing record's unique name (409; gRPC ALREADY_EXISTS)."""


def as_domain_error(exc: BaseException) -> EtlError | None:
    """The domain error an infrastructure exception stands for, or None when it is a bug."""
    if isinstance(exc, EtlError):
        return exc
    if isinstance(exc, DBAPIError):  # SQLAlchemy's wrapper of a psycopg error
        if exc.connection_invalidated:
            return NetworkError("the database is unavailable")
        exc = exc.orig
    if isinstance(exc, psycopg.Error):  # from SQLAlchemy, or straight from the lean pool
        if isinstance(exc, psycopg.errors.UniqueViolation):
            return AlreadyExists("a record with the same unique key already exists")
        if isinstance(exc, psycopg.DataError):
            return ValidationFailed("request", f"a value was refused by the database: {exc.sqlstate}")
        if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
            return NetworkError("the database is unavailable")
        return None
    if isinstance(exc, PoolTimeoutError | PoolTimeout):
        return NetworkError("the database is overloaded: no connection became free in time")
    if isinstance(exc, RPCError) and exc.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
        return NetworkError(f"Temporal is unavailable: {exc.message}")
    return None


def require_admin(principal: Principal) -> None:
    """Admin-only operations answer 404 to an organization's key: it must not learn they exist."""
    if not principal.is_admin:
        raise NotFoundError("not found")
