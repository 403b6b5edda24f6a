"""Progress and cancellation of one execution: the ``progress`` query while it runs, a Temporal cancel ends it."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus

from etl_orchestrator.service.executions import trigger_execution
from tests.orchestration.helpers import (
    execution_row,
    gold_counts,
    principal_of,
    scoped_tenant,
    wait_execution,
    wait_until,
)
from tests.sandbox.scripting import SandboxScope

DAY = date(2024, 8, 5)


async def test_cancelling_an_execution_stops_it_marks_it_cancelled_and_loads_no_gold(
        stack, service, temporal_client, dsp_sandbox, advertiser):
    scope = SandboxScope.fresh(dsp_sandbox)
    await scope.script(report_delay_s=60)  # the report stays RUNNING: the ingestion waits on durable timers
    tenant = await scoped_tenant(stack.settings.database.url, scope, advertiser["advertiserId"])
    triggered = await trigger_execution(service, principal_of(tenant), pipeline_id=UUID(tenant.pipeline_id),
                                        start=DAY, end=DAY)
    row = await wait_execution(service.engine, triggered.execution_id, statuses=("running",))
    etl = temporal_client.get_workflow_handle(row["workflow_id"])

    async def in_bronze():
        progress = await etl.query("progress")
        return progress if progress["partitions"].get(DAY.isoformat()) == "bronze" else None

    progress = await wait_until(in_bronze, timeout_s=15, what="the partition in bronze")
    assert progress["status"] == "running" and progress["total"] == 1 and progress["done"] == 0
    ingestion = temporal_client.get_workflow_handle(f"ingest:{triggered.execution_id}:{DAY}")

    async def waiting_for_report():
        return (await ingestion.query("progress"))["state"].startswith("waiting for report")

    await wait_until(waiting_for_report, timeout_s=15, what="the ingestion waiting for the report")
    # The layer's state is already in PostgreSQL while it runs.
    assert (await execution_row(service.engine, triggered.execution_id))["result"]["layers"]["bronze"][
        "status"] == "running"

    await etl.cancel()
    cancelled = await wait_execution(service.engine, triggered.execution_id, timeout_s=20)
    await scope.forget()
    assert cancelled["status"] == "cancelled"
    assert (await etl.describe()).status is WorkflowExecutionStatus.CANCELED
    assert (await ingestion.describe()).status is WorkflowExecutionStatus.CANCELED
    # Nothing ran after the cancel: no download, and no second run_partition (Silver and Gold).
    assert not await activities_scheduled(ingestion, "ingest_to_bronze")
    assert await activities_scheduled(etl, "run_partition") == ["run_partition"]
    layers = (await execution_row(service.engine, triggered.execution_id))["result"]["partitions"][DAY.isoformat()]
    assert "silver" not in layers and "gold" not in layers
    assert DAY not in gold_counts(stack.settings.database.url, tenant.pipeline_id)


async def activities_scheduled(handle, *names: str) -> list[str]:
    return [event.activity_task_scheduled_event_attributes.activity_type.name
            async for event in handle.fetch_history_events()
            if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
            and event.activity_task_scheduled_event_attributes.activity_type.name in names]
