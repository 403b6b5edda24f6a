"""One partition end to end, the way a user sees it: trigger over REST → completed → listing and tables agree."""

from __future__ import annotations

from datetime import date
from uuid import UUID

import httpx
import psycopg

from etl_orchestrator.domain.partition import PartitionRef
from etl_orchestrator.lake import Lake
from etl_orchestrator.lake.delta import partition_row_count
from tests.support import create_tenant, wait_for_execution

PREFIX = "/api/v1/etl"
DAY = date(2024, 12, 20)


async def test_trigger_runs_bronze_silver_gold_and_the_listing_matches_the_tables(stack, dsp_sandbox):
    tenant = await create_tenant(stack.settings.database.url,
                                 source_config={"base_url": dsp_sandbox.url, "token": dsp_sandbox.token})
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=30) as client:
        response = await client.post(PREFIX + "/trigger", headers=tenant.headers, json={
            "pipeline_id": tenant.pipeline_id,
            "parameters": {"date_range": {"start": DAY.isoformat(), "end": DAY.isoformat()}, "force": False}})
        assert response.status_code == 200, response.text
        trigger = response.json()
        assert trigger["status"] == "scheduled"
        assert set(trigger) == {"execution_id", "status", "estimated_start"}
        execution = await wait_for_execution(client, tenant, trigger["execution_id"])
        assert execution["status"] == "completed", execution

        listing = (await client.get(PREFIX + "/executions", headers=tenant.headers)).json()
        logs = (await client.get(f"{PREFIX}/executions/{trigger['execution_id']}/logs", headers=tenant.headers)).json()

    [listed] = listing["executions"]
    assert listed["id"] == trigger["execution_id"]
    assert listed["pipeline_id"] == tenant.pipeline_id
    layers = listed["layers"]
    assert {layers[name]["status"] for name in ("bronze", "silver", "gold")} == {"completed"}
    assert set(layers["bronze"]) == {"status", "records", "size_mb", "duration_ms"}
    assert set(layers["silver"]) == {"status", "records", "records_filtered", "duration_ms"}
    assert set(layers["gold"]) == {"status", "tables_updated", "duration_ms"}
    assert layers["gold"]["tables_updated"] == ["campaign_daily", "pacing_metrics"]
    assert listed["total_duration_ms"] >= 0 and listed["started_at"].endswith("Z") and listed["completed_at"]

    partition = PartitionRef(org_id=tenant.org_id, pipeline_id=UUID(tenant.pipeline_id), date=DAY)
    lake = Lake.of(stack.settings.lake.uri)
    bronze_rows = partition_row_count(lake.bronze("dv360"), partition)
    silver_rows = partition_row_count(lake.silver, partition)
    with psycopg.connect(stack.settings.database.url) as conn:
        gold_rows = conn.execute("SELECT count(*) FROM gold.campaign_daily WHERE pipeline_id = %s AND date = %s",
                                 (tenant.pipeline_id, DAY)).fetchone()[0]
    assert bronze_rows == dsp_sandbox.rows_per_day
    assert layers["bronze"]["records"] == bronze_rows
    assert layers["silver"]["records"] == silver_rows
    assert gold_rows == silver_rows > 0
    assert layers["silver"]["records"] + layers["silver"]["records_filtered"] == layers["bronze"]["records"]
    invariant = execution["partitions"][DAY.isoformat()]["invariant"]
    assert invariant["holds"] and invariant["bronze"] == bronze_rows

    messages = [line["message"] for line in logs["logs"]]
    assert "Started data ingestion from DV360" in messages
    assert f"Fetched {bronze_rows} records" in messages
    assert {"timestamp", "level", "layer", "message"} == set(logs["logs"][0])
