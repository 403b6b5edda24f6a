"""PostgreSQL errors leave the layers as the domain's taxonomy: retryable or not, never raw psycopg."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import errors as pg_errors

from etl_orchestrator.domain.errors import DataError, NetworkError, SourceTimeoutError
from etl_orchestrator.layers.pg import GoldDatabaseError, connect, translated


@pytest.mark.parametrize(("raised", "expected"), [
    (psycopg.OperationalError("server closed the connection"), GoldDatabaseError),
    (pg_errors.DeadlockDetected("deadlock"), GoldDatabaseError),
    (pg_errors.SerializationFailure("could not serialize"), GoldDatabaseError),
    (pg_errors.QueryCanceled("statement timeout"), SourceTimeoutError),
    (pg_errors.NumericValueOutOfRange("out of range"), DataError),
    (pg_errors.UndefinedTable("no such table"), DataError),
])
def test_psycopg_errors_become_domain_errors(raised, expected):
    with pytest.raises(expected) as caught, translated("loading gold"):
        raise raised
    assert "loading gold" in str(caught.value)


def test_an_unreachable_database_is_a_retryable_error():
    with pytest.raises(NetworkError), connect("postgresql://nobody@127.0.0.1:9/none", "loading gold"):
        pass
