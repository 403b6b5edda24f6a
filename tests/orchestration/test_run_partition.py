"""run_partition resumes at the step after its last checkpoint: a retry never redoes a finished layer.

A retry after an attempt that finished and closed the execution (its result lost with its worker)
reports the execution as it ended, not as skipped, and loads nothing again.

The activity runs in Temporal's ``ActivityEnvironment`` with the heartbeat details an earlier attempt
left (Bronze and Silver done), against the session's PostgreSQL and a lake of its own. The pipeline's
source is an address nothing listens on, so a retry that asked the source again would fail.
"""

from __future__ import annotations

import dataclasses
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from pathlib import Path

import psycopg
from temporalio.testing import ActivityEnvironment

from etl_orchestrator.activities.contracts import BronzeOutcome, PartitionInput, SilverOutcome
from etl_orchestrator.activities.ingestion import IngestionActivities
from etl_orchestrator.activities.layers import LayerActivities
from etl_orchestrator.activities.partition import PartitionActivities
from etl_orchestrator.config import load_settings
from etl_orchestrator.domain.partition import PartitionRef
from etl_orchestrator.lake import Lake
from etl_orchestrator.layers.bronze import land_to_bronze
from etl_orchestrator.layers.silver import bronze_to_silver
from etl_orchestrator.quality.rules import default_rules
from tests.factories import write_dv360_csv
from tests.support import create_tenant

DAY = date(2026, 1, 16)
ROWS = 40


async def test_a_retry_after_silver_loads_gold_without_asking_the_source_again(database_url, tmp_path: Path):
    tenant = await create_tenant(database_url, source_config={"base_url": "http://127.0.0.1:9", "token": "t"})
    partition = PartitionRef(org_id=tenant.org_id, pipeline_id=uuid.UUID(tenant.pipeline_id), date=DAY)
    execution_id = uuid.uuid4()
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(
            "INSERT INTO etl_executions (id, pipeline_id, org_id, status, workflow_id, date_start, date_end)"
            " VALUES (%s, %s, %s, 'scheduled', %s, %s, %s)",
            (execution_id, partition.pipeline_id, partition.org_id, f"test:{execution_id}", DAY, DAY))

    # What the first attempt did before it failed: Bronze and Silver, checkpointed.
    lake = Lake(tmp_path / "lake")
    write_dv360_csv(tmp_path / "report.csv", ROWS, report_date=DAY)
    bronze = land_to_bronze(lake, partition, execution_id=execution_id, source_format="dv360",
                            raw_path=tmp_path / "report.csv", ingested_at=datetime.now(UTC))
    silver = bronze_to_silver(lake, partition, execution_id=execution_id, rules=default_rules(),
                              totals=bronze.totals, source_format="dv360")
    checkpoint = {
        "bronze": BronzeOutcome(records=bronze.records, size_bytes=bronze.size_bytes, duration_ms=1,
                                totals=bronze.totals, source_format="dv360").model_dump(mode="json"),
        "silver": SilverOutcome(records_in=silver.records_in, records=silver.records_out,
                                quarantined=silver.quarantined, duplicates_removed=silver.duplicates_removed,
                                content_hash=silver.content_hash, unchanged=False,
                                duration_ms=1).model_dump(mode="json"),
    }

    settings = load_settings(environ={"DATABASE_URL": database_url, "LAKE_URI": str(lake.root)})
    with ThreadPoolExecutor(2) as pool:
        layers = LayerActivities(settings, cpu_pool=pool, lake=lake)
        ingestion = IngestionActivities(settings, cpu_pool=pool, lake=lake, landing_dir=tmp_path / "landing",
                                        engine=layers.engine)
        activities = PartitionActivities(settings, cpu_pool=pool, ingestion=ingestion, layers=layers)
        environment = ActivityEnvironment()
        environment.info = dataclasses.replace(
            environment.info, attempt=2, workflow_id=f"test:{execution_id}",
            heartbeat_details=[{"failures": {"network": 1}, "checkpoint": checkpoint, "since_attempt": 1}])
        step = PartitionInput(execution_id=execution_id, partition=partition, sole=True)
        run = await environment.run(activities.run_partition, step)
        # The worker dies before Temporal hears of that success: the next attempt finds the execution closed.
        environment.info = dataclasses.replace(environment.info, attempt=3)
        again = await environment.run(activities.run_partition, step)
        layers.engine.dispose()

    assert run.bronze is not None and run.bronze.records == bronze.records  # restored, not fetched again
    assert run.silver is not None and run.silver.content_hash == silver.content_hash
    assert run.gold is not None and run.gold.records == silver.records_out > 0
    assert run.execution_status == "completed" and not run.recovered
    # Reported as it ended (a backfill counts it done), not as skipped, and nothing is loaded twice.
    assert (again.skipped, again.recovered, again.execution_status, again.gold) == (False, True, "completed", None)
    with psycopg.connect(database_url) as connection:
        loaded = connection.execute("SELECT count(*) FROM gold.campaign_daily WHERE pipeline_id = %s AND date = %s",
                                    (partition.pipeline_id, DAY)).fetchone()[0]
        status = connection.execute("SELECT status FROM etl_executions WHERE id = %s", (execution_id,)).fetchone()[0]
    assert loaded == silver.records_out and status == "completed"
