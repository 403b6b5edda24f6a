"""The layers' PostgreSQL boundary: errors leave as the domain's taxonomy (retryable or not, never raw
psycopg), and each thread keeps its connection between blocks, replacing one that broke."""

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


def test_a_thread_keeps_its_connection_and_replaces_one_the_server_closed(database_url):
    def backend() -> int:
        with connect(database_url, "asking the backend") as connection:
            return connection.execute("SELECT pg_backend_pid()").fetchone()[0]

    first = backend()
    assert backend() == first  # the same connection, not a new backend per block
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s, 5000)", (first,))  # returns once it has gone
    assert backend() != first  # the dead one is noticed before the block, which gets a new one


def test_a_block_that_raises_is_rolled_back_and_the_connection_stays_usable(database_url):
    with connect(database_url, "creating") as connection:  # a temporary table: this connection's own
        connection.execute("CREATE TEMP TABLE IF NOT EXISTS layer_probe (a int)")
    with pytest.raises(DataError), connect(database_url, "writing") as connection:
        connection.execute("INSERT INTO layer_probe VALUES (1)")
        connection.execute("SELECT 1/0")
    with connect(database_url, "reading") as connection:
        assert connection.execute("SELECT count(*) FROM layer_probe").fetchone()[0] == 0
