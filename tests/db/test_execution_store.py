"""The status transactions of a one-day execution, against the session's PostgreSQL.

A one-day execution is opened together with its Bronze start, and closed in Gold's transaction; each
state change and its events commit together, and the outbox wakes the relay on commit (its trigger).
"""

from __future__ import annotations

import uuid
from datetime import date

import psycopg

from etl_orchestrator.db import execution_store as store
from etl_orchestrator.db.engine import sync_engine
from etl_orchestrator.db.execution_store import LogLine
from etl_orchestrator.domain.enums import Layer, LayerStatus
from tests.support import create_tenant

DAY = date(2026, 2, 3)


async def new_execution(database_url: str) -> uuid.UUID:
    tenant = await create_tenant(database_url, source_config={"base_url": "http://127.0.0.1:9", "token": "t"})
    execution_id = uuid.uuid4()
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(
            "INSERT INTO etl_executions (id, pipeline_id, org_id, status, workflow_id, date_start, date_end)"
            " VALUES (%s, %s, %s, 'scheduled', %s, %s, %s)",
            (execution_id, uuid.UUID(tenant.pipeline_id), tenant.org_id, f"test:{execution_id}", DAY, DAY))
    return execution_id


def bronze_start(execution_id: uuid.UUID) -> dict:
    return {"partition_date": DAY, "layer": Layer.BRONZE, "outcome": {"status": LayerStatus.RUNNING.value},
            "logs": [LogLine("info", "Started data ingestion from DV360")],
            "ledger": {"status": "running", "last_execution_id": execution_id}}


async def test_opening_with_the_first_layer_writes_both_once_even_when_retried(database_url):
    execution_id = await new_execution(database_url)
    engine = sync_engine(database_url, pool_size=1)
    try:
        for _ in range(2):  # a retried activity opens again
            assert store.begin_execution(engine, execution_id, workflow_id=f"test:{execution_id}", run_id="r",
                                         starting=bronze_start(execution_id)) is None
    finally:
        engine.dispose()
    with psycopg.connect(database_url) as connection:
        status, result = connection.execute("SELECT status, result FROM etl_executions WHERE id = %s",
                                            (execution_id,)).fetchone()
        logs = [row[0] for row in connection.execute(
            "SELECT message FROM execution_logs WHERE execution_id = %s ORDER BY id", (execution_id,))]
        started = connection.execute("SELECT count(*) FROM event_outbox WHERE execution_id = %s"
                                     " AND event_type = 'execution.started'", (execution_id,)).fetchone()[0]
    assert status == "running" and result["run_id"] == "r"
    assert result["partitions"][DAY.isoformat()]["bronze"] == {"status": "running"}
    assert logs == [f"Execution started for {DAY}", "Started data ingestion from DV360",
                    "Started data ingestion from DV360"]
    assert started == 1


async def test_closing_in_the_last_layers_transaction_completes_and_wakes_the_relay(database_url):
    execution_id = await new_execution(database_url)
    engine = sync_engine(database_url, pool_size=1)
    with psycopg.connect(database_url, autocommit=True) as listener:
        listener.execute("LISTEN etl_outbox")
        try:
            store.begin_execution(engine, execution_id, workflow_id=f"test:{execution_id}", run_id=None,
                                  starting=bronze_start(execution_id))
            closed = store.record_layer(engine, execution_id, partition_date=DAY, layer=Layer.GOLD,
                                        outcome={"status": LayerStatus.COMPLETED.value, "records": 3},
                                        close=True)
            # Opened again after the close (a retry whose first attempt finished): its final status.
            reopened = store.begin_execution(engine, execution_id, workflow_id=f"test:{execution_id}", run_id=None)
        finally:
            engine.dispose()
        notices = list(listener.notifies(timeout=2))
    assert closed is not None and closed.status == "completed" and closed.changed
    assert reopened == "completed"
    # One wake-up per committed transaction: the close's two events fold into one notification.
    assert [notice.channel for notice in notices] == ["etl_outbox", "etl_outbox"]
    with psycopg.connect(database_url) as connection:
        status, layer = connection.execute("SELECT status, layer FROM etl_executions WHERE id = %s",
                                           (execution_id,)).fetchone()
        events = [row[0] for row in connection.execute(
            "SELECT event_type FROM event_outbox WHERE execution_id = %s ORDER BY id", (execution_id,))]
    assert (status, layer) == ("completed", None)
    assert events == ["execution.started", "layer.completed", "execution.completed"]


async def test_a_failure_without_a_layer_is_recorded_on_the_first_layer_left_unfinished(database_url):
    execution_id = await new_execution(database_url)
    engine = sync_engine(database_url, pool_size=1)
    try:
        store.begin_execution(engine, execution_id, workflow_id=f"test:{execution_id}", run_id=None,
                              starting=bronze_start(execution_id))
        store.record_layer(engine, execution_id, partition_date=DAY, layer=Layer.BRONZE,
                           outcome={"status": LayerStatus.COMPLETED.value, "records": 3}, then=Layer.SILVER)
        layer = store.record_partition_failure(engine, execution_id, partition_date=DAY, error="boom")
    finally:
        engine.dispose()
    assert layer is Layer.SILVER
    with psycopg.connect(database_url) as connection:
        result = connection.execute("SELECT result FROM etl_executions WHERE id = %s", (execution_id,)).fetchone()[0]
        ledger = connection.execute("SELECT status FROM partitions WHERE last_execution_id = %s",
                                    (execution_id,)).fetchone()[0]
    entry = result["partitions"][DAY.isoformat()]
    assert entry["bronze"]["status"] == "completed"
    assert entry["silver"] == {"status": "failed", "error": "boom"}
    assert ledger == "failed"
